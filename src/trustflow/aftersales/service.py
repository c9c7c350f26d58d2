"""After-sales requests, reviews and chat response times, as named actions."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
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
from trustflow.bulk import IntArray, fetch_by_ids, table
from trustflow.catalog import service as catalog_service
from trustflow.db import get_or_raise, utcnow
from trustflow.errors import Conflict, ErrorCode, IllegalTransition, InvalidInput, NotFound
from trustflow.orders import commission
from trustflow.orders import rules as order_rules
from trustflow.orders import service as orders_service
from trustflow.orders.models import OrderLine
from trustflow.units import HOUR

__all__ = [
    "MAX_TAGS",
    "approve",
    "arbitrate",
    "escalate",
    "get_chat",
    "get_request",
    "line_refunds",
    "open_chat",
    "refunded_totals",
    "reject",
    "request_after_sales",
    "request_events",
    "respond_chat",
    "return_received",
    "return_shipped",
    "submit_review",
    "withdraw",
]

A = AfterSalesStatus
MAX_TAGS = 10


def refunded_totals(session: Session, order_ids: Sequence[int] | IntArray) -> dict[int, int]:
    """What each order has refunded so far, over its requests that ended refunded (orders
    with none are absent). The one-at-a-time actions, the bulk path and the import ask here."""
    requests = table(AfterSalesRequest)
    return dict(
        fetch_by_ids(
            session,
            select(requests.c.order_id, func.sum(requests.c.refund_fen))
            .where(requests.c.status == A.REFUNDED)
            .group_by(requests.c.order_id),
            requests.c.order_id,
            order_ids,
        )
    )


def line_refunds(session: Session, order_ids: Sequence[int] | IntArray) -> dict[int, int]:
    """What each line of these orders has refunded so far, by line id (lines that refunded
    nothing are absent)."""
    requests = table(AfterSalesRequest)
    return dict(
        fetch_by_ids(
            session,
            select(requests.c.line_id, func.sum(requests.c.refund_fen))
            .where(requests.c.status == A.REFUNDED)
            .group_by(requests.c.order_id, requests.c.line_id),
            requests.c.order_id,
            order_ids,
        )
    )


def _refunded_so_far(session: Session, order_id: int) -> int:
    session.flush()
    return int(refunded_totals(session, [order_id]).get(order_id, 0))


def _line_of(session: Session, order_id: int, line_id: int | None) -> OrderLine:
    """The line a request or a review is about: the one named, which must be the order's,
    or the order's only line."""
    lines = orders_service.order_lines(session, order_id)
    if line_id is None:
        if len(lines) != 1:
            raise InvalidInput(f"order {order_id} has {len(lines)} lines: name the line_id")
        return lines[0]
    for line in lines:
        if line.id == line_id:
            return line
    raise NotFound(f"line {line_id} of order {order_id} not found")


def _line_refunded(session: Session, line: OrderLine) -> tuple[int, int]:
    """What the line has refunded so far: money and units (a request for the whole line
    counts all its units)."""
    session.flush()
    money, units = session.execute(
        select(
            func.coalesce(func.sum(AfterSalesRequest.refund_fen), 0),
            func.coalesce(func.sum(func.coalesce(AfterSalesRequest.quantity, line.quantity)), 0),
        ).where(AfterSalesRequest.line_id == line.id, AfterSalesRequest.status == A.REFUNDED)
    ).one()
    return int(money), int(units)


