"""The Chuanliu plan (川流计划): reward traffic for goods owners who let creators distribute
their goods and who go live themselves.

A goods owner qualifies on a plan day when creators sold its goods in the distribution window
and it self-broadcast on enough days of the live window. Its tier, from diligence,
distribution capability and incremental commercialisation, sets its share of the day's
reward pool; the creators who distributed for qualifying owners share the rest by the GMV
they sold. The formula is published in docs/chuanliu.md and in :data:`RULES`.

- :func:`eligibility`: one :class:`ChuanliuDecision` per shop, each condition with its observed
  number and threshold;
- :func:`assess`: the tier of each eligible owner and its three dimension points;
- :func:`daily_pool`: the day's reward impressions, scaled to this marketplace's size;
- :func:`rewards` (and :func:`plan`, everything at once): the pool split among shops and
  creators, in whole impressions that add up to the pool;
- :func:`joined_gmv`: distribution and self-broadcast GMV side by side;
- :func:`promise` and :func:`reconcile`: the ledger's two named actions.

Days are UTC dates. The plan of day D reads only what had happened before D's midnight: an
order counts if it was paid before then and not cancelled before then. So a day's plan can
be made at the start of the day and recomputed later with the same answer. Two inputs are
read as they are now rather than as they were: a shop's status and the active score version.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Date, and_, case, cast, distinct, func, literal, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from trustflow.bulk import chunks, table
from trustflow.catalog.models import Product, Shop, ShopStatus
from trustflow.config import Settings, get_settings
from trustflow.content.models import LiveSession, ShortVideo
from trustflow.db import UtcDateTime, utcnow
from trustflow.errors import InvalidInput, NotFound
from trustflow.orders.models import Order
from trustflow.scoring import gates
from trustflow.scoring.models import EntityScore, ScoreKind, Tier
from trustflow.scoring.service import active_version
from trustflow.traffic.chuanliu_models import ChuanliuLedger, ChuanliuTier, PartyKind
from trustflow.traffic.models import Impression
from trustflow.units import DAY, HOUR, yuan
from trustflow.vocabulary import Channel, ItemKind

#: The name reward impressions paid for by this plan carry (``Impression.reward_plan``).
PLAN = "chuanliu"

__all__ = [
    "PLAN",
    "RULES",
    "ChuanliuDecision",
    "ChuanliuRules",
    "Condition",
    "DayPlan",
    "DecisionCode",
    "JoinedGmv",
    "Reconciliation",
    "Reward",
    "TierAssessment",
    "accrued",
    "assess",
    "daily_pool",
    "eligibility",
    "joined_gmv",
    "largest_remainder",
    "plan",
    "promise",
    "reconcile",
    "rewards",
]


# Published rules ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChuanliuRules:
    """How a qualifying goods owner's tier and share are set (docs/chuanliu.md; a test checks
    that the page's tables match). Thresholds of qualification and the pool's size are
    deployment settings (``chuanliu_*`` in :mod:`trustflow.config`).

    Each dimension scores 0–100 points:

    - **Diligence** = 100 × (``live_days_share`` × live days ÷ window days
      + (1 − ``live_days_share``) × min(live hours ÷ target hours, 1)), where the target is
      window days × ``target_live_hours_per_day``. A session counts ``max_session_hours`` at
      most.
    - **Distribution capability** = 100 × (``creators_share`` × c ÷ (c + median c)
      + (1 − ``creators_share``) × g ÷ (g + median g)), where c is the distributing creators
      and g the distribution GMV, and the medians are those of the day's qualifying owners:
      the median owner earns 50 points, twice the median 67, half of it 33.
    - **Incremental commercialisation** = 50 × (1 + growth), growth kept within −1..1, where
      growth = (self-broadcast GMV − that of the window before) ÷ max(that of the window
      before, ``growth_floor_fen``): flat earns 50, doubled (or more) 100, halved 25.

    The tier comes from the weighted sum of the three; its weight, times the store
    experience score's multiplier (no score: ×1), is the owner's share of the shops' pool.
    """

    live_days_share: float = 0.7
    target_live_hours_per_day: float = 4.0
    max_session_hours: float = 12.0
    creators_share: float = 0.5
    growth_floor_fen: int = 100_000
    diligence_weight: float = 0.40
    distribution_weight: float = 0.35
    increment_weight: float = 0.25
    #: (tier, lowest points, weight), best first.
    tiers: tuple[tuple[ChuanliuTier, float, int], ...] = (
        (ChuanliuTier.S, 75.0, 400),
        (ChuanliuTier.A, 60.0, 250),
        (ChuanliuTier.B, 45.0, 150),
        (ChuanliuTier.C, 0.0, 100),
    )
    #: Store experience score tier -> multiplier in percent. No score is neutral (100).
    store_multiplier_percent: tuple[tuple[Tier, int], ...] = (
        (Tier.EXCELLENT, 120),
        (Tier.GOOD, 100),
        (Tier.FAIR, 80),
        (Tier.LOW, 60),
    )
    no_score_multiplier_percent: int = 100
    #: The marketplace's size is its mean daily organic impressions over this many days.
    pool_basis_days: int = 7

    def tier_of(self, points: float) -> ChuanliuTier:
        for tier, lowest, _ in self.tiers:
            if points >= lowest:
                return tier
        return self.tiers[-1][0]

    def tier_weight(self, tier: ChuanliuTier) -> int:
        return next(weight for t, _, weight in self.tiers if t is tier)

    def store_multiplier(self, store_tier: Tier | None) -> int:
        if store_tier is None:
            return self.no_score_multiplier_percent
        return dict(self.store_multiplier_percent)[store_tier]


RULES = ChuanliuRules()


# What the functions answer --------------------------------------------------------------------


class DecisionCode(StrEnum):
    """Stable codes of a :class:`ChuanliuDecision` (clients branch on these, never on the text)."""

    ELIGIBLE = "eligible"
    SHOP_NOT_ACTIVE = "shop_not_active"
    SCORE_RESTRICTED = "score_restricted"
    TOO_FEW_DISTRIBUTING_CREATORS = "too_few_distributing_creators"
    TOO_FEW_LIVE_DAYS = "too_few_live_days"


@dataclass(frozen=True)
class Condition:
    """One condition of qualification: what was observed, what is required, and ``code``,
    the decision's code when this condition fails."""

    code: DecisionCode
    passed: bool
    observed: int | str
    required: int | str
    reason: str


