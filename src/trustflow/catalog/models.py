"""What is sold: categories, shops, products, SKUs and their price history."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from trustflow.db import EXTERNAL_ID_LENGTH, Base, IdType, UtcDateTime, enum_type, utcnow


class ShopKind(StrEnum):
    BRAND = "brand"
    FAST_BRAND = "fast_brand"
    SOURCE = "source"
    OTHER = "other"


class ShopStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    CLOSED = "closed"


class ListingStatus(StrEnum):
    DRAFT = "draft"
    LISTED = "listed"
    DELISTED = "delisted"
    BLOCKED = "blocked"


class Category(Base):
    """A product category; scores are benchmarked within a shop's main category."""

    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    #: the id the row had where it was imported from (``trustflow import``), else None
    external_id: Mapped[str | None] = mapped_column(
        String(EXTERNAL_ID_LENGTH), unique=True, index=True
    )
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(80))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"))


#: Room for the skeleton of a 120-character name: one character's skeleton is at most 7
#: characters (a Hangul syllable: three jamo, some drawn as two), 21 bytes, so the longest
#: fits a PostgreSQL B-tree entry.
NAME_SKELETON_LENGTH = 840


#: A shop's handling time until it sets its own: the ship-by promise of 48 hours.
DEFAULT_HANDLING_HOURS = 48


class Shop(Base):
    """A merchant's shop (小店).

    ``name_skeleton`` is :func:`trustflow.names.name_skeleton` of the name: a new or renamed
    shop whose skeleton an existing shop already has is refused, found through its index. The
    index is not unique: stores made before the rule may hold look-alike names, and they keep
    them (each is still refused as a new name, and a rename of one must not look like the other).
    """

    __tablename__ = "shops"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    #: the id the row had where it was imported from (``trustflow import``), else None
    external_id: Mapped[str | None] = mapped_column(
        String(EXTERNAL_ID_LENGTH), unique=True, index=True
    )
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    name_skeleton: Mapped[str] = mapped_column(String(NAME_SKELETON_LENGTH), index=True)
    kind: Mapped[ShopKind] = mapped_column(enum_type(ShopKind))
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"), index=True)
    status: Mapped[ShopStatus] = mapped_column(enum_type(ShopStatus), default=ShopStatus.ACTIVE)
    #: how long the shop takes to hand a paid order to the carrier (发货时效): the ship-by
    #: promise of its orders
    handling_hours: Mapped[int] = mapped_column(Integer, default=DEFAULT_HANDLING_HOURS)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (
        CheckConstraint("handling_hours BETWEEN 1 AND 720", name="handling_hours_in_range"),
    )


class ShopTransitTime(Base):
    """How long the shop's parcels take to reach a region, once handed over: the promised
    delivery window after ship-by. Region ``*`` covers every region the shop names none for;
    without either, the platform's default applies (``orders.rules.DEFAULT_TRANSIT_HOURS``)."""

    __tablename__ = "shop_transit_times"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    region: Mapped[str] = mapped_column(String(32))
    min_hours: Mapped[int] = mapped_column(Integer)
    max_hours: Mapped[int] = mapped_column(Integer)

    __table_args__ = (
        UniqueConstraint("shop_id", "region"),
        CheckConstraint(
            "min_hours >= 1 AND min_hours <= max_hours AND max_hours <= 2160",
            name="transit_window_valid",
        ),
    )


class Product(Base):
    """A product listed by a shop. ``brand_authorised`` records proof of the right to sell it."""

    __tablename__ = "products"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    #: the id the row had where it was imported from (``trustflow import``), else None
    external_id: Mapped[str | None] = mapped_column(
        String(EXTERNAL_ID_LENGTH), unique=True, index=True
    )
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), index=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    brand: Mapped[str] = mapped_column(String(80), default="")
    brand_authorised: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[ListingStatus] = mapped_column(
        enum_type(ListingStatus), default=ListingStatus.DRAFT
    )
    #: the imported product this listing sells (one product sold by many shops shares it)
    product_key: Mapped[str | None] = mapped_column(String(EXTERNAL_ID_LENGTH), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Sku(Base):
    """One purchasable variant. ``stock`` never goes negative: the database refuses it too."""

    __tablename__ = "skus"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    #: the id the row had where it was imported from (``trustflow import``), else None
    external_id: Mapped[str | None] = mapped_column(
        String(EXTERNAL_ID_LENGTH), unique=True, index=True
    )
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    spec: Mapped[str] = mapped_column(String(120), default="")
    price_fen: Mapped[int] = mapped_column(BigInteger)
    stock: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        CheckConstraint("stock >= 0", name="stock_non_negative"),
        CheckConstraint("price_fen > 0", name="price_positive"),
    )


class PriceChange(Base):
    """A SKU's price from ``effective_at`` on; the history answers "lowest price in 30 days"."""

    __tablename__ = "price_history"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id"))
    price_fen: Mapped[int] = mapped_column(BigInteger)
    effective_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (Index("ix_price_history_sku_effective", "sku_id", "effective_at"),)