def request_after_sales(
    session: Session,
    *,
    order_id: int,
    kind: AfterSalesKind,
    reason: AfterSalesReason,
    refund_fen: int | None = None,
    line_id: int | None = None,
    quantity: int | None = None,
    actor: rules.Actor,
    note: str = "",
    at: datetime | None = None,
) -> AfterSalesRequest:
    """A buyer opens a request on a line of a shipped order (the order's only line if it
    names none), for ``quantity`` of its units (all those not refunded yet if None). One
    open request per line at a time. Unless the buyer asks for less, the refund is what the
    units cost the buyer: the line's payment shared by unit, counted on all the line has
    refunded so far, so refunds of every unit in parts give back exactly the line's
    payment."""
    at = at or utcnow()
    order = orders_service.get_order(session, order_id, for_update=True)
    if order.status not in order_rules.AFTER_SALES_OPEN_FROM:
        raise IllegalTransition("order", order.status.value, "open after-sales")
    if order.delivered_at is not None and at - order.delivered_at > rules.AFTER_SALES_WINDOW:
        raise Conflict("the after-sales window for this order has closed")
    if reason is AfterSalesReason.NO_REASON_7DAY and (
        order.delivered_at is None or at - order.delivered_at > rules.NO_REASON_RETURN_WINDOW
    ):
        raise Conflict("no-reason returns are accepted within 7 days of delivery")
    if reason is AfterSalesReason.NO_REASON_7DAY and kind is AfterSalesKind.REFUND_ONLY:
        raise InvalidInput("a no-reason return sends the goods back: use return_refund")
    line = _line_of(session, order_id, line_id)
    open_request = session.scalar(
        select(AfterSalesRequest.id).where(
            AfterSalesRequest.order_id == order_id,
            AfterSalesRequest.line_id == line.id,
            AfterSalesRequest.status.in_(rules.OPEN_STATES),
        )
    )
    if open_request is not None:
        raise Conflict(
            f"line {line.id} of order {order_id} already has open request {open_request}",
            code=ErrorCode.DUPLICATE,
        )
    refunded_fen, refunded_units = _line_refunded(session, line)
    # an exchange may be of any unit; a refund only of those not refunded yet
    left = line.quantity if kind is AfterSalesKind.EXCHANGE else line.quantity - refunded_units
    if left <= 0:
        raise InvalidInput(f"line {line.id} of order {order_id} is refunded in full")
    if quantity is not None:
        units = quantity
    elif refund_fen is not None and kind is not AfterSalesKind.EXCHANGE:
        # an amount without units is about the fewest units it pays for
        units = rules.units_refunded_by(
            refund_fen, line.paid_amount_fen, line.quantity, refunded_units, left
        )
    else:
        units = left
    if not 1 <= units <= left:
        raise InvalidInput(f"quantity must be in 1..{left}")
    # never more than what those units cost the buyer, nor than the line has left to give
    due = min(
        rules.unit_refund_fen(line.paid_amount_fen, line.quantity, refunded_units, units),
        line.paid_amount_fen - refunded_fen,
    )
    if kind is AfterSalesKind.EXCHANGE:
        refund_fen = 0
    elif refund_fen is None:
        refund_fen = due
    if not 0 <= refund_fen <= due:
        raise InvalidInput(f"refund_fen must be in 0..{due} for {units} of the line's units")
    request = AfterSalesRequest(
        order_id=order_id,
        line_id=line.id,
        quantity=units,
        shop_id=order.shop_id,
        buyer_id=order.buyer_id,
        kind=kind,
        reason=reason,
        responsible_party=rules.presumed_responsible(
            reason, sold_by_creator=order.creator_id is not None
        ),
        refund_fen=refund_fen,
        note=note,
        created_at=at,
        updated_at=at,
    )
    session.add(request)
    session.flush()
    _record(session, rules.transition_event(request.id, "request", None, A.REQUESTED, actor, at))
    session.flush()
    return request


def get_request(
    session: Session, request_id: int, *, for_update: bool = False
) -> AfterSalesRequest:
    stmt = select(AfterSalesRequest).where(AfterSalesRequest.id == request_id)
    if for_update:
        stmt = stmt.with_for_update()
    request = session.scalars(stmt, execution_options={"populate_existing": for_update}).first()
    if request is None:
        raise NotFound(f"after-sales request {request_id} not found")
    return request


