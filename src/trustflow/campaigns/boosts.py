"""Festival boost traffic (双倍助力流量): while a festival runs (from its warm-up to the end of
its main window), a shop with an approved registration has its own room's traffic value
multiplied by :data:`FESTIVAL_BOOST`, and so has the product card of each registered SKU's
product. The daily traffic plan multiplies these into its trust multipliers
(``traffic/plan/service.py``); a boost is a weight on value, not a promise of impressions.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from trustflow.campaigns.models import Campaign, CampaignRegistration, RegistrationStatus
from trustflow.catalog.models import Sku

__all__ = ["FESTIVAL_BOOST", "festival_boosts"]

#: "doubled boost traffic": the multiplier on a registered shop's room and product cards
FESTIVAL_BOOST = 2.0


def festival_boosts(session: Session, day: date) -> tuple[set[int], set[int]]:
    """The shops and the products boosted on ``day``: those of approved registrations in a
    festival whose warm-up or main window overlaps the day."""
    start = datetime.combine(day, time(), tzinfo=UTC)
    end = start + timedelta(days=1)
    rows = session.execute(
        select(CampaignRegistration.shop_id, Sku.product_id)
        .join(Campaign, Campaign.id == CampaignRegistration.campaign_id)
        .join(Sku, Sku.id == CampaignRegistration.sku_id)
        .where(
            CampaignRegistration.status == RegistrationStatus.APPROVED,
            Campaign.warmup_from < end,
            Campaign.main_to > start,
        )
    ).all()
    return {int(r[0]) for r in rows}, {int(r[1]) for r in rows}