@dataclass(frozen=True)
class ChuanliuDecision:
    """Whether a goods owner qualifies for the plan on ``day``, and why (every condition,
    met or not)."""

    shop_id: int
    day: date
    conditions: tuple[Condition, ...]

    @property
    def eligible(self) -> bool:
        return all(c.passed for c in self.conditions)

    @property
    def failed(self) -> tuple[DecisionCode, ...]:
        return tuple(c.code for c in self.conditions if not c.passed)

    @property
    def code(self) -> DecisionCode:
        """:data:`DecisionCode.ELIGIBLE`, or the first failed condition's code."""
        return self.failed[0] if self.failed else DecisionCode.ELIGIBLE

    @property
    def reason(self) -> str:
        """The failed conditions' reasons, or all of them when the owner qualifies."""
        shown = [c for c in self.conditions if not c.passed] or list(self.conditions)
        return "; ".join(c.reason for c in shown)

    def observed(self, code: DecisionCode) -> int | str:
        return next(c.observed for c in self.conditions if c.code == code)


@dataclass(frozen=True)
class TierAssessment:
    """A qualifying goods owner's three dimensions, its tier and its weight in the split."""

    shop_id: int
    live_days: int
    live_hours: float
    distributing_creators: int
    distribution_gmv_fen: int
    self_broadcast_gmv_fen: int
    previous_self_broadcast_gmv_fen: int
    diligence: float
    distribution: float
    increment: float
    points: float
    tier: ChuanliuTier
    store_tier: Tier | None
    weight: int


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


