"""Festival boost traffic (双倍助力流量): while a festival runs (from its warm-up to the end of
its main window), a shop with an approved registration has its own room's traffic value
multiplied by :data:`FESTIVAL_BOOST`, and so has the product card of each registered SKU's
product. The daily traffic plan multiplies these into its trust multipliers
(``traffic/plan/service.py``).

The boost is also a promise, kept in the campaign's ledger (:class:`CampaignBoost`): each
festival day a boosted shop is promised the reward impressions its own traffic was bringing
it (:data:`BOOST_HISTORY_DAYS`), once more, within the campaign's traffic budget; feed serving
delivers them as reward traffic of the campaign's plan (:func:`reward_plan`), and the ledger
reconciles delivered against promised (``traffic/festival.py``, which reads the impressions
log).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from trustflow.campaigns.models import Campaign, CampaignRegistration, RegistrationStatus
from trustflow.catalog.models import Sku

__all__ = ["BOOST_HISTORY_DAYS", "FESTIVAL_BOOST", "festival_boosts", "reward_plan"]

#: "doubled boost traffic": the multiplier on a registered shop's room and product cards
FESTIVAL_BOOST = 2.0
#: A boosted shop is promised, each festival day, (FESTIVAL_BOOST − 1) × its organic
#: impressions per day over this many days before (its traffic, once more), within the
#: campaign's traffic budget.
BOOST_HISTORY_DAYS = 7


def reward_plan(campaign_id: int) -> str:
    """The impressions log's ``reward_plan`` of a campaign's boost traffic."""
    return f"festival:{campaign_id}"


def festival_boosts(
    session: Session, day: date, *, campaign_id: int | None = None
) -> tuple[set[int], set[int]]:
    """The shops and the products boosted on ``day``: those of approved registrations in a
    festival (``campaign_id``'s, or any) whose warm-up or main window overlaps the day."""
    start = datetime.combine(day, time(), tzinfo=UTC)
    end = start + timedelta(days=1)
    stmt = (
        select(CampaignRegistration.shop_id, Sku.product_id)
        .join(Campaign, Campaign.id == CampaignRegistration.campaign_id)
        .join(Sku, Sku.id == CampaignRegistration.sku_id)
        .where(
            CampaignRegistration.status == RegistrationStatus.APPROVED,
            Campaign.warmup_from < end,
            Campaign.main_to > start,
        )
    )
    if campaign_id is not None:
        stmt = stmt.where(Campaign.id == campaign_id)
    rows = session.execute(stmt).all()
    return {int(r[0]) for r in rows}, {int(r[1]) for r in rows}
