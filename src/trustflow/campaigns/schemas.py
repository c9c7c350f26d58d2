"""Request and response shapes of the coupon routes (unknown fields refused, as everywhere)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, StrictInt

from trustflow.campaigns.models import ClaimStatus, CouponIssuer, CouponKind
from trustflow.campaigns.rules import BPS
from trustflow.schemas_base import Shape
from trustflow.types import Fen, Id, Instant, Name

#: The most a coupon may be claimed, per buyer and in all.
MAX_COUPON_COUNT = 10_000_000


class CouponIn(Shape):
    """A coupon to issue. A merchant issues coupons for a shop it manages (``shop_id``, paid
    by the merchant); an operator issues platform coupons (no ``shop_id``, paid from the
    platform's subsidy) or a shop's."""

    name: Name
    kind: CouponKind
    shop_id: Id | None = None
    threshold_fen: Fen = 0
    amount_fen: Fen = 0
    discount_bps: Annotated[StrictInt, Field(ge=0, lt=BPS)] = 0
    budget_fen: Fen
    budget_count: Annotated[StrictInt, Field(ge=0, le=MAX_COUPON_COUNT)]
    per_buyer_limit: Annotated[StrictInt, Field(ge=1, le=MAX_COUPON_COUNT)] = 1
    valid_from: Instant
    valid_to: Instant


class CouponOut(Shape):
    id: int
    name: str
    issuer: CouponIssuer
    shop_id: int | None
    kind: CouponKind
    threshold_fen: int
    amount_fen: int
    discount_bps: int
    budget_fen: int
    budget_count: int
    committed_fen: int
    committed_count: int
    per_buyer_limit: int
    valid_from: datetime
    valid_to: datetime


class ClaimIn(Shape):
    buyer_id: Id | None = Field(default=None, description="Operators only: the buyer.")


class ClaimOut(Shape):
    id: int
    coupon_id: int
    buyer_id: int
    status: ClaimStatus
    amount_fen: int
    checkout_id: int | None
    claimed_at: datetime