@dataclass(frozen=True)
class Reconciliation:
    """What :func:`reconcile` found: ``reward_impressions`` of the plan shown on the day,
    ``delivered`` of them to parties with a promise, ``unattributed`` to anyone else."""

    day: date
    parties: int
    promised: int
    delivered: int
    reward_impressions: int

    @property
    def unattributed(self) -> int:
        return self.reward_impressions - self.delivered


# Days and windows -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Windows:
    day: date
    end: datetime
    distribution_start: datetime
    previous_start: datetime
    live_start: datetime
    distribution_days: int
    live_days: int


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def _check_day(day: date) -> None:
    if isinstance(day, datetime) or not isinstance(day, date):
        raise InvalidInput("a plan day is a UTC date, not a time", day=str(day))
    today = utcnow().date()
    if day > today:
        raise InvalidInput(f"{day} is in the future (today is {today} UTC)", day=day.isoformat())


def _windows(day: date, settings: Settings) -> _Windows:
    _check_day(day)
    end = _midnight(day)
    distribution = settings.chuanliu_distribution_window_days
    return _Windows(
        day=day,
        end=end,
        distribution_start=end - timedelta(days=distribution),
        previous_start=end - timedelta(days=2 * distribution),
        live_start=end - timedelta(days=settings.chuanliu_live_window_days),
        distribution_days=distribution,
        live_days=settings.chuanliu_live_window_days,
    )


# Reading the store (set-based) ----------------------------------------------------------------

_orders, _live, _videos = table(Order), table(LiveSession), table(ShortVideo)
_products, _shops, _impressions = table(Product), table(Shop), table(Impression)
_ledger, _scores = table(ChuanliuLedger), table(EntityScore)
_SHELF = [c for c in Channel if c.is_shelf]


def _counted(start: datetime, end: datetime) -> tuple[ColumnElement[bool], ...]:
    """Orders paid in [start, end) and not cancelled before ``end``."""
    return (
        _orders.c.paid_at >= start,
        _orders.c.paid_at < end,
        or_(_orders.c.cancelled_at.is_(None), _orders.c.cancelled_at >= end),
    )


def _utc_day(session: Session, column: ColumnElement[datetime]) -> ColumnElement[Any]:
    if session.get_bind().dialect.name == "sqlite":
        return func.date(column)
    return cast(func.timezone("UTC", column), Date)


def _seconds_between(
    session: Session, start: ColumnElement[Any], end: ColumnElement[Any]
) -> ColumnElement[Any]:
    if session.get_bind().dialect.name == "sqlite":
        return (func.julianday(end) - func.julianday(start)) * DAY
    return func.extract("epoch", end - start)


def _bound_time(value: datetime) -> ColumnElement[datetime]:
    return literal(value, UtcDateTime())


def _num(value: Any) -> int:
    return int(value or 0)


@dataclass
class _Facts:
    windows: _Windows
    shop_status: dict[int, ShopStatus]
    #: shop -> creator -> distribution GMV (fen) in the distribution window.
    distribution: dict[int, dict[int, int]] = field(default_factory=dict)
    #: shop -> (self-broadcast GMV of the window, of the window before).
    self_broadcast: dict[int, tuple[int, int]] = field(default_factory=dict)
    #: shop -> (days with a self-broadcast started, seconds live) in the live window.
    live: dict[int, tuple[int, float]] = field(default_factory=dict)
    restricted: set[int] = field(default_factory=set)


