"""Commission settlement (佣金结算): a creator is paid once the buyer can no longer get money back.

A distribution order's commission stays pending from payment until its after-sales window
(:data:`~trustflow.aftersales.rules.AFTER_SALES_WINDOW` after delivery) has closed with no
request still open; then what remains of it (accrued less reversed,
:mod:`trustflow.orders.commission`) is settled in one entry. A request opened in time keeps
the order pending until it ends, so an arbitration that refunds the buyer late still takes
its share back before anything is paid out. The rule lives here, beside the window it
waits for; the daily job (``trustflow commission settle``) and the simulator both run it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import ColumnElement, Select, and_, case, exists, func, select
from sqlalchemy.orm import Session

from trustflow.aftersales import rules
from trustflow.aftersales.models import AfterSalesRequest
from trustflow.bulk import IntArray, fetch_by_ids, table
from trustflow.orders import commission
from trustflow.orders.models import CommissionEntry, CommissionEntryKind, Order, OrderStatus

__all__ = ["Settlement", "settle_commissions"]

_entries, _orders, _requests = table(CommissionEntry), table(Order), table(AfterSalesRequest)
K = CommissionEntryKind


@dataclass(frozen=True)
class Settlement:
    """What one run settled: how many orders, and how much commission in all."""

    orders: int
    amount_fen: int


def _due(at: datetime, among: ColumnElement[bool] | None = None) -> Select[tuple[int]]:
    """Orders whose commission may be settled at ``at``: accrued, not settled, delivered at
    least the after-sales window ago, with no request open."""
    e, o, r = _entries.c, _orders.c, _requests.c
    booked = _entries.alias("booked")
    return (
        select(o.id)
        .join(_entries, and_(e.order_id == o.id, e.event_key == commission.ACCRUE))
        .where(
            o.status.in_([OrderStatus.DELIVERED, OrderStatus.RECEIVED]),
            # strictly: at the window's last instant a buyer may still ask for money back
            o.delivered_at < at - rules.AFTER_SALES_WINDOW,
            ~exists().where(booked.c.order_id == o.id, booked.c.event_key == commission.SETTLE),
            ~exists().where(r.order_id == o.id, r.status.in_(rules.OPEN_STATES)),
            *([] if among is None else [among]),
        )
    )


def settle_commissions(
    session: Session,
    *,
    at: datetime,
    among: ColumnElement[bool] | None = None,
    when_due: bool = False,
) -> Settlement:
    """Settle every order that is due at ``at`` (of those ``among`` selects). Due orders are
    locked first and checked again, so a request opened or a refund made meanwhile is never
    settled past; a second run settles nothing more. ``when_due``: each settlement is dated
    when its window closed rather than ``at`` (history being imported was settled then)."""
    candidates = np.fromiter(session.scalars(_due(at, among)), dtype=np.int64)
    if len(candidates) == 0:
        return Settlement(0, 0)
    fetch_by_ids(session, select(_orders.c.id), _orders.c.id, candidates, for_update=True)
    found = fetch_by_ids(
        session,
        _due(at, among).add_columns(_orders.c.delivered_at),
        _orders.c.id,
        candidates,
    )
    due = np.array([row[0] for row in found], dtype=np.int64)
    closed = {row[0]: row[1] + rules.AFTER_SALES_WINDOW for row in found}
    remaining = _remaining(session, due)
    rows = [
        {
            "order_id": order_id,
            "creator_id": creator_id,
            "kind": K.SETTLED,
            "event_key": commission.SETTLE,
            "amount_fen": amount,
            "at": closed[order_id] if when_due else at,
        }
        for order_id, creator_id, amount in remaining
    ]
    booked = commission.book_entries(session, rows)
    return Settlement(booked, sum(amount for _, _, amount in remaining) if booked else 0)


def _remaining(session: Session, order_ids: IntArray) -> list[tuple[int, int, int]]:
    """(order, creator, accrued less reversed) of each order."""
    e = _entries.c
    left = func.sum(
        case(
            (e.kind == K.ACCRUED, e.amount_fen),
            (e.kind == K.REVERSED, -e.amount_fen),
            else_=0,
        )
    )
    return [
        (int(o), int(c), max(int(n), 0))
        for o, c, n in fetch_by_ids(
            session,
            select(e.order_id, e.creator_id, left).group_by(e.order_id, e.creator_id),
            e.order_id,
            order_ids,
        )
    ]
