from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, Field, StrictInt

from trustflow.catalog.models import ListingStatus, ShopKind, ShopStatus
from trustflow.catalog.rules import MAX_PRICE_FEN, MAX_STOCK
from trustflow.schemas_base import Shape
from trustflow.types import Brand, CategoryName, Code, Id, Name, RegionCode, ShortText, Title

PriceFen = Annotated[StrictInt, Field(ge=1, le=MAX_PRICE_FEN)]
Stock = Annotated[StrictInt, Field(ge=0, le=MAX_STOCK)]


class CategoryIn(Shape):
    code: Code
    name: CategoryName
    parent_id: Id | None = None


class CategoryOut(Shape):
    id: int
    code: str
    name: str
    parent_id: int | None


class ShopIn(Shape):
    name: Name
    kind: ShopKind
    category_id: Id
    merchant_id: Id | None = None


class ShopPatch(Shape):
    name: Name | None = None
    status: ShopStatus | None = None


class ShopOut(Shape):
    id: int
    merchant_id: int
    name: str
    kind: ShopKind
    category_id: int
    status: ShopStatus
    created_at: datetime


class TransitTimeIn(Shape):
    region: RegionCode
    min_hours: Annotated[StrictInt, Field(ge=1, le=2160)]
    max_hours: Annotated[StrictInt, Field(ge=1, le=2160)]


class FulfilmentIn(Shape):
    """How fast the shop ships, and how long its parcels take to each region (``*``: every
    region not named). Orders placed from now on are promised accordingly."""

    handling_hours: Annotated[StrictInt, Field(ge=1, le=720)]
    transit_times: Annotated[list[TransitTimeIn], Field(max_length=500)] = []


class TransitTimeOut(Shape):
    region: str
    min_hours: int
    max_hours: int


class FulfilmentOut(Shape):
    shop_id: int
    handling_hours: int
    transit_times: list[TransitTimeOut]


class ProductIn(Shape):
    title: Title
    category_id: Id | None = None
    #: a brand the product is of: the shop needs an authorisation the platform verified
    #: (``POST /shops/{id}/brand-authorisations``), or the listing is intercepted
    brand: Brand = ""


class ProductPatch(Shape):
    status: ListingStatus


class ProductOut(Shape):
    id: int
    shop_id: int
    category_id: int
    title: str
    brand: str
    #: the shop's authorisation for the brand was verified by an operator (never the
    #: merchant's say)
    brand_authorised: bool
    status: ListingStatus
    created_at: datetime


class SkuIn(Shape):
    spec: ShortText = ""
    price_fen: PriceFen
    stock: Stock = 0


class SkuPatch(Shape):
    price_fen: PriceFen | None = None
    stock_delta: Annotated[StrictInt, Field(ge=-MAX_STOCK, le=MAX_STOCK)] | None = None


class SkuOut(Shape):
    id: int
    product_id: int
    spec: str
    price_fen: int
    stock: int


class PriceChangeOut(Shape):
    price_fen: int
    effective_at: datetime


class LowestPriceOut(Shape):
    sku_id: int
    at: AwareDatetime
    lowest_price_fen: int
