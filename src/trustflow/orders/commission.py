"""Commission (佣金) from payment to settlement: accrued, reversed, settled, never twice.

A distribution order freezes its commission at placement (:func:`trustflow.orders.rules.
commission_fen`). What the creator is then owed moves in three steps, each one row of
:class:`~trustflow.orders.models.CommissionEntry`:

- **accrued** when the buyer pays: the frozen commission, pending;
- **reversed** when money goes back to the buyer: the refunded share of the payment takes
  the same share of the commission (rounded half up, computed on the running total so that
  refunds in parts reverse exactly the whole once the whole payment is back); a paid order
  cancelled reverses all that remains;
- **settled** when the after-sales window has closed with no request open
  (:func:`trustflow.aftersales.settlement.settle_commissions`): what remains is paid out.

Every entry carries an event key unique per order (``accrue``, ``reverse:cancel``,
``reverse:request:<id>``, ``settle``), so a retry, a replayed batch or two concurrent callers
book each event once. The one-at-a-time actions and the bulk path call the same functions
here, with one row or many. A creator's statement for a period (:func:`statement`) sums the
entries; docs/glossary.md names the terms.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Table, case, func, select
from sqlalchemy.orm import Session

from trustflow.bulk import IntArray, execute_many, fetch_by_ids, insert_unless_present, table
from trustflow.errors import InvalidInput
from trustflow.orders.models import CommissionEntry, CommissionEntryKind, Order, OrderLine

__all__ = [
    "ACCRUE",
    "REVERSE_CANCEL",
    "SETTLE",
    "CommissionStatement",
    "accrue_commissions",
    "book_entries",
    "reverse_commissions",
    "reverse_key",
    "reversed_total_fen",
    "statement",
]

K = CommissionEntryKind
ACCRUE = "accrue"
SETTLE = "settle"
REVERSE_CANCEL = "reverse:cancel"

_entries: Table = table(CommissionEntry)
_orders: Table = table(Order)
_lines: Table = table(OrderLine)


def reverse_key(request_id: int) -> str:
    """The event key of the reversal an after-sales refund makes."""
    return f"reverse:request:{request_id}"


def reversed_total_fen(
    commission_fen: npt.ArrayLike, refunded_fen: npt.ArrayLike, paid_fen: npt.ArrayLike
) -> IntArray:
    """The commission reversed in all once ``refunded_fen`` of the ``paid_fen`` payment went
    back to the buyer: the same share of the commission, rounded half up, never more than
    the commission. An order that cost the buyer nothing (a full platform subsidy) has no
    share to take: any refund of it reverses the whole commission."""
    c = np.asarray(commission_fen, dtype=np.int64)
    r = np.asarray(refunded_fen, dtype=np.int64)
    p = np.asarray(paid_fen, dtype=np.int64)
    share = (2 * c * r + p) // np.maximum(2 * p, 1)
    return np.minimum(np.where(p > 0, share, c), c)


def book_entries(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Insert entries, skipping any whose ``(order_id, event_key)`` is already booked (by a
    retry or a concurrent caller); returns how many were new."""
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    return execute_many(session, _BOOK[dialect], rows)


_BOOK = insert_unless_present(_entries, ["order_id", "event_key"])


def _times(order_ids: IntArray, at: datetime | Sequence[datetime]) -> dict[int, datetime]:
    """Each order's time: one for all, or one per order."""
    ids = order_ids.tolist()
    return dict.fromkeys(ids, at) if isinstance(at, datetime) else dict(zip(ids, at, strict=True))


def accrue_commissions(
    session: Session, order_ids: npt.ArrayLike, *, at: datetime | Sequence[datetime]
) -> int:
    """Accrue the frozen commission of each paid distribution order among ``order_ids``
    (others have none to accrue), at its payment's time (``at``: one, or one per order).
    Returns how many entries were booked."""
    ids = np.asarray(order_ids, dtype=np.int64)
    when = _times(ids, at)
    rows = fetch_by_ids(
        session,
        select(_orders.c.id, _orders.c.creator_id, _orders.c.commission_fen).where(
            _orders.c.creator_id.is_not(None), _orders.c.commission_fen > 0
        ),
        _orders.c.id,
        ids,
    )
    return book_entries(
        session,
        [
            {
                "order_id": o,
                "creator_id": c,
                "kind": K.ACCRUED,
                "event_key": ACCRUE,
                "amount_fen": fen,
                "at": when[o],
            }
            for o, c, fen in rows
        ],
    )


