"""The rules an order lives by: who may place it, its state machine, how commission is frozen.

Each placement rule is a predicate over plain values that returns the :class:`ErrorCode` a
refused order carries, or ``None``. The one-at-a-time service and the bulk path both call
them, so a buyer's order is refused for the same reason whichever path placed it.

Commission (佣金) is owed by the goods owner to the creator who sold a distribution order.
It is computed once, at placement, from the offer in force then, so a later change to the
offer never rewrites what either party was promised.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from trustflow.catalog.models import ListingStatus, ShopStatus
from trustflow.catalog.rules import UNPUBLISHED
from trustflow.content.models import LiveStatus
from trustflow.errors import ErrorCode
from trustflow.orders.models import CancelParty, CancelReason, ContentKind, OrderStatus
from trustflow.state_machine import StateMachine, move
from trustflow.vocabulary import Channel

__all__ = [
    "AFTER_SALES_OPEN_FROM",
    "AWAITING_DELIVERY",
    "CANCEL_REASONS",
    "DEFAULT_TRANSIT_HOURS",
    "MAX_KEY_LENGTH",
    "MAX_LINES",
    "MAX_QUANTITY",
    "REVIEWABLE_FROM",
    "SHIP_PROMISE",
    "STAMPS",
    "TIMESTAMP_FIELD",
    "TRANSITIONS",
    "Promise",
    "commission_base_fen",
    "commission_fen",
    "content_pairing_refusal",
    "creator_refusal",
    "excess_discount_refusal",
    "idempotency_key_refusal",
    "last_event_at",
    "lines_refusal",
    "listing_refusal",
    "live_session_refusal",
    "negative_discount_refusal",
    "offer_refusal",
    "promise",
    "quantity_refusal",
    "reviewable",
    "same_shop_refusal",
    "shop_refusal",
    "short_video_refusal",
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


#: States in which the buyer may open an after-sales request.
AFTER_SALES_OPEN_FROM = frozenset({S.SHIPPED, S.PICKED_UP, S.DELIVERED, S.RECEIVED})
#: States in which the buyer may review an order that has arrived.
REVIEWABLE_FROM = frozenset({S.DELIVERED, S.RECEIVED})
#: States of a paid order still on its way: reviewable once its promised delivery has passed.
AWAITING_DELIVERY = frozenset({S.PAID, S.SHIPPED, S.PICKED_UP})


def reviewable(status: OrderStatus, deliver_by: datetime | None, at: datetime) -> bool:
    """Whether the buyer may review the order at ``at``: once it has arrived (delivered or
    received), or, still undelivered, once its promised delivery (``deliver_by``) has passed,
    so a buyer whose parcel never came can say so. A cancelled or unpaid order, and one still
    within its promise, is not reviewable. Both the one-at-a-time and the bulk path ask this."""
    if status in REVIEWABLE_FROM:
        return True
    return status in AWAITING_DELIVERY and deliver_by is not None and at > deliver_by


MAX_QUANTITY = 999
#: The most lines one order may hold.
MAX_LINES = 50
#: The longest idempotency key a client may send with an order or a payment.
MAX_KEY_LENGTH = 80


# Placement rules, in the order an order is checked against them. The first five judge the
# request alone; the rest the facts the store holds when the order is placed.


def quantity_refusal(quantity: int) -> ErrorCode | None:
    """A buyer orders between 1 and :data:`MAX_QUANTITY` pieces of a SKU at once; anything
    else is a mistake in the request, not a purchase."""
    return None if 1 <= quantity <= MAX_QUANTITY else ErrorCode.INVALID_INPUT


def lines_refusal(sku_ids: Sequence[int]) -> ErrorCode | None:
    """An order holds 1 to :data:`MAX_LINES` lines, each of another SKU (two of one SKU are
    one line of their summed quantity)."""
    ok = 1 <= len(sku_ids) <= MAX_LINES and len(set(sku_ids)) == len(sku_ids)
    return None if ok else ErrorCode.INVALID_INPUT


def same_shop_refusal(shop_id: int, order_shop_id: int) -> ErrorCode | None:
    """An order is one shop's: a line of another shop's goods belongs to another order."""
    return None if shop_id == order_shop_id else ErrorCode.INVALID_INPUT


def idempotency_key_refusal(key: str) -> ErrorCode | None:
    """Every order and payment carries a key of 1 to :data:`MAX_KEY_LENGTH` characters, so
    that a client's retry returns the first result instead of charging the buyer twice."""
    return None if 1 <= len(key) <= MAX_KEY_LENGTH else ErrorCode.INVALID_INPUT


