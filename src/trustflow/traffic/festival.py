"""A festival's boost traffic as promises (双倍助力流量): the ledger's two named actions,
:func:`promise_boosts` and :func:`reconcile_boosts` (the rules: :mod:`trustflow.campaigns.boosts`).

Both read the impressions log, which is why they live in traffic: campaigns sit below it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from trustflow.accounts.models import Follow
from trustflow.bulk import table
from trustflow.campaigns import boosts, rules
from trustflow.campaigns.models import Campaign, CampaignBoost
from trustflow.content.models import LiveSession
from trustflow.db import utcnow
from trustflow.errors import NotFound
from trustflow.traffic.chuanliu.facts import check_day, midnight
from trustflow.traffic.service import impressions_by_owner

__all__ = [
    "BoostDay",
    "promise_boosts",
    "promise_running",
    "reconcile_boosts",
    "reconcile_running",
]

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
    """Write ``day``'s promises of the campaign, one row per boosted shop, in one statement:

    - the rewards it earned (:func:`~trustflow.campaigns.boosts.rewards`): registering, on
      the festival's first warm-up day; going live the day before; the followers it gained
      the day before;
    - the boost: its organic impressions per day over the
      :data:`~trustflow.campaigns.boosts.BOOST_HISTORY_DAYS` before ``day``, times
      ``FESTIVAL_BOOST − 1``.

    Within what is left of the campaign's traffic budget, rewards first (they were earned):
    what would pass it is scaled down in whole impressions (largest remainder). Idempotent: a
    day already promised keeps its promises."""
    check_day(day)
    # the campaign's row, locked: two promisers never both spend the same remainder
    campaign = session.scalar(select(Campaign).where(Campaign.id == campaign_id).with_for_update())
    if campaign is None:
        raise NotFound(f"campaign {campaign_id} not found")
    shops, _ = boosts.festival_boosts(session, day, campaign_id=campaign_id)
    # a shop promised the day already keeps its promise (approved since: promised now)
    shops -= set(
        session.scalars(
            select(_boosts.c.shop_id).where(
                _boosts.c.campaign_id == campaign_id, _boosts.c.day == day
            )
        )
    )
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
    went_live, followers = _yesterday(session, ids, end)
    first_day = day == campaign.warmup_from.astimezone(UTC).date()
    earned = [
        boosts.rewards(
            first_day=first_day, went_live=s in went_live, new_followers=followers.get(s, 0)
        )
        for s in ids
    ]
    promised_so_far = session.scalar(  # every day's, this one's and later ones' included
        select(func.coalesce(func.sum(_boosts.c.promised_impressions), 0)).where(
            _boosts.c.campaign_id == campaign_id
        )
    )
    left = max(campaign.traffic_budget - int(promised_so_far or 0), 0)
    parts = {
        "registration_impressions": [r.registration for r in earned],
        "live_impressions": [r.live for r in earned],
        "fan_impressions": [r.fans for r in earned],
    }
    for name, amounts in parts.items():  # rewards first, in this order, while the budget lasts
        parts[name] = _within(amounts, left)
        left -= sum(parts[name])
    boost = _within(expected, left)
    now = utcnow()
    rows = [
        {
            "campaign_id": campaign_id,
            "day": day,
            "shop_id": shop,
            "promised_impressions": boost[i] + sum(p[i] for p in parts.values()),
            **{name: amounts[i] for name, amounts in parts.items()},
            "delivered_impressions": 0,
            "updated_at": now,
        }
        for i, shop in enumerate(ids)
    ]
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        insert(_boosts).on_conflict_do_nothing(index_elements=["campaign_id", "day", "shop_id"]),
        rows,
    )
    return _totals(session, campaign_id, day)


def _within(amounts: list[int], room: int) -> list[int]:
    """``amounts``, scaled down in whole impressions (largest remainder) to fit ``room``."""
    if sum(amounts) <= room:
        return amounts
    return rules.split(room, amounts)


def _yesterday(
    session: Session, shops: list[int], midnight_: datetime
) -> tuple[set[int], dict[int, int]]:
    """Of ``shops``: which went live in the day before ``midnight_``, and how many followers
    each gained in it."""
    start = midnight_ - timedelta(days=1)
    live = set(
        session.scalars(
            select(LiveSession.shop_id)
            .where(
                LiveSession.shop_id.in_(shops),
                LiveSession.started_at >= start,
                LiveSession.started_at < midnight_,
            )
            .distinct()
        )
    )
    followers = {
        int(shop or 0): int(n)
        for shop, n in session.execute(
            select(Follow.shop_id, func.count())
            .where(
                Follow.shop_id.in_(shops),
                Follow.created_at >= start,
                Follow.created_at < midnight_,
            )
            .group_by(Follow.shop_id)
        )
    }
    return {int(s) for s in live if s is not None}, followers


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


def reconcile_running(session: Session, day: date) -> list[tuple[int, BoostDay]]:
    """Reconcile ``day`` for every campaign that promised anything on it (the nightly job,
    ``trustflow campaigns reconcile``): ``(campaign, its day)`` each, by campaign."""
    check_day(day)
    campaigns = session.scalars(
        select(_boosts.c.campaign_id).where(_boosts.c.day == day).distinct()
    ).all()
    return [(int(c), reconcile_boosts(session, int(c), day)) for c in sorted(campaigns)]


def promise_running(session: Session, day: date) -> list[tuple[int, int, int]]:
    """Promise ``day`` for every campaign running on it (warm-up to the end of the main
    window), and return what each campaign promised each shop: ``(shop, campaign, promised)``,
    by shop and campaign. The day's traffic plan puts them on the shop's room, served as the
    campaign's reward traffic."""
    start = midnight(day)
    running = session.scalars(
        select(Campaign.id).where(
            Campaign.warmup_from < start + timedelta(days=1), Campaign.main_to > start
        )
    ).all()
    for campaign_id in running:
        promise_boosts(session, campaign_id, day)
    return [
        (int(shop), int(campaign), int(promised))
        for shop, campaign, promised in session.execute(
            select(_boosts.c.shop_id, _boosts.c.campaign_id, _boosts.c.promised_impressions)
            .where(_boosts.c.day == day, _boosts.c.promised_impressions > 0)
            .order_by(_boosts.c.shop_id, _boosts.c.campaign_id)
        )
    ]