def reverse_commissions(
    session: Session,
    order_ids: npt.ArrayLike,
    event_keys: Sequence[str],
    refunded_fen: npt.ArrayLike,
    *,
    at: datetime | Sequence[datetime],
    line_refunds: Mapping[int, int] | None = None,
) -> int:
    """Take back commission from orders whose buyers got money back: ``refunded_fen[i]`` is
    all that order ``i`` has refunded so far, this event included. Each order's reversals
    then add up to :func:`reversed_total_fen` of that; an order with nothing accrued (unpaid,
    or not sold by a creator) has nothing to reverse. With ``line_refunds`` (what each line
    of these orders has refunded so far, by line id; lines absent refunded nothing), each
    line gives back its own commission's share instead, so a refund of a line sold at a
    higher rate takes back what that line earned. The caller holds the order (or the request
    that refunds it) locked."""
    ids = np.asarray(order_ids, dtype=np.int64)
    if len(ids) == 0:
        return 0
    # the orders are locked first: a cancellation and a refund of one order at once would
    # otherwise both read what was reversed before either booked its share
    fetch_by_ids(session, select(_orders.c.id), _orders.c.id, ids, for_update=True)
    refunded = dict(
        zip(ids.tolist(), np.asarray(refunded_fen, dtype=np.int64).tolist(), strict=True)
    )
    keys = dict(zip(ids.tolist(), event_keys, strict=True))
    when = _times(ids, at)
    signed = case(
        (_entries.c.kind == K.ACCRUED, _entries.c.amount_fen),
        (_entries.c.kind == K.REVERSED, -_entries.c.amount_fen),
        else_=0,
    )
    facts = fetch_by_ids(
        session,
        select(
            _entries.c.order_id,
            _entries.c.creator_id,
            func.sum(case((_entries.c.kind == K.ACCRUED, _entries.c.amount_fen), else_=0)),
            func.sum(signed),
            _orders.c.paid_amount_fen,
        )
        .join(_orders, _orders.c.id == _entries.c.order_id)
        .group_by(_entries.c.order_id, _entries.c.creator_id, _orders.c.paid_amount_fen),
        _entries.c.order_id,
        ids,
    )
    if not facts:
        return 0
    order, creator, accrued, remaining, paid = (
        np.array(col, dtype=np.int64) for col in zip(*facts, strict=True)
    )
    target = reversed_total_fen(accrued, [refunded[o] for o in order.tolist()], paid)
    if line_refunds is not None:
        by_order = _by_line_targets(session, order, line_refunds)
        fully = np.asarray([refunded[o] for o in order.tolist()]) >= paid
        target = np.where(fully, target, [by_order.get(o, 0) for o in order.tolist()])
        target = np.minimum(target, accrued)
    amount = target - (accrued - remaining)
    return book_entries(
        session,
        [
            {
                "order_id": int(o),
                "creator_id": int(c),
                "kind": K.REVERSED,
                "event_key": keys[int(o)],
                "amount_fen": int(a),
                "at": when[int(o)],
            }
            for o, c, a in zip(order, creator, amount, strict=True)
            if a > 0
        ],
    )


def _by_line_targets(
    session: Session, order_ids: IntArray, line_refunds: Mapping[int, int]
) -> dict[int, int]:
    """Each order's commission to reverse in all, line by line: each line's
    :func:`reversed_total_fen` of what it refunded."""
    lines = fetch_by_ids(
        session,
        select(_lines.c.order_id, _lines.c.id, _lines.c.commission_fen, _lines.c.paid_amount_fen),
        _lines.c.order_id,
        order_ids,
    )
    if not lines:
        return {}
    order, line, commission, paid = (np.array(c, dtype=np.int64) for c in zip(*lines, strict=True))
    refunded = [line_refunds.get(n, 0) for n in line.tolist()]
    share = reversed_total_fen(commission, refunded, paid) * (np.asarray(refunded) > 0)
    totals: dict[int, int] = {}
    for o, amount in zip(order.tolist(), share.tolist(), strict=True):
        totals[o] = totals.get(o, 0) + int(amount)
    return totals


@dataclass(frozen=True)
class CommissionStatement:
    """A creator's commission over ``[start, end)``: what was accrued, reversed and settled
    in the period, and what was pending (accrued, not yet reversed or settled) at each end."""

    creator_id: int
    start: datetime
    end: datetime
    accrued_fen: int
    reversed_fen: int
    settled_fen: int
    pending_at_start_fen: int
    pending_at_end_fen: int
    orders: int


def statement(
    session: Session, *, creator_id: int, start: datetime, end: datetime
) -> CommissionStatement:
    """Sum the creator's entries for the period, in one pass over its index. A period ends
    after it starts."""
    if end <= start:
        raise InvalidInput(
            f"the period must end after it starts (start {start.isoformat()},"
            f" end {end.isoformat()})"
        )
    e = _entries.c
    pending = case((e.kind == K.ACCRUED, e.amount_fen), else_=-e.amount_fen)
    in_period = (e.at >= start) & (e.at < end)
    row = session.execute(
        select(
            func.coalesce(
                func.sum(case((in_period & (e.kind == K.ACCRUED), e.amount_fen), else_=0)), 0
            ),
            func.coalesce(
                func.sum(case((in_period & (e.kind == K.REVERSED), e.amount_fen), else_=0)), 0
            ),
            func.coalesce(
                func.sum(case((in_period & (e.kind == K.SETTLED), e.amount_fen), else_=0)), 0
            ),
            func.coalesce(func.sum(case((e.at < start, pending), else_=0)), 0),
            func.coalesce(func.sum(pending), 0),
            func.count(func.distinct(case((in_period, e.order_id)))),
        ).where(e.creator_id == creator_id, e.at < end)
    ).one()
    accrued, reversed_, settled, pending_start, pending_end, orders = (int(v) for v in row)
    return CommissionStatement(
        creator_id=creator_id,
        start=start,
        end=end,
        accrued_fen=accrued,
        reversed_fen=reversed_,
        settled_fen=settled,
        pending_at_start_fen=pending_start,
        pending_at_end_fen=pending_end,
        orders=orders,
    )
