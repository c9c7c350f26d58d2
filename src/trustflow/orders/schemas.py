from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, StrictInt

from trustflow.orders.models import ContentKind, OrderStatus
from trustflow.orders.rules import MAX_QUANTITY
from trustflow.schemas_base import Shape
from trustflow.types import Id
from trustflow.vocabulary import Channel, Surface


class OrderIn(Shape):
    """What a buyer asks for. No money: the price is the SKU's, and discounts are money the
    merchant or the platform gives, so they never come from the request (a body that names
    one is refused as an unknown field)."""

    sku_id: Id
    quantity: Annotated[StrictInt, Field(ge=1, le=MAX_QUANTITY)] = 1
    channel: Channel
    creator_id: Id | None = None
    content_kind: ContentKind | None = None
    content_id: Id | None = None
    surface: Surface | None = None
    buyer_id: Id | None = Field(default=None, description="Operators only: the buyer to order for.")


class OrderOut(Shape):
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
    paid_at: datetime | None
    shipped_at: datetime | None
    picked_up_at: datetime | None
    delivered_at: datetime | None
    received_at: datetime | None
    cancelled_at: datetime | None


class OrderEventOut(Shape):
    action: str
    from_status: str | None
    to_status: str
    actor: str
    at: datetime
