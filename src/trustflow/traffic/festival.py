"""A festival's boost traffic as promises (双倍助力流量): the ledger's two named actions,
:func:`promise_boosts` and :func:`reconcile_boosts` (the rules: :mod:`trustflow.campaigns.boosts`).

Both read the impressions log, which is why they live in traffic: campaigns sit below it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from trustflow.bulk import table
from trustflow.campaigns import boosts, rules
from trustflow.campaigns.models import Campaign, CampaignBoost
from trustflow.db import get_or_raise, utcnow
from trustflow.traffic.chuanliu.facts import check_day, midnight
from trustflow.traffic.service import impressions_by_owner

__all__ = ["BoostDay", "promise_boosts", "reconcile_boosts"]

_boosts = table(CampaignBoost)


@dataclass(frozen=True)
class BoostDay:
    """A campaign's boost ledger for one day: shops promised, impressions promised and
    delivered."""

    day: date
    shops: int
    promised: int
    delivered: int


def _totals(session: Session, campaign_id: int, day: date) -> BoostDay:
    shops, promised, delivered = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(_boosts.c.promised_impressions), 0),
            func.coalesce(func.sum(_boosts.c.delivered_impressions), 0),
        ).where(_boosts.c.campaign_id == campaign_id, _boosts.c.day == day)
    ).one()
    return BoostDay(day, int(shops), int(promised), int(delivered))


def promise_boosts(session: Session, campaign_id: int, day: date) -> BoostDay:
    """Write ``day``'s boost promises of the campaign, one row per boosted shop, in one
    statement: each shop's organic impressions per day over the
    :data:`~trustflow.campaigns.boosts.BOOST_HISTORY_DAYS` before ``day``, times
    ``FESTIVAL_BOOST − 1``; scaled down in whole impressions (largest remainder) when they
    would pass what is left of the campaign's traffic budget. Idempotent: a day already
    promised keeps its promises."""
    check_day(day)
    campaign = get_or_raise(session, Campaign, campaign_id, "campaign")
    shops, _ = boosts.festival_boosts(session, day, campaign_id=campaign_id)
    if not shops:
        return _totals(session, campaign_id, day)
    end = midnight(day)
    history = impressions_by_owner(
        end - timedelta(days=boosts.BOOST_HISTORY_DAYS), end, reward_plan=None
    )
    seen: dict[int, int] = {
        int(shop): int(count)
        for shop, count in session.execute(
            select(history.c.party_id, history.c.impressions).where(
                history.c.party_kind == "shop", history.c.party_id.in_(sorted(shops))
            )
        )
    }
    ids = sorted(shops)
    expected = [
        int(seen.get(s, 0) * (boosts.FESTIVAL_BOOST - 1) // boosts.BOOST_HISTORY_DAYS) for s in ids
    ]
    promised_before = session.scalar(
        select(func.coalesce(func.sum(_boosts.c.promised_impressions), 0)).where(
            _boosts.c.campaign_id == campaign_id, _boosts.c.day < day
        )
    )
    left = max(campaign.traffic_budget - int(promised_before or 0), 0)
    if sum(expected) > left:
        expected = rules.split(left, expected) if sum(expected) else expected
    now = utcnow()
    rows = [
        {
            "campaign_id": campaign_id,
            "day": day,
            "shop_id": shop,
            "promised_impressions": amount,
            "delivered_impressions": 0,
            "updated_at": now,
        }
        for shop, amount in zip(ids, expected, strict=True)
    ]
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        insert(_boosts).on_conflict_do_nothing(index_elements=["campaign_id", "day", "shop_id"]),
        rows,
    )
    return _totals(session, campaign_id, day)


def reconcile_boosts(session: Session, campaign_id: int, day: date) -> BoostDay:
    """Set each of the day's boost promises' delivered impressions from the impressions log
    (reward impressions of the campaign's plan, per owning shop): set-based, safe to run
    again as more of the day's impressions arrive."""
    check_day(day)
    start = midnight(day)
    on_day = (_boosts.c.campaign_id == campaign_id) & (_boosts.c.day == day)
    now = utcnow()
    session.execute(update(_boosts).where(on_day).values(delivered_impressions=0, updated_at=now))
    delivered = impressions_by_owner(
        start, start + timedelta(days=1), reward_plan=boosts.reward_plan(campaign_id)
    )
    session.execute(
        update(_boosts)
        .where(
            on_day,
            delivered.c.party_kind == "shop",
            _boosts.c.shop_id == delivered.c.party_id,
        )
        .values(delivered_impressions=delivered.c.impressions, updated_at=now)
    )
    return _totals(session, campaign_id, day)
