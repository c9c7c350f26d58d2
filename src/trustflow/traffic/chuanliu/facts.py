"""What the Chuanliu plan reads of the store for a plan day, set-based: the day's windows
(distribution, previous, live) and each shop's facts in them.

The plan of day D reads only what had happened before D's midnight (UTC): an order counts
if it was paid before then and not cancelled before then.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, case, distinct, func, literal, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from trustflow.bulk import chunks, table
from trustflow.catalog.models import Product, Shop, ShopStatus
from trustflow.config import Settings
from trustflow.content.models import LiveSession, ShortVideo
from trustflow.db import UtcDateTime, utc_day, utcnow
from trustflow.errors import InvalidInput, NotFound
from trustflow.governance import penalties
from trustflow.orders.models import Order
from trustflow.scoring import gates
from trustflow.scoring.models import EntityScore, ScoreKind, Tier
from trustflow.scoring.service import active_version
from trustflow.traffic.chuanliu.models import ChuanliuLedger
from trustflow.traffic.chuanliu.rules import RULES
from trustflow.traffic.models import Impression
from trustflow.units import DAY, HOUR
from trustflow.vocabulary import Channel

__all__ = [
    "SHELF_CHANNELS",
    "Facts",
    "Windows",
    "as_int",
    "bound_time",
    "check_day",
    "counted_orders",
    "gather",
    "midnight",
    "read_store_tiers",
    "seconds_between",
    "windows_of",
]

# Days and windows -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Windows:
    day: date
    end: datetime
    distribution_start: datetime
    previous_start: datetime
    live_start: datetime
    distribution_days: int
    live_days: int


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def check_day(day: date) -> None:
    if isinstance(day, datetime) or not isinstance(day, date):
        raise InvalidInput("a plan day is a UTC date, not a time", day=str(day))
    today = utcnow().date()
    if day > today:
        raise InvalidInput(f"{day} is in the future (today is {today} UTC)", day=day.isoformat())


def windows_of(day: date, settings: Settings) -> Windows:
    check_day(day)
    end = midnight(day)
    distribution = settings.chuanliu_distribution_window_days
    return Windows(
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
SHELF_CHANNELS = [c for c in Channel if c.is_shelf]


def counted_orders(start: datetime, end: datetime) -> tuple[ColumnElement[bool], ...]:
    """Orders paid in [start, end) and not cancelled before ``end``."""
    return (
        _orders.c.paid_at >= start,
        _orders.c.paid_at < end,
        or_(_orders.c.cancelled_at.is_(None), _orders.c.cancelled_at >= end),
    )


def seconds_between(
    session: Session, start: ColumnElement[Any], end: ColumnElement[Any]
) -> ColumnElement[Any]:
    if session.get_bind().dialect.name == "sqlite":
        return (func.julianday(end) - func.julianday(start)) * DAY
    return func.extract("epoch", end - start)


def bound_time(value: datetime) -> ColumnElement[datetime]:
    return literal(value, UtcDateTime())


def as_int(value: Any) -> int:
    return int(value or 0)


@dataclass
class Facts:
    windows: Windows
    shop_status: dict[int, ShopStatus]
    #: shop -> creator -> distribution GMV (fen) in the distribution window.
    distribution: dict[int, dict[int, int]] = field(default_factory=dict)
    #: shop -> (self-broadcast GMV of the window, of the window before).
    self_broadcast: dict[int, tuple[int, int]] = field(default_factory=dict)
    #: shop -> (days with a self-broadcast started, seconds live) in the live window.
    live: dict[int, tuple[int, float]] = field(default_factory=dict)
    restricted: set[int] = field(default_factory=set)
    #: each shop's violation standing at the day's start (``governance/penalties.py``)
    penalties: dict[int, penalties.Standing] = field(default_factory=dict)


def gather(session: Session, windows: Windows, *, shop_id: int | None = None) -> Facts:
    shops = select(_shops.c.id, _shops.c.status).order_by(_shops.c.id)
    if shop_id is not None:
        shops = shops.where(_shops.c.id == shop_id)
    status = {int(i): ShopStatus(s) for i, s in session.execute(shops)}
    if shop_id is not None and not status:
        raise NotFound(f"shop {shop_id} not found", shop_id=shop_id)
    facts = Facts(windows=windows, shop_status=status)
    w = windows
    one_order = [] if shop_id is None else [_orders.c.shop_id == shop_id]
    one_live = [] if shop_id is None else [_live.c.shop_id == shop_id]

    for owner, creator, gmv in session.execute(
        select(_orders.c.shop_id, _orders.c.creator_id, func.sum(_orders.c.paid_amount_fen))
        .where(
            *counted_orders(w.distribution_start, w.end),
            _orders.c.creator_id.is_not(None),
            *one_order,
        )
        .group_by(_orders.c.shop_id, _orders.c.creator_id)
    ):
        facts.distribution.setdefault(int(owner), {})[int(creator)] = as_int(gmv)

    in_window = _orders.c.paid_at >= w.distribution_start
    amount = _orders.c.paid_amount_fen
    for owner, current, previous in session.execute(
        select(
            _orders.c.shop_id,
            func.sum(case((in_window, amount), else_=0)),
            func.sum(case((in_window, 0), else_=amount)),
        )
        .where(
            *counted_orders(w.previous_start, w.end),
            _orders.c.channel == Channel.SELF_BROADCAST,
            *one_order,
        )
        .group_by(_orders.c.shop_id)
    ):
        facts.self_broadcast[int(owner)] = (as_int(current), as_int(previous))

    stop = case(
        (and_(_live.c.ended_at.is_not(None), _live.c.ended_at < w.end), _live.c.ended_at),
        else_=bound_time(w.end),
    )
    seconds = seconds_between(session, _live.c.started_at, stop)
    cap = RULES.max_session_hours * HOUR
    capped = case((seconds <= 0, 0.0), (seconds >= cap, cap), else_=seconds)
    for owner, days, live_seconds in session.execute(
        select(
            _live.c.shop_id,
            func.count(distinct(utc_day(session, _live.c.started_at))),
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
    # every shop with points (one aggregate; a shop absent from it has none)
    facts.penalties = penalties.standings(session, w.end)
    return facts


def read_store_tiers(session: Session, shop_ids: Sequence[int]) -> dict[int, Tier]:
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