def _gather(session: Session, windows: _Windows, *, shop_id: int | None = None) -> _Facts:
    shops = select(_shops.c.id, _shops.c.status).order_by(_shops.c.id)
    if shop_id is not None:
        shops = shops.where(_shops.c.id == shop_id)
    status = {int(i): ShopStatus(s) for i, s in session.execute(shops)}
    if shop_id is not None and not status:
        raise NotFound(f"shop {shop_id} not found", shop_id=shop_id)
    facts = _Facts(windows=windows, shop_status=status)
    w = windows
    one_order = [] if shop_id is None else [_orders.c.shop_id == shop_id]
    one_live = [] if shop_id is None else [_live.c.shop_id == shop_id]

    for owner, creator, gmv in session.execute(
        select(_orders.c.shop_id, _orders.c.creator_id, func.sum(_orders.c.paid_amount_fen))
        .where(
            *_counted(w.distribution_start, w.end), _orders.c.creator_id.is_not(None), *one_order
        )
        .group_by(_orders.c.shop_id, _orders.c.creator_id)
    ):
        facts.distribution.setdefault(int(owner), {})[int(creator)] = _num(gmv)

    in_window = _orders.c.paid_at >= w.distribution_start
    amount = _orders.c.paid_amount_fen
    for owner, current, previous in session.execute(
        select(
            _orders.c.shop_id,
            func.sum(case((in_window, amount), else_=0)),
            func.sum(case((in_window, 0), else_=amount)),
        )
        .where(
            *_counted(w.previous_start, w.end),
            _orders.c.channel == Channel.SELF_BROADCAST,
            *one_order,
        )
        .group_by(_orders.c.shop_id)
    ):
        facts.self_broadcast[int(owner)] = (_num(current), _num(previous))

    stop = case(
        (and_(_live.c.ended_at.is_not(None), _live.c.ended_at < w.end), _live.c.ended_at),
        else_=_bound_time(w.end),
    )
    seconds = _seconds_between(session, _live.c.started_at, stop)
    cap = RULES.max_session_hours * HOUR
    capped = case((seconds <= 0, 0.0), (seconds >= cap, cap), else_=seconds)
    for owner, days, live_seconds in session.execute(
        select(
            _live.c.shop_id,
            func.count(distinct(_utc_day(session, _live.c.started_at))),
            func.sum(capped),
        )
        .where(
            _live.c.shop_id.is_not(None),
            _live.c.started_at >= w.live_start,
            _live.c.started_at < w.end,
            *one_live,
        )
        .group_by(_live.c.shop_id)
    ):
        facts.live[int(owner)] = (int(days), float(live_seconds or 0.0))

    facts.restricted = gates.restricted(session, ScoreKind.STORE, status)
    return facts


def _store_tiers(session: Session, shop_ids: Sequence[int]) -> dict[int, Tier]:
    """Store experience score tiers of these shops in the active version (absent: no score)."""
    version = active_version(session)
    if version is None:
        return {}
    tiers: dict[int, Tier] = {}
    for part in chunks(sorted(shop_ids)):
        for entity_id, tier in session.execute(
            select(_scores.c.entity_id, _scores.c.tier).where(
                _scores.c.version_id == version.id,
                _scores.c.kind == ScoreKind.STORE,
                _scores.c.entity_id.in_(part),
            )
        ):
            tiers[int(entity_id)] = Tier(tier)
    return tiers


# Eligibility ----------------------------------------------------------------------------------


def _decide(session: Session, facts: _Facts, settings: Settings) -> list[ChuanliuDecision]:
    w = facts.windows
    min_creators = settings.chuanliu_min_distributing_creators
    min_days = settings.chuanliu_min_live_days
    decisions = []
    for shop_id, status in facts.shop_status.items():
        creators = len(facts.distribution.get(shop_id, {}))
        live_days = facts.live.get(shop_id, (0, 0.0))[0]
        active = status is ShopStatus.ACTIVE
        restricted = shop_id in facts.restricted
        score_reason = (
            gates.reward_eligibility(session, shop_id).reason
            if restricted
            else "the store experience score does not restrict reward traffic"
        )
        decisions.append(
            ChuanliuDecision(
                shop_id=shop_id,
                day=w.day,
                conditions=(
                    Condition(
                        DecisionCode.SHOP_NOT_ACTIVE,
                        active,
                        status.value,
                        ShopStatus.ACTIVE.value,
                        f"the shop is {status.value}"
                        + ("" if active else "; only active shops earn reward traffic"),
                    ),
                    Condition(
                        DecisionCode.SCORE_RESTRICTED,
                        not restricted,
                        "restricted" if restricted else "not restricted",
                        "not restricted",
                        score_reason,
                    ),
                    Condition(
                        DecisionCode.TOO_FEW_DISTRIBUTING_CREATORS,
                        creators >= min_creators,
                        creators,
                        min_creators,
                        f"{creators} creator(s) sold the shop's goods in the "
                        f"{w.distribution_days} days before {w.day} (needs {min_creators})",
                    ),
                    Condition(
                        DecisionCode.TOO_FEW_LIVE_DAYS,
                        live_days >= min_days,
                        live_days,
                        min_days,
                        f"the shop went live on {live_days} of the {w.live_days} days before "
                        f"{w.day} (needs {min_days})",
                    ),
                ),
            )
        )
    return decisions