def _move(
    session: Session,
    request_id: int,
    action: str,
    *,
    actor: rules.Actor,
    at: datetime,
    outcome: DisputeOutcome | None = None,
) -> AfterSalesRequest:
    """Check the action against the request's state, move it, and write the trail's event."""
    request = get_request(session, request_id, for_update=True)
    rules.TRANSITIONS.require(action, request.status)
    target = rules.target_after(action, request.kind, outcome)
    _record(session, rules.transition_event(request.id, action, request.status, target, actor, at))
    request.status = target
    request.updated_at = at
    if action in rules.HANDLING_ACTIONS:
        request.handled_at = at
    if target in rules.TERMINAL_STATES:
        request.resolved_at = at
    session.flush()
    if target is A.REFUNDED:  # the refunded share of the payment takes its commission back
        # what the order refunded is read once the order is locked: a refund of another of
        # its lines approved at the same time is then either seen in full or not yet begun
        orders_service.get_order(session, request.order_id, for_update=True)
        commission.reverse_commissions(
            session,
            [request.order_id],
            [commission.reverse_key(request.id)],
            [_refunded_so_far(session, request.order_id)],
            at=at,
            line_refunds=line_refunds(session, [request.order_id]),
        )
    return request


def _record(session: Session, event: dict[str, Any]) -> None:
    session.add(AfterSalesEvent(**event))


def approve(
    session: Session, *, request_id: int, actor: rules.Actor, at: datetime | None = None
) -> AfterSalesRequest:
    """The merchant accepts: refund-only requests are refunded at once."""
    return _move(session, request_id, "approve", actor=actor, at=at or utcnow())


def reject(
    session: Session,
    *,
    request_id: int,
    actor: rules.Actor,
    note: str = "",
    at: datetime | None = None,
) -> AfterSalesRequest:
    request = _move(session, request_id, "reject", actor=actor, at=at or utcnow())
    if note:
        request.note = note
        session.flush()
    return request


def withdraw(
    session: Session, *, request_id: int, actor: rules.Actor, at: datetime | None = None
) -> AfterSalesRequest:
    return _move(session, request_id, "withdraw", actor=actor, at=at or utcnow())


def escalate(
    session: Session, *, request_id: int, actor: rules.Actor, at: datetime | None = None
) -> AfterSalesRequest:
    """The buyer disputes a rejection; the platform will arbitrate."""
    return _move(session, request_id, "escalate", actor=actor, at=at or utcnow())


def arbitrate(
    session: Session,
    *,
    request_id: int,
    outcome: DisputeOutcome,
    responsible_party: ResponsibleParty,
    actor: rules.Actor,
    at: datetime | None = None,
) -> AfterSalesRequest:
    """The platform settles a dispute. If the buyer wins, the request proceeds as approved and
    the merchant has lost a dispute (it counts in the service score)."""
    if outcome is DisputeOutcome.BUYER_WON and responsible_party is ResponsibleParty.BUYER:
        raise InvalidInput("a dispute the buyer won cannot be the buyer's fault")
    request = _move(
        session, request_id, "arbitrate", actor=actor, at=at or utcnow(), outcome=outcome
    )
    request.dispute_outcome = outcome
    request.responsible_party = responsible_party
    session.flush()
    return request


def return_shipped(
    session: Session, *, request_id: int, actor: rules.Actor, at: datetime | None = None
) -> AfterSalesRequest:
    return _move(session, request_id, "return_shipped", actor=actor, at=at or utcnow())


def return_received(
    session: Session, *, request_id: int, actor: rules.Actor, at: datetime | None = None
) -> AfterSalesRequest:
    return _move(session, request_id, "return_received", actor=actor, at=at or utcnow())


def request_events(session: Session, request_id: int) -> Sequence[AfterSalesEvent]:
    """The request's trail, oldest first."""
    return session.scalars(
        select(AfterSalesEvent)
        .where(AfterSalesEvent.request_id == request_id)
        .order_by(AfterSalesEvent.id)
    ).all()


