"""The Chuanliu plan's reward pool and its split.

- :func:`daily_pool`: the day's reward impressions, scaled to this marketplace's size;
- :func:`rewards` (and :func:`plan`, everything at once): the pool split among shops and
  creators, in whole impressions that add up to the pool;
- :func:`joined_gmv`: distribution and self-broadcast GMV side by side.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import case, distinct, func, select
from sqlalchemy.orm import Session

from trustflow.bulk import table
from trustflow.catalog.models import Shop
from trustflow.config import Settings, get_settings
from trustflow.errors import InvalidInput, NotFound
from trustflow.orders.models import Order
from trustflow.scoring import gates
from trustflow.scoring.models import ScoreKind
from trustflow.traffic.chuanliu.eligibility import assess_facts, decide
from trustflow.traffic.chuanliu.facts import (
    SHELF_CHANNELS,
    as_int,
    counted_orders,
    gather,
    windows_of,
)
from trustflow.traffic.chuanliu.models import ChuanliuTier, PartyKind
from trustflow.traffic.chuanliu.rules import RULES, ChuanliuDecision, TierAssessment
from trustflow.traffic.models import Impression
from trustflow.units import yuan
from trustflow.vocabulary import Channel

__all__ = [
    "DayPlan",
    "JoinedGmv",
    "Reward",
    "daily_pool",
    "joined_gmv",
    "largest_remainder",
    "plan",
    "rewards",
]

_orders, _impressions = table(Order), table(Impression)


@dataclass(frozen=True)
class Reward:
    """Reward impressions one party earned on one plan day: its share of the day's pool.
    :func:`promise` promises earned impressions once the party's unpromised ones reach the
    minimum promise. ``weight`` is its claim on its side's pool (tier weight × store
    multiplier for a shop, distribution GMV in fen for a creator); ``basis`` says it in
    words."""

    party_kind: PartyKind
    party_id: int
    tier: ChuanliuTier | None
    weight: int
    earned_impressions: int
    basis: str


@dataclass(frozen=True)
class DayPlan:
    """Everything the plan decided for one day. ``pool − shop_pool − creator_pool`` is left
    unpromised, which happens only when no goods owner qualifies."""

    day: date
    pool: int
    shop_pool: int
    creator_pool: int
    decisions: list[ChuanliuDecision]
    assessments: list[TierAssessment]
    rewards: list[Reward]


@dataclass(frozen=True)
class JoinedGmv:
    """A goods owner's sales in the distribution window, by field, with the buyers the fields
    share: the customer group creators' distribution found, reached again by self-broadcast."""

    shop_id: int
    distribution_gmv_fen: int
    self_broadcast_gmv_fen: int
    shelf_gmv_fen: int
    distributing_creators: int
    distribution_buyers: int
    self_broadcast_buyers: int
    shared_buyers: int

    @property
    def total_gmv_fen(self) -> int:
        return self.distribution_gmv_fen + self.self_broadcast_gmv_fen + self.shelf_gmv_fen


# The pool and its split -----------------------------------------------------------------------


def daily_pool(session: Session, day: date, *, settings: Settings | None = None) -> int:
    """The reward impressions of ``day``: the yearly pool's daily share, scaled by this
    marketplace's mean daily organic impressions over the days before ``day`` against the
    reference platform's (fewer days for a marketplace younger than the basis)."""
    s = settings or get_settings()
    end = windows_of(day, s).end
    start = end - timedelta(days=RULES.pool_basis_days)
    organic = _impressions.c.is_reward.is_(False)
    first_shown = (
        select(func.min(_impressions.c.shown_at))
        .where(organic, _impressions.c.shown_at < end)
        .scalar_subquery()
    )
    shown, first = session.execute(
        select(func.coalesce(func.sum(_impressions.c.count), 0), first_shown).where(
            organic, _impressions.c.shown_at >= start, _impressions.c.shown_at < end
        )
    ).one()
    if not shown:
        return 0
    age_days: int = math.ceil((end - first) / timedelta(days=1))
    basis_days = min(RULES.pool_basis_days, max(age_days, 1))
    yearly, reference = s.chuanliu_yearly_pool_impressions, s.chuanliu_reference_daily_impressions
    return yearly * int(shown) // (365 * reference * basis_days)