def eligibility(
    session: Session, day: date, *, shop_id: int | None = None, settings: Settings | None = None
) -> list[ChuanliuDecision]:
    """Which goods owners qualify for Chuanliu reward traffic on ``day``, and why: every shop
    (or only ``shop_id``, :class:`NotFound` if there is no such shop), by shop id."""
    s = settings or get_settings()
    facts = _gather(session, _windows(day, s), shop_id=shop_id)
    return _decide(session, facts, s)


# Tiers ----------------------------------------------------------------------------------------


def _saturation(value: float, median: float) -> float:
    """value ÷ (value + median): 0.5 at the median, approaching 1 far above it."""
    return value / (value + max(median, 1.0)) if value > 0 else 0.0


def _assess(
    session: Session, facts: _Facts, decisions: Sequence[ChuanliuDecision]
) -> list[TierAssessment]:
    rules, w = RULES, facts.windows
    eligible = [d.shop_id for d in decisions if d.eligible]
    if not eligible:
        return []
    creators = {s: len(facts.distribution[s]) for s in eligible}
    gmv = {s: sum(facts.distribution[s].values()) for s in eligible}
    median_creators = statistics.median(creators.values())
    median_gmv = statistics.median(gmv.values())
    store_tiers = _store_tiers(session, eligible)
    target_hours = w.live_days * rules.target_live_hours_per_day
    assessments = []
    for shop_id in eligible:
        live_days, seconds = facts.live.get(shop_id, (0, 0.0))
        hours = seconds / HOUR
        current, previous = facts.self_broadcast.get(shop_id, (0, 0))
        diligence = 100 * (
            rules.live_days_share * live_days / w.live_days
            + (1 - rules.live_days_share) * min(hours / target_hours, 1.0)
        )
        distribution = 100 * (
            rules.creators_share * _saturation(creators[shop_id], median_creators)
            + (1 - rules.creators_share) * _saturation(gmv[shop_id], median_gmv)
        )
        growth = (current - previous) / max(previous, rules.growth_floor_fen)
        increment = 50 * (1 + min(max(growth, -1.0), 1.0))
        points = round(
            rules.diligence_weight * diligence
            + rules.distribution_weight * distribution
            + rules.increment_weight * increment,
            2,
        )
        tier = rules.tier_of(points)
        store_tier = store_tiers.get(shop_id)
        assessments.append(
            TierAssessment(
                shop_id=shop_id,
                live_days=live_days,
                live_hours=round(hours, 2),
                distributing_creators=creators[shop_id],
                distribution_gmv_fen=gmv[shop_id],
                self_broadcast_gmv_fen=current,
                previous_self_broadcast_gmv_fen=previous,
                diligence=round(diligence, 2),
                distribution=round(distribution, 2),
                increment=round(increment, 2),
                points=points,
                tier=tier,
                store_tier=store_tier,
                weight=rules.tier_weight(tier) * rules.store_multiplier(store_tier),
            )
        )
    return assessments


