"""Marketplace figures, computed by the store's own aggregates (never a Python loop over rows).

What ``trustflow demo`` writes to ``summary.json`` and charts in ``report.html``. Money is added
up in integer fen and shown in yuan with two decimals.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Date, Interval, and_, case, cast, distinct, func, literal, or_, select
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql import ColumnElement

from trustflow.accounts.models import Buyer, Creator, Follow
from trustflow.aftersales.models import AfterSalesRequest, AfterSalesStatus
from trustflow.bulk import table
from trustflow.catalog.models import Shop
from trustflow.orders.models import Order
from trustflow.traffic.models import Impression
from trustflow.units import yuan as yuan  # re-exported: the report and the API read it here
from trustflow.vocabulary import Channel, Surface

FIELDS = ("self_broadcast", "distribution", "shelf")


def field_of(channel: Channel | str) -> str:
    """Which of the three fields (三大场域) a sale belongs to."""
    channel = Channel(channel)
    return "shelf" if channel.is_shelf else channel.value


def _day(session: Session, column: ColumnElement[datetime]) -> ColumnElement[Any]:
    if session.get_bind().dialect.name == "sqlite":
        return func.date(column)
    return cast(func.timezone("UTC", column), Date)


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


@dataclass(frozen=True)
class DailyRow:
    day: date
    field: str
    orders: int
    gmv_fen: int


def marketplace_summary(session: Session, *, days: int | None = None) -> dict[str, Any]:
    orders = table(Order)
    paid = orders.c.paid_at.is_not(None)
    n_orders, gmv_fen = session.execute(
        select(func.count(), func.coalesce(func.sum(orders.c.paid_amount_fen), 0)).where(paid)
    ).one()
    by_field = {f: 0 for f in FIELDS}
    for channel, fen in session.execute(
        select(orders.c.channel, func.sum(orders.c.paid_amount_fen))
        .where(paid)
        .group_by(orders.c.channel)
    ):
        by_field[field_of(channel)] += int(fen)
    requests = table(AfterSalesRequest)
    refunded_orders, refunded_fen = session.execute(
        select(
            func.count(distinct(requests.c.order_id)),
            func.coalesce(func.sum(requests.c.refund_fen), 0),
        ).where(requests.c.status == AfterSalesStatus.REFUNDED)
    ).one()
    impressions = table(Impression)
    by_surface = {s.value: 0 for s in Surface}
    for s, n in session.execute(
        select(impressions.c.surface, func.sum(impressions.c.count)).group_by(impressions.c.surface)
    ):
        by_surface[s.value if isinstance(s, Surface) else str(s)] = int(n)
    counts = {
        name: session.scalar(select(func.count()).select_from(table(model))) or 0
        for name, model in (("shops", Shop), ("creators", Creator), ("buyers", Buyer))
    }
    first_day, last_day = session.execute(
        select(
            func.min(_day(session, orders.c.created_at)),
            func.max(_day(session, orders.c.created_at)),
        ).where(paid)
    ).one()
    if days is None:
        days = (_as_date(last_day) - _as_date(first_day)).days + 1 if first_day is not None else 0
    follow_fen = _follow_page_gmv_fen(session)
    follow_impr = by_surface[Surface.FOLLOW.value]
    return {
        "days": days,
        **counts,
        "orders": int(n_orders),
        "gmv_fen": int(gmv_fen),
        "gmv_yuan": yuan(gmv_fen),
        "gmv_by_channel_yuan": {f: yuan(v) for f, v in by_field.items()},
        "refund_rate": round(refunded_orders / n_orders, 4) if n_orders else 0.0,
        "refunded_yuan": yuan(refunded_fen),
        "impressions_by_surface": by_surface,
        "follow_gmv_per_1000_impressions_yuan": yuan(follow_fen * 1000 // follow_impr)
        if follow_impr
        else yuan(0),
        "repurchase_rate_by_shop_kind": repurchase_by_kind(session),
        "fans_order_share": fans_order_share(session),
    }


def _follow_page_gmv_fen(session: Session) -> int:
    orders = table(Order)
    return int(
        session.scalar(
            select(func.coalesce(func.sum(orders.c.paid_amount_fen), 0)).where(
                orders.c.paid_at.is_not(None), orders.c.surface == Surface.FOLLOW.value
            )
        )
        or 0
    )


def daily(session: Session) -> list[DailyRow]:
    orders = table(Order)
    day = _day(session, orders.c.created_at)
    rows = session.execute(
        select(day, orders.c.channel, func.count(), func.sum(orders.c.paid_amount_fen))
        .where(orders.c.paid_at.is_not(None))
        .group_by(day, orders.c.channel)
        .order_by(day)
    ).all()
    folded: dict[tuple[date, str], list[int]] = {}
    for d, channel, n, fen in rows:
        totals = folded.setdefault((_as_date(d), field_of(channel)), [0, 0])
        totals[0] += int(n)
        totals[1] += int(fen)
    return [DailyRow(d, f, n, fen) for (d, f), (n, fen) in sorted(folded.items())]


def every_day(days: Iterable[date]) -> list[date]:
    """Every date from the first to the last of ``days``, both included: a chart over time
    shows a day without activity as that day, not as a line drawn straight across it."""
    seen = sorted(set(days))
    if not seen:
        return []
    return [seen[0] + timedelta(days=i) for i in range((seen[-1] - seen[0]).days + 1)]


def daily_refunds(session: Session) -> list[tuple[date, int]]:
    requests = table(AfterSalesRequest)
    day = _day(session, requests.c.resolved_at)
    rows = session.execute(
        select(day, func.count())
        .where(requests.c.status == AfterSalesStatus.REFUNDED)
        .group_by(day)
        .order_by(day)
    ).all()
    return [(_as_date(d), int(n)) for d, n in rows]


def top_shops(session: Session, limit: int = 10) -> list[dict[str, Any]]:
    orders, shops = table(Order), table(Shop)
    rows = session.execute(
        select(
            shops.c.id,
            shops.c.name,
            shops.c.kind,
            func.count(),
            func.sum(orders.c.paid_amount_fen).label("gmv"),
        )
        .join(shops, shops.c.id == orders.c.shop_id)
        .where(orders.c.paid_at.is_not(None))
        .group_by(shops.c.id, shops.c.name, shops.c.kind)
        .order_by(func.sum(orders.c.paid_amount_fen).desc(), shops.c.id)
        .limit(limit)
    ).all()
    return [
        {
            "shop_id": i,
            "name": n,
            "kind": getattr(k, "value", k),
            "orders": int(c),
            "gmv_yuan": yuan(g),
        }
        for i, n, k, c, g in rows
    ]


def repurchase_by_kind(
    session: Session, window: timedelta = timedelta(days=30)
) -> dict[str, float]:
    """Share of buyer–shop pairs, first bought from in the run's first third, that bought from
    the same shop again within ``window`` of that first order (capped by the run's end)."""
    orders, shops = table(Order), table(Shop)
    paid = orders.c.paid_at.is_not(None)
    first = (
        select(orders.c.buyer_id, orders.c.shop_id, func.min(orders.c.created_at).label("first_at"))
        .where(paid)
        .group_by(orders.c.buyer_id, orders.c.shop_id)
        .subquery()
    )
    span = session.execute(
        select(func.min(orders.c.created_at), func.max(orders.c.created_at)).where(paid)
    ).one()
    if span[0] is None:
        return {}
    cutoff = span[0] + (span[1] - span[0]) / 3
    again = aliased(orders)
    repeat = (
        select(again.c.id)
        .where(
            again.c.buyer_id == first.c.buyer_id,
            again.c.shop_id == first.c.shop_id,
            again.c.paid_at.is_not(None),
            again.c.created_at > first.c.first_at,
            again.c.created_at <= first.c.first_at + literal(window, Interval())
            if session.get_bind().dialect.name != "sqlite"
            else func.julianday(again.c.created_at)
            <= func.julianday(first.c.first_at) + window.days,
        )
        .exists()
    )
    rows = session.execute(
        select(shops.c.kind, func.count(), func.sum(case((repeat, 1), else_=0)))
        .join(shops, shops.c.id == first.c.shop_id)
        .where(first.c.first_at <= cutoff)
        .group_by(shops.c.kind)
    ).all()
    return {getattr(k, "value", k): round(int(r) / int(n), 4) for k, n, r in rows if n}


def fans_order_share(session: Session) -> float:
    """Share of live and video orders placed by a buyer who already followed the seller."""
    orders, follows = table(Order), table(Follow)
    content = orders.c.content_kind.is_not(None) & orders.c.paid_at.is_not(None)
    followed = (
        select(follows.c.id)
        .where(
            follows.c.buyer_id == orders.c.buyer_id,
            follows.c.created_at <= orders.c.created_at,
            or_(
                and_(orders.c.creator_id.is_not(None), follows.c.creator_id == orders.c.creator_id),
                and_(orders.c.creator_id.is_(None), follows.c.shop_id == orders.c.shop_id),
            ),
        )
        .exists()
    )
    total, fans = session.execute(
        select(func.count(), func.coalesce(func.sum(case((followed, 1), else_=0)), 0)).where(
            content
        )
    ).one()
    return round(int(fans) / int(total), 4) if total else 0.0
