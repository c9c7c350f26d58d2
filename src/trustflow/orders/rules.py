"""The rules an order lives by: its state machine and how commission is frozen.

Commission (佣金) is owed by the goods owner to the creator who sold a distribution order.
It is computed once, at placement, from the offer in force then, so a later change to the
offer never rewrites what either party was promised.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from trustflow.orders.models import CancelParty, CancelReason, OrderStatus
from trustflow.state_machine import StateMachine, move

__all__ = [
    "AFTER_SALES_OPEN_FROM",
    "CANCEL_REASONS",
    "DEFAULT_TRANSIT_HOURS",
    "MAX_QUANTITY",
    "REVIEWABLE_FROM",
    "SHIP_PROMISE",
    "STAMPS",
    "TIMESTAMP_FIELD",
    "TRANSITIONS",
    "Promise",
    "commission_base_fen",
    "commission_fen",
    "last_event_at",
    "promise",
]

S = OrderStatus

#: Each named action and the states it may start from, with the state it leads to.
TRANSITIONS: StateMachine[OrderStatus] = StateMachine(
    "order",
    {
        "pay": move({S.PENDING_PAYMENT}, S.PAID),
        # before shipping; after it, the parcel is intercepted or returned to the sender
        "cancel": move({S.PENDING_PAYMENT, S.PAID, S.SHIPPED, S.PICKED_UP}, S.CANCELLED),
        "ship": move({S.PAID}, S.SHIPPED),
        "pick_up": move({S.SHIPPED}, S.PICKED_UP),
        "deliver": move({S.SHIPPED, S.PICKED_UP}, S.DELIVERED),
        "confirm_receipt": move({S.DELIVERED}, S.RECEIVED),
    },
)

#: Where each action stamps its time on the order.
TIMESTAMP_FIELD: dict[str, str] = {
    "pay": "paid_at",
    "cancel": "cancelled_at",
    "ship": "shipped_at",
    "pick_up": "picked_up_at",
    "deliver": "delivered_at",
    "confirm_receipt": "received_at",
}

#: Every time an order records: its placement and each action's stamp.
STAMPS = ("created_at", *TIMESTAMP_FIELD.values())


def last_event_at(*stamps: datetime | None) -> datetime:
    """When the order's last recorded event happened (of its :data:`STAMPS`). An action
    earlier than this is refused (``EVENT_OUT_OF_ORDER``): an order's history runs forward,
    so a parcel is never delivered before it was shipped, nor a receipt confirmed before
    delivery, whatever the caller's clock says."""
    return max(s for s in stamps if s is not None)


@dataclass(frozen=True)
class CancelRule:
    #: who the cancellation is put down to
    party: CancelParty
    #: who may cancel for this reason: the buyer, the seller (the shop and its logistics
    #: link), the system (timeouts); operators may give any reason
    given_by: frozenset[str]


#: Every reason to cancel, whose doing it is and who may give it. Whatever the reason, the
#: order's stock goes back on sale (after shipping: once the parcel is back with the
#: sender, which the cancellation records) and a paid order's whole payment goes back to the
#: buyer (``cancel_refund_fen``).
CANCEL_REASONS: dict[CancelReason, CancelRule] = {
    CancelReason.BUYER_CHANGED_MIND: CancelRule(CancelParty.BUYER, frozenset({"buyer"})),
    CancelReason.UNPAID_TIMEOUT: CancelRule(CancelParty.BUYER, frozenset({"system"})),
    CancelReason.ADDRESS_UNREACHABLE: CancelRule(CancelParty.BUYER, frozenset({"buyer", "seller"})),
    CancelReason.MERCHANT_CANNOT_FULFIL: CancelRule(CancelParty.MERCHANT, frozenset({"seller"})),
    CancelReason.LOST_IN_TRANSIT: CancelRule(CancelParty.CARRIER, frozenset({"seller"})),
    CancelReason.RISK_CONTROL: CancelRule(CancelParty.PLATFORM, frozenset()),
}


#: A paid order must be handed to the carrier within this promise (发货时效), unless its shop
#: sets its own handling time (``Shop.handling_hours``, 48 by default).
SHIP_PROMISE = timedelta(hours=48)
#: The transit window (hours after ship-by) for a region no transit time of the shop covers.
DEFAULT_TRANSIT_HOURS = (24, 72)


@dataclass(frozen=True)
class Promise:
    """What an order promises its buyer at placement (履约承诺)."""

    ship_by: datetime
    deliver_from: datetime
    deliver_by: datetime


def promise(at: datetime, *, handling_hours: int, transit_hours: tuple[int, int]) -> Promise:
    """Ship within the shop's handling time; arrive within the transit window after that."""
    ship_by = at + timedelta(hours=handling_hours)
    low, high = transit_hours
    return Promise(ship_by, ship_by + timedelta(hours=low), ship_by + timedelta(hours=high))


#: States in which the buyer may open an after-sales request or review.
AFTER_SALES_OPEN_FROM = frozenset({S.SHIPPED, S.PICKED_UP, S.DELIVERED, S.RECEIVED})
REVIEWABLE_FROM = frozenset({S.DELIVERED, S.RECEIVED})

MAX_QUANTITY = 999


def commission_base_fen(goods_amount_fen: int, merchant_discount_fen: int) -> int:
    """Commission is paid on what the goods owner sells for: the platform's subsidy does not
    reduce it (the platform, not the merchant, pays that part)."""
    return goods_amount_fen - merchant_discount_fen


def commission_fen(base_fen: int, commission_bps: int) -> int:
    """Commission in whole fen, rounded half up."""
    amount = Decimal(base_fen) * Decimal(commission_bps) / Decimal(10_000)
    return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))