def assess(
    session: Session, day: date, *, settings: Settings | None = None
) -> list[TierAssessment]:
    """The tier of every goods owner that qualifies on ``day``, with its three dimensions."""
    s = settings or get_settings()
    facts = _gather(session, _windows(day, s))
    return _assess(session, facts, _decide(session, facts, s))


# The pool and its split -----------------------------------------------------------------------


def daily_pool(session: Session, day: date, *, settings: Settings | None = None) -> int:
    """The reward impressions of ``day``: the yearly pool's daily share, scaled by this
    marketplace's mean daily organic impressions over the days before ``day`` against the
    reference platform's (fewer days for a marketplace younger than the basis)."""
    s = settings or get_settings()
    end = _windows(day, s).end
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
    windows = _windows(day, s)
    facts = _gather(session, windows)
    decisions = _decide(session, facts, s)
    assessments = _assess(session, facts, decisions)
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
    w = _windows(day, s)
    if shop_id is not None and session.get(Shop, shop_id) is None:
        raise NotFound(f"shop {shop_id} not found", shop_id=shop_id)
    counted = list(_counted(w.distribution_start, w.end))
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
            func.sum(case((_orders.c.channel.in_(_SHELF), amount), else_=0)).label("shelf_fen"),
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
            distribution_gmv_fen=_num(dist),
            self_broadcast_gmv_fen=_num(live),
            shelf_gmv_fen=_num(shelf),
            distributing_creators=creators.get(int(owner), 0),
            distribution_buyers=_num(dist_buyers),
            self_broadcast_buyers=_num(live_buyers),
            shared_buyers=_num(shared),
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


# The ledger: promise and reconcile ------------------------------------------------------------


def _ledger_rows(session: Session, day: date) -> list[ChuanliuLedger]:
    """The day's rows, shops first ('shop' sorts after 'creator'), then by party id."""
    return list(
        session.scalars(
            select(ChuanliuLedger)
            .where(ChuanliuLedger.plan_day == day)
            .order_by(ChuanliuLedger.party_kind.desc(), ChuanliuLedger.party_id)
        )
    )


def accrued(session: Session, day: date) -> dict[tuple[PartyKind, int], int]:
    """Each party's earned but not yet promised reward impressions at the start of ``day``:
    what it earned on the ledger's earlier days less what it was promised (parties with none
    are left out)."""
    _check_day(day)
    unpromised = func.sum(_ledger.c.earned_impressions - _ledger.c.promised_impressions)
    return {
        (PartyKind(kind), int(party)): int(amount)
        for kind, party, amount in session.execute(
            select(_ledger.c.party_kind, _ledger.c.party_id, unpromised)
            .where(_ledger.c.plan_day < day)
            .group_by(_ledger.c.party_kind, _ledger.c.party_id)
            .having(unpromised > 0)
        )
    }


def promise(
    session: Session, day: date, *, settings: Settings | None = None
) -> list[ChuanliuLedger]:
    """Write ``day``'s promises to the ledger, one row per rewarded party, in one statement
    inside the caller's transaction, and return the day's rows (shops, then creators).

    Each row records what the party earned today (its share of the pool, :func:`rewards`) and
    what is promised to it: its earnings not yet promised, today's included, once they reach
    ``chuanliu_min_promise_impressions``, else nothing (they accrue to a later day). Days are
    promised in order: accrual reads the days before ``day`` already in the ledger.

    Idempotent: a day already promised keeps its promises (a promise made to a merchant is not
    rewritten by a later run), and a concurrent run inserts nothing twice.
    """
    s = settings or get_settings()
    _check_day(day)
    existing = _ledger_rows(session, day)
    if existing:
        return existing
    now = utcnow()
    minimum = s.chuanliu_min_promise_impressions
    earned = rewards(session, day, settings=s)
    carried = accrued(session, day) if earned else {}
    rows = []
    for r in earned:
        due = carried.get((r.party_kind, r.party_id), 0) + r.earned_impressions
        rows.append(
            {
                "plan_day": day,
                "party_kind": r.party_kind,
                "party_id": r.party_id,
                "tier": r.tier,
                "earned_impressions": r.earned_impressions,
                "promised_impressions": due if due >= minimum else 0,
                "delivered_impressions": 0,
                "updated_at": now,
            }
        )
    if rows:
        insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        session.execute(
            insert(_ledger).on_conflict_do_nothing(
                index_elements=["plan_day", "party_kind", "party_id"]
            ),
            rows,
        )
    return _ledger_rows(session, day)


