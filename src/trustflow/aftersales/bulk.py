"""Set-based after-sales actions: many requests, their handling, reviews and chats."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from trustflow.accounts.models import Buyer
from trustflow.aftersales import rules
from trustflow.aftersales.models import (
    AfterSalesEvent,
    AfterSalesKind,
    AfterSalesReason,
    AfterSalesRequest,
    AfterSalesStatus,
    ChatThread,
    DisputeOutcome,
    ResponsibleParty,
    Review,
)
from trustflow.aftersales.service import MAX_TAGS, line_refunds, refunded_totals
from trustflow.bulk import (
    IntArray,
    execute_many,
    fetch_by_ids,
    fetch_map,
    insert_many,
    insert_returning_ids,
    require_all_exist,
    table,
)
from trustflow.catalog.models import Shop
from trustflow.errors import InvalidInput
from trustflow.orders import commission
from trustflow.orders import rules as order_rules
from trustflow.orders.models import Order, OrderLine, OrderStatus

__all__ = [
    "advance_requests",
    "record_chats",
    "request_after_sales",
    "submit_reviews",
]

A = AfterSalesStatus
_orders, _requests, _events = table(Order), table(AfterSalesRequest), table(AfterSalesEvent)
_lines = table(OrderLine)


def _lines_of(session: Session, order_ids: IntArray, column: Any) -> dict[tuple[int, int], Any]:
    """Each line of these orders by (order id, line number): its id and ``column``."""
    return {
        (order_id, line_no): (line_id, value)
        for order_id, line_no, line_id, value in fetch_by_ids(
            session,
            select(_lines.c.order_id, _lines.c.line_no, _lines.c.id, column),
            _lines.c.order_id,
            order_ids,
        )
    }


def _line_numbers(line_no: IntArray | None, n: int) -> list[int]:
    if line_no is None:
        return [1] * n
    return [int(x) for x in np.asarray(line_no, dtype=np.int64)]


def request_after_sales(
    session: Session,
    order_ids: IntArray,
    kinds: Sequence[AfterSalesKind],
    reasons: Sequence[AfterSalesReason],
    at: Sequence[datetime],
    *,
    actor: rules.Actor,
    line_no: IntArray | None = None,
) -> IntArray:
    """Open requests for many orders at once, each for the whole of one line of its order
    (``line_no``, the first if None); returns the new ids (0 where refused).

    Refused, as one at a time: orders not yet shipped, out of the after-sales window, no-reason
    returns after 7 days or as refund-only, lines that do not exist and lines that already
    have an open request.
    """
    ids = np.asarray(order_ids, dtype=np.int64)
    facts = fetch_map(
        session,
        select(
            _orders.c.id,
            _orders.c.status,
            _orders.c.delivered_at,
            _orders.c.shop_id,
            _orders.c.buyer_id,
            _orders.c.creator_id,
        ),
        _orders.c.id,
        ids,
        for_update=True,
    )
    lines = _lines_of(session, ids, _lines.c.paid_amount_fen)
    busy = {
        line_id
        for (line_id,) in fetch_by_ids(
            session,
            select(_requests.c.line_id).where(_requests.c.status.in_(rules.OPEN_STATES)),
            _requests.c.order_id,
            ids,
        )
    }
    refunded = line_refunds(session, ids)
    rows: list[dict[str, Any]] = []
    accepted: list[int] = []
    numbers = _line_numbers(line_no, len(ids))
    for i, order_id in enumerate(ids.tolist()):
        order, line = facts.get(order_id), lines.get((order_id, numbers[i]))
        kind, reason, when = kinds[i], reasons[i], at[i]
        if order is None or line is None or order[1] not in order_rules.AFTER_SALES_OPEN_FROM:
            continue
        line_id, line_paid = line
        if line_id in busy:
            continue
        delivered = order[2]
        if delivered is not None and when - delivered > rules.AFTER_SALES_WINDOW:
            continue
        if reason is AfterSalesReason.NO_REASON_7DAY and (
            kind is AfterSalesKind.REFUND_ONLY
            or delivered is None
            or when - delivered > rules.NO_REASON_RETURN_WINDOW
        ):
            continue
        busy.add(line_id)
        refund = 0 if kind is AfterSalesKind.EXCHANGE else line_paid - refunded.get(line_id, 0)
        if kind is not AfterSalesKind.EXCHANGE and refund <= 0:
            continue  # refunded in full, as one at a time refuses
        rows.append(
            {
                "order_id": order_id,
                "line_id": line_id,
                "quantity": None,
                "shop_id": order[3],
                "buyer_id": order[4],
                "kind": kind,
                "reason": reason,
                "responsible_party": rules.presumed_responsible(
                    reason, sold_by_creator=order[5] is not None
                ),
                "status": A.REQUESTED,
                "refund_fen": max(refund, 0),
                "note": "",
                "dispute_outcome": None,
                "created_at": when,
                "updated_at": when,
            }
        )
        accepted.append(i)
    result = np.zeros(len(ids), dtype=np.int64)
    result[accepted] = new_ids = insert_returning_ids(session, _requests, rows)
    insert_many(
        session,
        _events,
        [
            rules.transition_event(int(rid), "request", None, A.REQUESTED, actor, row["created_at"])
            for rid, row in zip(new_ids, rows, strict=True)
        ],
    )
    return result


_MOVE = (
    update(_requests)
    .where(_requests.c.id == bindparam("rid"), _requests.c.status == bindparam("from_status"))
    .values(
        status=bindparam("to_status"),
        handled_at=func.coalesce(_requests.c.handled_at, bindparam("handled_at")),
        resolved_at=bindparam("resolved_at"),
        dispute_outcome=func.coalesce(bindparam("outcome"), _requests.c.dispute_outcome),
        responsible_party=func.coalesce(bindparam("responsible"), _requests.c.responsible_party),
        updated_at=bindparam("at"),
    )
)


def advance_requests(
    session: Session,
    request_ids: IntArray,
    action: str,
    at: datetime,
    *,
    actor: rules.Actor,
    outcome: DisputeOutcome | None = None,
    responsible_party: ResponsibleParty | None = None,
) -> IntArray:
    """Apply one named action to many requests; returns the ids it applied to. Each move
    writes the same trail event as the one-at-a-time action."""
    if action not in rules.TRANSITIONS.moves:
        raise InvalidInput(f"unknown after-sales action {action!r}")
    if (action == "arbitrate") != (outcome is not None and responsible_party is not None):
        raise InvalidInput(
            "arbitration, and only arbitration, takes an outcome and a responsible party"
        )
    if outcome is DisputeOutcome.BUYER_WON and responsible_party is ResponsibleParty.BUYER:
        raise InvalidInput("a dispute the buyer won cannot be the buyer's fault")
    facts = fetch_by_ids(
        session,
        select(_requests.c.id, _requests.c.status, _requests.c.kind, _requests.c.order_id),
        _requests.c.id,
        request_ids,
        for_update=True,
    )
    params, events, refunded = [], [], {}
    for rid, status, kind, order_id in facts:
        if not rules.TRANSITIONS.allows(action, status):
            continue
        target = rules.target_after(action, kind, outcome)
        params.append(
            {
                "rid": rid,
                "from_status": status,
                "to_status": target,
                "handled_at": at if action in rules.HANDLING_ACTIONS else None,
                "resolved_at": at if target in rules.TERMINAL_STATES else None,
                "outcome": outcome,
                "responsible": responsible_party,
                "at": at,
            }
        )
        events.append(rules.transition_event(rid, action, status, target, actor, at))
        if target is A.REFUNDED:
            refunded[order_id] = rid
    execute_many(session, _MOVE, params)
    insert_many(session, _events, events)
    if refunded:  # as one at a time: each refund takes its share of the commission back
        orders = np.fromiter(refunded, dtype=np.int64, count=len(refunded))
        # locked before what they refunded is read, as one at a time
        fetch_by_ids(session, select(_orders.c.id), _orders.c.id, orders, for_update=True)
        totals = refunded_totals(session, orders)
        commission.reverse_commissions(
            session,
            orders,
            [commission.reverse_key(refunded[o]) for o in orders.tolist()],
            [totals.get(o, 0) for o in orders.tolist()],
            at=at,
            line_refunds=line_refunds(session, orders),
        )
    return np.array([p["rid"] for p in params], dtype=np.int64)


def submit_reviews(
    session: Session,
    order_ids: IntArray,
    stars: IntArray,
    at: Sequence[datetime],
    tags: Sequence[Sequence[str]] | None = None,
    line_no: IntArray | None = None,
) -> IntArray:
    """Reviews of one line each of delivered orders, or of undelivered ones past their
    promised delivery (``line_no``, the first if None); refused (0) where the order is not
    reviewable at the review's time (:func:`~trustflow.orders.rules.reviewable`), has no such
    line, the line is reviewed, or the order was delivered after the review's time."""
    ids = np.asarray(order_ids, dtype=np.int64)
    stars = np.asarray(stars, dtype=np.int64)
    if ((stars < 1) | (stars > 5)).any():
        raise InvalidInput("stars must be 1..5")
    if tags is not None and any(len(t) > MAX_TAGS for t in tags):
        raise InvalidInput(f"at most {MAX_TAGS} tags")
    reviews = table(Review)
    facts = fetch_map(
        session,
        select(
            _orders.c.id,
            _orders.c.status,
            _orders.c.buyer_id,
            _orders.c.shop_id,
            _orders.c.creator_id,
            _orders.c.delivered_at,
            _orders.c.deliver_by,
        ),
        _orders.c.id,
        ids,
    )
    lines = _lines_of(session, ids, _lines.c.product_id)
    done = {r[0] for r in fetch_by_ids(session, select(reviews.c.line_id), reviews.c.order_id, ids)}
    rows, accepted = [], []
    numbers = _line_numbers(line_no, len(ids))
    for i, order_id in enumerate(ids.tolist()):
        order, line = facts.get(order_id), lines.get((order_id, numbers[i]))
        if (
            order is None
            or line is None
            or not order_rules.reviewable(OrderStatus(order[1]), order[6], at[i])
        ):
            continue
        line_id, product_id = line
        if line_id in done:
            continue
        if order[5] is not None and at[i] < order[5]:  # before delivery, as one at a time
            continue
        done.add(line_id)
        rows.append(
            {
                "order_id": order_id,
                "line_id": line_id,
                "buyer_id": order[2],
                "product_id": product_id,
                "shop_id": order[3],
                "creator_id": order[4],
                "stars": int(stars[i]),
                "text": "",
                "tags": list(tags[i]) if tags is not None else [],
                "created_at": at[i],
            }
        )
        accepted.append(i)
    result = np.zeros(len(ids), dtype=np.int64)
    result[accepted] = insert_returning_ids(session, reviews, rows)
    return result


