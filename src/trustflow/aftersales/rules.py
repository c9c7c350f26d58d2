"""After-sales rules: the request's state machine and the trail it leaves, who is presumed
responsible, and how many chats one buyer may open with one shop.

Every action that opens or moves a request writes one :class:`AfterSalesEvent` in the same
transaction: from which state to which, who took it (buyer, merchant, service provider or the
platform, with their id where there is one) and when. The service and the bulk path build the
row with :func:`transition_event`, so both leave the same trail.

The responsible party decides whose score a defect counts against. It starts from the
buyer's stated reason and is settled by arbitration when the merchant disputes it.

Chats feed the shop's ``slow_chat_rate``, so one buyer may open at most
:data:`CHATS_PER_SHOP_PER_DAY` threads with one shop in any 24 hours (refused with 409
``buyer_limit_reached``, the wait in the details); the score itself counts each buyer once per
shop (docs/scores.md, "Abuse resistance").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from trustflow.accounts.models import Role
from trustflow.accounts.principal import Principal
from trustflow.aftersales.models import (
    ActorRole,
    AfterSalesKind,
    AfterSalesReason,
    AfterSalesStatus,
    DisputeOutcome,
    ResponsibleParty,
)
from trustflow.state_machine import StateMachine, move

__all__ = [
    "AFTER_SALES_WINDOW",
    "CHATS_PER_SHOP_PER_DAY",
    "CHAT_LIMIT_WINDOW",
    "HANDLING_ACTIONS",
    "NO_REASON_RETURN_WINDOW",
    "OPEN_STATES",
    "PRESUMED_RESPONSIBLE",
    "TERMINAL_STATES",
    "TRANSITIONS",
    "Actor",
    "chat_wait",
    "presumed_responsible",
    "target_after",
    "transition_event",
    "unit_refund_fen",
    "units_refunded_by",
]

A = AfterSalesStatus
K = AfterSalesKind

#: Each named action, the states it may start from and those it may lead to; which one
#: depends on the request's kind (and an arbitration's outcome): see :func:`target_after`.
TRANSITIONS: StateMachine[AfterSalesStatus] = StateMachine(
    "after-sales request",
    {
        "approve": move({A.REQUESTED}, A.REFUNDED, A.AWAITING_RETURN),
        "reject": move({A.REQUESTED}, A.REJECTED),
        "withdraw": move({A.REQUESTED, A.REJECTED, A.AWAITING_RETURN}, A.WITHDRAWN),
        "escalate": move({A.REJECTED}, A.ESCALATED),
        "arbitrate": move({A.ESCALATED}, A.REFUNDED, A.AWAITING_RETURN, A.CLOSED),
        "return_shipped": move({A.AWAITING_RETURN}, A.RETURNED),
        "return_received": move({A.RETURNED}, A.REFUNDED, A.EXCHANGED),
    },
)

OPEN_STATES = frozenset(
    {A.REQUESTED, A.APPROVED, A.REJECTED, A.AWAITING_RETURN, A.RETURNED, A.ESCALATED}
)
#: Actions that answer a request; the first stamps ``handled_at`` (the merchant's handling time).
HANDLING_ACTIONS = frozenset({"approve", "reject"})
#: States a request ends in; reaching one stamps ``resolved_at``.
TERMINAL_STATES = frozenset({A.REFUNDED, A.EXCHANGED, A.CLOSED, A.WITHDRAWN})

#: Within this time of delivery a buyer may return without giving a reason (七天无理由退货).
NO_REASON_RETURN_WINDOW = timedelta(days=7)
#: After-sales may be requested up to this long after delivery.
AFTER_SALES_WINDOW = timedelta(days=15)

PRESUMED_RESPONSIBLE: dict[AfterSalesReason, ResponsibleParty] = {
    AfterSalesReason.QUALITY: ResponsibleParty.MERCHANT,
    AfterSalesReason.NOT_AS_DESCRIBED: ResponsibleParty.MERCHANT,
    AfterSalesReason.COUNTERFEIT: ResponsibleParty.MERCHANT,
    AfterSalesReason.WRONG_ITEM: ResponsibleParty.MERCHANT,
    AfterSalesReason.DAMAGED_IN_TRANSIT: ResponsibleParty.CARRIER,
    AfterSalesReason.LATE_DELIVERY: ResponsibleParty.CARRIER,
    AfterSalesReason.NO_REASON_7DAY: ResponsibleParty.BUYER,
    AfterSalesReason.CHANGED_MIND: ResponsibleParty.BUYER,
    AfterSalesReason.OTHER: ResponsibleParty.UNDETERMINED,
}


def presumed_responsible(reason: AfterSalesReason, *, sold_by_creator: bool) -> ResponsibleParty:
    """Who a defect is presumed to be down to, before any arbitration.

    Goods "not as described" on an order a creator sold were described by the creator's
    content, so the presumption falls on the creator; everything else follows the reason.
    """
    if sold_by_creator and reason is AfterSalesReason.NOT_AS_DESCRIBED:
        return ResponsibleParty.CREATOR
    return PRESUMED_RESPONSIBLE[reason]


def after_approval(kind: AfterSalesKind) -> AfterSalesStatus:
    """A refund-only request is refunded on approval; the others wait for the goods back."""
    return A.REFUNDED if kind is K.REFUND_ONLY else A.AWAITING_RETURN


def after_return_received(kind: AfterSalesKind) -> AfterSalesStatus:
    return A.EXCHANGED if kind is K.EXCHANGE else A.REFUNDED


def target_after(
    action: str, kind: AfterSalesKind, outcome: DisputeOutcome | None = None
) -> AfterSalesStatus:
    """Where an allowed action takes a request of this kind: an arbitration the buyer won
    proceeds as an approval, one the merchant won closes the request."""
    if action == "approve" or (action == "arbitrate" and outcome is DisputeOutcome.BUYER_WON):
        return after_approval(kind)
    return {
        "reject": A.REJECTED,
        "withdraw": A.WITHDRAWN,
        "escalate": A.ESCALATED,
        "arbitrate": A.CLOSED,
        "return_shipped": A.RETURNED,
        "return_received": after_return_received(kind),
    }[action]


_ACTOR_ROLE: dict[Role, ActorRole] = {
    Role.BUYER: ActorRole.BUYER,
    Role.MERCHANT: ActorRole.MERCHANT,
    Role.SERVICE_PROVIDER: ActorRole.SERVICE_PROVIDER,
    Role.CREATOR: ActorRole.CREATOR,
    Role.OPERATOR: ActorRole.PLATFORM,
}


@dataclass(frozen=True)
class Actor:
    """Who takes an after-sales action: a role, and the buyer's, merchant's or service
    provider's id where one is known."""

    role: ActorRole
    id: int | None = None

    @classmethod
    def of(cls, principal: Principal) -> Actor:
        """The actor behind an API caller: an operator acts for the platform."""
        return cls(_ACTOR_ROLE[principal.role], principal.subject_id)