def submit_review(
    session: Session,
    *,
    order_id: int,
    stars: int,
    line_id: int | None = None,
    text: str = "",
    tags: Sequence[str] = (),
    at: datetime | None = None,
) -> Review:
    """One review per line of a delivered order, or of one still undelivered past its
    promised delivery (:func:`~trustflow.orders.rules.reviewable`; the order's only line if
    it names none); the first one is the one that counts."""
    order = orders_service.get_order(session, order_id)
    at = at or utcnow()
    if not order_rules.reviewable(order.status, order.deliver_by, at):
        raise IllegalTransition("order", order.status.value, "be reviewed")
    if not 1 <= stars <= 5:
        raise InvalidInput("stars must be 1..5")
    if len(tags) > MAX_TAGS:
        raise InvalidInput(f"at most {MAX_TAGS} tags")
    line = _line_of(session, order_id, line_id)
    if session.scalar(select(Review.id).where(Review.line_id == line.id)) is not None:
        raise Conflict(
            f"line {line.id} of order {order_id} is already reviewed", code=ErrorCode.DUPLICATE
        )
    if order.delivered_at is not None and at < order.delivered_at:
        raise Conflict(
            f"order {order_id} was delivered at {order.delivered_at.isoformat()}: a review"
            " cannot come before it",
            code=ErrorCode.EVENT_OUT_OF_ORDER,
        )
    review = Review(
        order_id=order_id,
        line_id=line.id,
        buyer_id=order.buyer_id,
        product_id=line.product_id,
        shop_id=order.shop_id,
        creator_id=order.creator_id,
        stars=stars,
        text=text,
        tags=list(dict.fromkeys(tags)),
        created_at=at,
    )
    session.add(review)
    session.flush()
    return review


def open_chat(
    session: Session,
    *,
    buyer_id: int,
    shop_id: int,
    order_id: int | None = None,
    at: datetime | None = None,
) -> ChatThread:
    """A buyer starts a conversation with a shop, about an order of theirs or before buying.
    At most :data:`rules.CHATS_PER_SHOP_PER_DAY` threads with one shop in any 24 hours: each
    one the shop leaves unanswered counts against its service score."""
    catalog_service.get_shop(session, shop_id)
    if order_id is not None:
        order = orders_service.get_order(session, order_id)
        if order.buyer_id != buyer_id:  # another buyer's order: answered as a missing one
            raise NotFound(f"order {order_id} not found")
        if order.shop_id != shop_id:
            raise InvalidInput(f"order {order_id} is not with shop {shop_id}")
    at = at or utcnow()
    # the buyer's row is locked so that concurrent requests queue for the count
    if session.get(Buyer, buyer_id, with_for_update=True) is None:
        raise NotFound(f"buyer {buyer_id} not found")
    opened = session.scalars(
        select(ChatThread.first_message_at).where(
            ChatThread.buyer_id == buyer_id,
            ChatThread.shop_id == shop_id,
            ChatThread.first_message_at > at - rules.CHAT_LIMIT_WINDOW,
        )
    )
    wait = rules.chat_wait(opened, at)
    if wait > timedelta(0):
        raise Conflict(
            f"a buyer opens at most {rules.CHATS_PER_SHOP_PER_DAY} chats with one shop a day",
            code=ErrorCode.BUYER_LIMIT_REACHED,
            limit=rules.CHATS_PER_SHOP_PER_DAY,
            window_hours=int(rules.CHAT_LIMIT_WINDOW.total_seconds()) // HOUR,
            retry_after_seconds=math.ceil(wait.total_seconds()),
        )
    thread = ChatThread(
        buyer_id=buyer_id, shop_id=shop_id, order_id=order_id, first_message_at=at, updated_at=at
    )
    session.add(thread)
    session.flush()
    return thread


def get_chat(session: Session, thread_id: int) -> ChatThread:
    return get_or_raise(session, ChatThread, thread_id, "chat")


def respond_chat(session: Session, *, thread_id: int, at: datetime | None = None) -> ChatThread:
    """The shop's first answer; later answers do not change the first response time."""
    at = at or utcnow()
    thread = get_chat(session, thread_id)
    if thread.first_response_at is None:
        if at < thread.first_message_at:
            raise InvalidInput("a response cannot precede the buyer's message")
        thread.first_response_at = at
        thread.first_response_seconds = int((at - thread.first_message_at).total_seconds())
        thread.updated_at = at
        session.flush()
    return thread