def negative_discount_refusal(
    merchant_discount_fen: int, platform_discount_fen: int
) -> ErrorCode | None:
    """A discount only ever lowers what the buyer pays: a negative one would be a surcharge."""
    if merchant_discount_fen < 0 or platform_discount_fen < 0:
        return ErrorCode.INVALID_INPUT
    return None


def creator_refusal(channel: Channel, creator_id: int | None) -> ErrorCode | None:
    """A distribution sale names the creator who made it, and no other sale names one: only a
    distribution order earns a creator commission."""
    if (channel is Channel.DISTRIBUTION) != (creator_id is not None):
        return ErrorCode.INVALID_INPUT
    return None


def content_pairing_refusal(
    content_kind: ContentKind | None, content_id: int | None
) -> ErrorCode | None:
    """An order credited to content says both which kind (live session or short video) and
    which one; half a reference credits nothing."""
    if (content_kind is None) != (content_id is None):
        return ErrorCode.INVALID_INPUT
    return None


def listing_refusal(listing: ListingStatus) -> ErrorCode | None:
    """Only a listed product is on sale. One never published does not exist to a buyer
    (``NOT_FOUND``); one delisted or blocked is refused as not on sale."""
    if listing in UNPUBLISHED:
        return ErrorCode.NOT_FOUND
    if listing != ListingStatus.LISTED:
        return ErrorCode.NOT_LISTED
    return None


def shop_refusal(shop_status: ShopStatus) -> ErrorCode | None:
    """A suspended or closed shop takes no new orders, even for products still listed."""
    return None if shop_status == ShopStatus.ACTIVE else ErrorCode.SHOP_NOT_ACTIVE


def excess_discount_refusal(
    goods_amount_fen: int, merchant_discount_fen: int, platform_discount_fen: int
) -> ErrorCode | None:
    """Discounts together may bring the price down to nothing, never below: the platform does
    not pay a buyer to take the goods."""
    if merchant_discount_fen + platform_discount_fen > goods_amount_fen:
        return ErrorCode.INVALID_INPUT
    return None


def offer_refusal(channel: Channel, offer_id: int | None) -> ErrorCode | None:
    """A creator sells a product only under an offer they selected that is in force at the
    order's time (``offer_id``, None if none): it fixes the commission the merchant owes."""
    if channel is Channel.DISTRIBUTION and offer_id is None:
        return ErrorCode.NO_DISTRIBUTION_OFFER
    return None


def live_session_refusal(
    channel: Channel,
    *,
    shop_id: int,
    creator_id: int | None,
    live_status: LiveStatus | None,
    host_shop_id: int | None,
    host_creator_id: int | None,
) -> ErrorCode | None:
    """An order credited to a live session comes from a room that exists (``live_status`` is
    None if not), is live at that moment, and is hosted by the seller the order credits: the
    shop's own account for a self-broadcast sale, the creator for a distribution sale. So no
    one is credited with, or paid commission for, a room that was not theirs or not on air."""
    if live_status is None:
        return ErrorCode.NOT_FOUND
    if live_status != LiveStatus.LIVE:
        return ErrorCode.CONTENT_NOT_LIVE
    if channel is Channel.SELF_BROADCAST and host_shop_id != shop_id:
        return ErrorCode.INVALID_INPUT
    if channel is Channel.DISTRIBUTION and host_creator_id != creator_id:
        return ErrorCode.INVALID_INPUT
    return None


def short_video_refusal(posted_at: datetime | None, at: datetime) -> ErrorCode | None:
    """An order credited to a short video needs a video that exists (``posted_at`` is None if
    not) and was posted by the order's time ``at``: no video sells before anyone could see
    it."""
    if posted_at is None:
        return ErrorCode.NOT_FOUND
    if posted_at > at:
        return ErrorCode.INVALID_INPUT
    return None


def commission_base_fen(goods_amount_fen: int, merchant_discount_fen: int) -> int:
    """Commission is paid on what the goods owner sells for: the platform's subsidy does not
    reduce it (the platform, not the merchant, pays that part)."""
    return goods_amount_fen - merchant_discount_fen


Amount = TypeVar("Amount")


def commission_fen(base_fen: Amount, commission_bps: Amount) -> Amount:
    """Commission in whole fen: ``base × bps / 10 000``, rounded half up. Integer arithmetic
    on whole fen (never a float), so the one rule holds for one order (``int``) and for a
    column of them (NumPy, Polars) alike."""
    return (2 * base_fen * commission_bps + 10_000) // 20_000  # type: ignore[operator,no-any-return,return-value]