def transition_event(
    request_id: int,
    action: str,
    from_status: AfterSalesStatus | None,
    to_status: AfterSalesStatus,
    actor: Actor,
    at: datetime,
) -> dict[str, Any]:
    """The trail's row for one action on one request (``from_status`` is None when the action
    opened it)."""
    return {
        "request_id": request_id,
        "action": action,
        "from_status": None if from_status is None else from_status.value,
        "to_status": to_status.value,
        "actor_role": actor.role,
        "actor_id": actor.id,
        "at": at,
    }


#: Chat threads one buyer may open with one shop in any :data:`CHAT_LIMIT_WINDOW`: more than
#: a customer with several orders asks about, far fewer than a flood.
CHATS_PER_SHOP_PER_DAY = 5
CHAT_LIMIT_WINDOW = timedelta(days=1)


def chat_wait(opened: Iterable[datetime], at: datetime) -> timedelta:
    """How long from ``at`` until the buyer may open another chat with the shop, given when
    it opened its threads with that shop: zero when it may open one now."""
    recent = sorted(t for t in opened if at - CHAT_LIMIT_WINDOW < t <= at)
    if len(recent) < CHATS_PER_SHOP_PER_DAY:
        return timedelta(0)
    return recent[-CHATS_PER_SHOP_PER_DAY] + CHAT_LIMIT_WINDOW - at


def unit_refund_fen(line_paid_fen: int, line_quantity: int, refunded_units: int, units: int) -> int:
    """What ``units`` more units of a line cost the buyer, after ``refunded_units``: the
    line's payment shared by unit (rounded half up) on the running total of units, so the
    units of a line refunded in parts give back exactly its payment. Each unit of a line of
    3 paid 10.00 costs 3.33, 3.34 and 3.33."""

    def due(n: int) -> int:
        n = max(0, min(n, line_quantity))
        return (2 * line_paid_fen * n + line_quantity) // (2 * line_quantity)

    return due(refunded_units + units) - due(refunded_units)


def units_refunded_by(
    refund_fen: int, line_paid_fen: int, line_quantity: int, refunded_units: int, left: int
) -> int:
    """The units a refund of ``refund_fen`` is for when the buyer names none: the fewest
    units (at least one) whose cost covers it, of the ``left`` not refunded yet."""
    for units in range(1, left + 1):
        if unit_refund_fen(line_paid_fen, line_quantity, refunded_units, units) >= refund_fen:
            return units
    return left