def _delivered(day: date) -> Any:
    """Reward impressions of the plan shown on ``day``, summed per owning party: a live room
    or short video belongs to its host (shop or creator), a product card to its shop."""
    start = _midnight(day)
    is_live = _impressions.c.item_kind == ItemKind.LIVE_SESSION
    is_video = _impressions.c.item_kind == ItemKind.SHORT_VIDEO
    is_card = _impressions.c.item_kind == ItemKind.PRODUCT_CARD
    shop_host = func.coalesce(_live.c.shop_id, _videos.c.shop_id, _products.c.shop_id)
    owned = (
        select(
            case(
                (shop_host.is_not(None), PartyKind.SHOP.value), else_=PartyKind.CREATOR.value
            ).label("party_kind"),
            func.coalesce(shop_host, _live.c.creator_id, _videos.c.creator_id).label("party_id"),
            _impressions.c.count.label("impressions"),
        )
        .select_from(_impressions)
        .outerjoin(_live, and_(is_live, _live.c.id == _impressions.c.item_id))
        .outerjoin(_videos, and_(is_video, _videos.c.id == _impressions.c.item_id))
        .outerjoin(_products, and_(is_card, _products.c.id == _impressions.c.item_id))
        .where(
            _impressions.c.is_reward.is_(True),
            _impressions.c.reward_plan == PLAN,
            _impressions.c.shown_at >= start,
            _impressions.c.shown_at < start + timedelta(days=1),
        )
        .subquery()
    )
    return (
        select(
            owned.c.party_kind,
            owned.c.party_id,
            func.sum(owned.c.impressions).label("impressions"),
        )
        .where(owned.c.party_id.is_not(None))
        .group_by(owned.c.party_kind, owned.c.party_id)
        .subquery()
    )


def reconcile(session: Session, day: date) -> Reconciliation:
    """Set each of ``day``'s promises' delivered impressions from the impressions log, inside
    the caller's transaction: two set-based updates, safe to run again as more of the day's
    impressions arrive."""
    _check_day(day)
    now = utcnow()
    on_day = _ledger.c.plan_day == day
    session.execute(update(_ledger).where(on_day).values(delivered_impressions=0, updated_at=now))
    delivered = _delivered(day)
    session.execute(
        update(_ledger)
        .where(
            on_day,
            _ledger.c.party_kind == delivered.c.party_kind,
            _ledger.c.party_id == delivered.c.party_id,
        )
        .values(delivered_impressions=delivered.c.impressions, updated_at=now)
    )
    # The updates bypass the ORM: rows the session already holds are re-read on next access.
    for row in list(session.identity_map.values()):
        if isinstance(row, ChuanliuLedger) and row.plan_day == day:
            session.expire(row)
    parties, promised, delivered_total = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(_ledger.c.promised_impressions), 0),
            func.coalesce(func.sum(_ledger.c.delivered_impressions), 0),
        ).where(on_day)
    ).one()
    start = _midnight(day)
    shown = session.scalar(
        select(func.coalesce(func.sum(_impressions.c.count), 0)).where(
            _impressions.c.is_reward.is_(True),
            _impressions.c.reward_plan == PLAN,
            _impressions.c.shown_at >= start,
            _impressions.c.shown_at < start + timedelta(days=1),
        )
    )
    return Reconciliation(
        day=day,
        parties=_num(parties),
        promised=_num(promised),
        delivered=_num(delivered_total),
        reward_impressions=_num(shown),
    )