def largest_remainder(total: int, weights: Sequence[int]) -> list[int]:
    """Split ``total`` whole units in proportion to ``weights``: each gets the floor of its
    exact quota, and the units left go to the largest remainders (ties to the earlier one).
    The parts add up to ``total`` exactly; a zero weight gets nothing."""
    if total < 0 or any(w < 0 for w in weights):
        raise InvalidInput("a split needs a non-negative total and weights")
    whole = sum(weights)
    if whole == 0:
        return [0] * len(weights)
    parts = [total * w // whole for w in weights]
    remainders = [total * w % whole for w in weights]
    left = total - sum(parts)
    for i in sorted(range(len(weights)), key=lambda i: (-remainders[i], i))[:left]:
        parts[i] += 1
    return parts


def plan(session: Session, day: date, *, settings: Settings | None = None) -> DayPlan:
    """The whole of ``day``'s plan: decisions, tiers, the pool and its split.

    The creators' share of the pool goes to the creators who sold qualifying owners' goods in
    the distribution window (unless their reputation score is restricted), by that GMV; the
    rest to the qualifying owners by weight. With no such creator the owners get it all; with
    no qualifying owner nothing is promised.
    """
    s = settings or get_settings()
    windows = windows_of(day, s)
    facts = gather(session, windows)
    decisions = decide(session, facts, s)
    assessments = assess_facts(session, facts, decisions)
    pool = daily_pool(session, day, settings=s)

    sold_by: dict[int, int] = {}
    for a in assessments:
        for creator, gmv in facts.distribution[a.shop_id].items():
            sold_by[creator] = sold_by.get(creator, 0) + gmv
    held_back = gates.restricted(session, ScoreKind.CREATOR, sold_by)
    creators = sorted(c for c, gmv in sold_by.items() if gmv > 0 and c not in held_back)

    # No qualifying owner: no creator qualifies either (they earn through owners), and the
    # pool stays unpromised. No eligible creator: the owners get the creators' share too.
    creator_pool = math.floor(pool * s.chuanliu_creator_share + 0.5) if creators else 0
    shop_pool = pool - creator_pool if assessments else 0

    shares = largest_remainder(shop_pool, [a.weight for a in assessments])
    total_weight = sum(a.weight for a in assessments)
    found: list[Reward] = [
        Reward(
            party_kind=PartyKind.SHOP,
            party_id=a.shop_id,
            tier=a.tier,
            weight=a.weight,
            earned_impressions=share,
            basis=f"tier {a.tier.value} ({a.points:.2f} points) × store experience "
            f"{a.store_tier.value if a.store_tier else 'no score'} "
            f"({RULES.store_multiplier(a.store_tier)}%): weight {a.weight:,} "
            f"of {total_weight:,}",
        )
        for a, share in zip(assessments, shares, strict=True)
    ]
    creator_shares = largest_remainder(creator_pool, [sold_by[c] for c in creators])
    found += [
        Reward(
            party_kind=PartyKind.CREATOR,
            party_id=c,
            tier=None,
            weight=sold_by[c],
            earned_impressions=share,
            basis=f"sold {yuan(sold_by[c]):,} yuan of qualifying goods owners' goods in the "
            f"{windows.distribution_days} days before {day}",
        )
        for c, share in zip(creators, creator_shares, strict=True)
    ]
    return DayPlan(
        day=day,
        pool=pool,
        shop_pool=shop_pool,
        creator_pool=creator_pool,
        decisions=decisions,
        assessments=assessments,
        rewards=found,
    )


def rewards(session: Session, day: date, *, settings: Settings | None = None) -> list[Reward]:
    """The reward impressions of ``day`` for each qualifying owner and distributing creator:
    shops by id, then creators by id. They add up to the day's pool."""
    return plan(session, day, settings=settings).rewards


# Joined GMV (数据打通) ----------------------------------------------------------------------------


def joined_gmv(
    session: Session, day: date, *, shop_id: int | None = None, settings: Settings | None = None
) -> list[JoinedGmv]:
    """Each goods owner's distribution, self-broadcast and shelf GMV in the distribution window
    before ``day``, side by side, with the buyers distribution and self-broadcast share. Shops
    that sold nothing in the window are left out; ``shop_id`` narrows to one shop
    (:class:`NotFound` if there is no such shop)."""
    s = settings or get_settings()
    w = windows_of(day, s)
    if shop_id is not None and session.get(Shop, shop_id) is None:
        raise NotFound(f"shop {shop_id} not found", shop_id=shop_id)
    counted = list(counted_orders(w.distribution_start, w.end))
    if shop_id is not None:
        counted.append(_orders.c.shop_id == shop_id)
    amount = _orders.c.paid_amount_fen
    distribution = _orders.c.channel == Channel.DISTRIBUTION
    self_broadcast = _orders.c.channel == Channel.SELF_BROADCAST
    per_buyer = (
        select(
            _orders.c.shop_id.label("shop_id"),
            func.sum(case((distribution, amount), else_=0)).label("distribution_fen"),
            func.sum(case((self_broadcast, amount), else_=0)).label("self_broadcast_fen"),
            func.sum(case((_orders.c.channel.in_(SHELF_CHANNELS), amount), else_=0)).label(
                "shelf_fen"
            ),
            func.max(case((distribution, 1), else_=0)).label("via_distribution"),
            func.max(case((self_broadcast, 1), else_=0)).label("via_self_broadcast"),
        )
        .where(*counted)
        .group_by(_orders.c.shop_id, _orders.c.buyer_id)
        .subquery()
    )
    b = per_buyer.c
    creators: dict[int, int] = {
        int(owner): int(n)
        for owner, n in session.execute(
            select(_orders.c.shop_id, func.count(distinct(_orders.c.creator_id)))
            .where(*counted, _orders.c.creator_id.is_not(None))
            .group_by(_orders.c.shop_id)
        )
    }
    return [
        JoinedGmv(
            shop_id=int(owner),
            distribution_gmv_fen=as_int(dist),
            self_broadcast_gmv_fen=as_int(live),
            shelf_gmv_fen=as_int(shelf),
            distributing_creators=creators.get(int(owner), 0),
            distribution_buyers=as_int(dist_buyers),
            self_broadcast_buyers=as_int(live_buyers),
            shared_buyers=as_int(shared),
        )
        for owner, dist, live, shelf, dist_buyers, live_buyers, shared in session.execute(
            select(
                b.shop_id,
                func.sum(b.distribution_fen),
                func.sum(b.self_broadcast_fen),
                func.sum(b.shelf_fen),
                func.sum(b.via_distribution),
                func.sum(b.via_self_broadcast),
                func.sum(b.via_distribution * b.via_self_broadcast),
            )
            .group_by(b.shop_id)
            .order_by(b.shop_id)
        )
    ]