def record_chats(
    session: Session,
    buyer_ids: IntArray,
    shop_ids: IntArray,
    first_message_at: Sequence[datetime],
    response_seconds: IntArray,
) -> int:
    """Buyer–shop conversations and how fast the shop first answered (-1: not yet); returns
    how many were recorded. Refused, as one at a time: a chat beyond the buyer's
    :data:`rules.CHATS_PER_SHOP_PER_DAY` with that shop in 24 hours."""
    seconds = np.asarray(response_seconds, dtype=np.int64)
    buyers = np.asarray(buyer_ids, dtype=np.int64)
    shops = np.asarray(shop_ids, dtype=np.int64)
    require_all_exist(session, table(Buyer), buyers, "buyer")
    require_all_exist(session, table(Shop), shops, "shop")
    if len(first_message_at) == 0:
        return 0
    chats = table(ChatThread)
    opened: dict[tuple[int, int], list[datetime]] = {}
    for buyer, shop, at in fetch_by_ids(
        session,
        select(chats.c.buyer_id, chats.c.shop_id, chats.c.first_message_at).where(
            chats.c.first_message_at > min(first_message_at) - rules.CHAT_LIMIT_WINDOW,
            chats.c.first_message_at <= max(first_message_at),
        ),
        chats.c.buyer_id,
        buyers,
    ):
        opened.setdefault((buyer, shop), []).append(at)
    rows = []
    for i in sorted(range(len(buyers)), key=first_message_at.__getitem__):
        b, s, t, r = int(buyers[i]), int(shops[i]), first_message_at[i], int(seconds[i])
        earlier = opened.setdefault((b, s), [])
        if rules.chat_wait(earlier, t) > timedelta(0):
            continue
        earlier.append(t)
        rows.append(
            {
                "buyer_id": b,
                "shop_id": s,
                "order_id": None,
                "first_message_at": t,
                "first_response_at": t + timedelta(seconds=r) if r >= 0 else None,
                "first_response_seconds": r if r >= 0 else None,
                "updated_at": t + timedelta(seconds=r) if r >= 0 else t,
            }
        )
    insert_many(session, chats, rows)
    return len(rows)
