"""Festival boost traffic (双倍助力流量): while a festival runs (from its warm-up to the end of
its main window), a shop with an approved registration has its own room's traffic value
multiplied by :data:`FESTIVAL_BOOST`, and so has the product card of each registered SKU's
product. The daily traffic plan multiplies these into its trust multipliers
(``traffic/plan/service.py``).

The boost is also a promise, kept in the campaign's ledger (:class:`CampaignBoost`): each
festival day a boosted shop is promised the reward impressions its own traffic was bringing
it (:data:`BOOST_HISTORY_DAYS`), once more, and the rewards it earned (:func:`rewards`),
within the campaign's traffic budget. The daily plan guarantees them to the shop's room; the
simulator's feed delivers them as reward traffic of the campaign's plan (:func:`reward_plan`),
and the ledger reconciles delivered against promised (``traffic/festival.py``, which reads the
impressions log).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from trustflow.campaigns.models import Campaign, CampaignRegistration, RegistrationStatus
from trustflow.catalog.models import Sku

__all__ = [
    "BOOST_HISTORY_DAYS",
    "FAN_REWARD_CAP",
    "FAN_REWARD_PER_FOLLOWER",
    "FESTIVAL_BOOST",
    "LIVE_REWARD",
    "REGISTRATION_REWARD",
    "Rewards",
    "festival_boosts",
    "reward_plan",
    "rewards",
]

#: "doubled boost traffic": the multiplier on a registered shop's room and product cards
FESTIVAL_BOOST = 2.0
#: A boosted shop is promised, each festival day, (FESTIVAL_BOOST − 1) × its organic
#: impressions per day over this many days before (its traffic, once more), within the
#: campaign's traffic budget.
BOOST_HISTORY_DAYS = 7


#: Rewards a boosted shop earns, promised as impressions on top of the boost (报名 / 开播 /
#: 涨粉奖励): registering (on the festival's first warm-up day), going live the day before,
REGISTRATION_REWARD = 2_000
LIVE_REWARD = 1_000
#: and each follower gained the day before, up to a cap a day.
FAN_REWARD_PER_FOLLOWER = 50
FAN_REWARD_CAP = 5_000


@dataclass(frozen=True)
class Rewards:
    """What one shop earned for one festival day, in impressions."""

    registration: int
    live: int
    fans: int

    @property
    def total(self) -> int:
        return self.registration + self.live + self.fans


def rewards(*, first_day: bool, went_live: bool, new_followers: int) -> Rewards:
    """A boosted shop's rewards for a festival day, from what it did (the rules above)."""
    return Rewards(
        registration=REGISTRATION_REWARD if first_day else 0,
        live=LIVE_REWARD if went_live else 0,
        fans=min(max(new_followers, 0) * FAN_REWARD_PER_FOLLOWER, FAN_REWARD_CAP),
    )


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
