from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, StrictInt

from trustflow.orders.attribution import MAX_TOKEN_LENGTH
from trustflow.orders.checkout import MAX_COUPON_CLAIMS, MAX_ITEMS
from trustflow.orders.models import (
    CancelParty,
    CancelReason,
    CheckoutStatus,
    ContentKind,
    OrderStatus,
)
from trustflow.orders.rules import MAX_QUANTITY
from trustflow.schemas_base import Shape
from trustflow.types import Id
from trustflow.vocabulary import Channel, Surface


class OrderIn(Shape):
    """What a buyer asks for. No money: the price is the SKU's, and discounts are money the
    merchant or the platform gives, so they never come from the request (a body that names
    one is refused as an unknown field). Nor who sold it: that comes from the attribution
    token the feed, a room or a shop page handed the buyer (without a valid one, the order
    is a product-card sale with no creator)."""

    sku_id: Id
    quantity: Annotated[StrictInt, Field(ge=1, le=MAX_QUANTITY)] = 1
    attribution_token: Annotated[str, Field(min_length=1, max_length=MAX_TOKEN_LENGTH)] | None = (
        None
    )
    buyer_id: Id | None = Field(default=None, description="Operators only: the buyer to order for.")


class CheckoutItemIn(Shape):
    """One item of the cart: a SKU, how many, and the attribution token of where the buyer
    found it (none: a product-card sale)."""

    sku_id: Id
    quantity: Annotated[StrictInt, Field(ge=1, le=MAX_QUANTITY)] = 1
    attribution_token: Annotated[str, Field(min_length=1, max_length=MAX_TOKEN_LENGTH)] | None = (
        None
    )


class CheckoutIn(Shape):
    """A cart: its items, across any shops, and the coupon claims to use on it. No money:
    each price is the SKU's, and what a coupon takes off is the server's to work out."""

    items: Annotated[list[CheckoutItemIn], Field(min_length=1, max_length=MAX_ITEMS)]
    coupon_claim_ids: Annotated[list[Id], Field(max_length=MAX_COUPON_CLAIMS)] = Field(
        default_factory=list,
        description="The buyer's own coupon claims (POST /coupons/{id}/claims) to apply.",
    )
    buyer_id: Id | None = Field(default=None, description="Operators only: the buyer.")


class AttributionIn(Shape):
    """Where the buyer is: exactly one of a live room, a short video or a shop page."""

    live_session_id: Id | None = None
    short_video_id: Id | None = None
    shop_id: Id | None = None
    buyer_id: Id | None = Field(
        default=None, description="Operators only (front ends): the buyer the token is for."
    )


class AttributionOut(Shape):
    """A token for the buyer's next orders from here, and what it vouches for."""

    attribution_token: str
    channel: Channel
    creator_id: int | None
    content_kind: ContentKind | None
    content_id: int | None
    shop_id: int | None
    expires_at: datetime


class CancelIn(Shape):
    reason: CancelReason | None = Field(
        default=None, description="Why (it says whose doing it is); default by who cancels."
    )


class OrderLineOut(Shape):
    """One SKU of the order, priced and discounted as it was placed."""

    id: int
    line_no: int
    product_id: int
    sku_id: int
    quantity: int
    unit_price_fen: int
    goods_amount_fen: int
    merchant_discount_fen: int
    platform_discount_fen: int
    paid_amount_fen: int
    commission_bps: int
    commission_fen: int


class OrderOut(Shape):
    """One shop's order: its totals and its lines (``product_id``, ``sku_id``, ``quantity``,
    ``unit_price_fen``: the first line's, the one it is listed under)."""

    id: int
    buyer_id: int
    shop_id: int
    product_id: int
    sku_id: int
    quantity: int
    unit_price_fen: int
    goods_amount_fen: int
    merchant_discount_fen: int
    platform_discount_fen: int
    paid_amount_fen: int
    channel: Channel
    creator_id: int | None
    offer_id: int | None
    commission_bps: int
    commission_fen: int
    content_kind: ContentKind | None
    content_id: int | None
    surface: Surface | None
    status: OrderStatus
    created_at: datetime
    ship_by: datetime
    ship_to_region: str | None
    deliver_from: datetime | None
    deliver_by: datetime | None
    paid_at: datetime | None
    shipped_at: datetime | None
    picked_up_at: datetime | None
    delivered_at: datetime | None
    received_at: datetime | None
    cancelled_at: datetime | None
    cancel_reason: CancelReason | None
    cancel_party: CancelParty | None
    cancel_refund_fen: int
    lines: list[OrderLineOut]


class OrderEventOut(Shape):
    action: str
    from_status: str | None
    to_status: str
    actor: str
    at: datetime


class CommissionStatementOut(Shape):
    """A creator's commission over ``[start, end)``, in fen: accrued when buyers paid,
    reversed when they got money back, settled once the after-sales window closed; pending
    is accrued less reversed and settled, at each end of the period."""

    creator_id: int
    start: datetime
    end: datetime
    accrued_fen: int
    reversed_fen: int
    settled_fen: int
    pending_at_start_fen: int
    pending_at_end_fen: int
    orders: int


class CheckoutOut(Shape):
    """A checkout and the orders its cart became: one per shop and seller, each with its
    lines (price, discounts and commission per SKU), promise and totals."""

    id: int
    buyer_id: int
    status: CheckoutStatus
    items: int
    goods_amount_fen: int
    paid_amount_fen: int
    created_at: datetime
    paid_at: datetime | None
    orders: list[OrderOut]
