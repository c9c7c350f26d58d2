"""Orders, their payments and the audit trail of every state change."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from trustflow.db import EXTERNAL_ID_LENGTH, Base, IdType, UtcDateTime, enum_type, utcnow
from trustflow.vocabulary import Channel, Surface


class ContentKind(StrEnum):
    LIVE_SESSION = "live_session"
    SHORT_VIDEO = "short_video"


class OrderStatus(StrEnum):
    PENDING_PAYMENT = "pending_payment"
    PAID = "paid"
    SHIPPED = "shipped"
    PICKED_UP = "picked_up"
    DELIVERED = "delivered"
    RECEIVED = "received"
    CANCELLED = "cancelled"


class CancelReason(StrEnum):
    """Why an order was cancelled (取消原因). Each reason names who is responsible for it
    (``orders.rules.CANCEL_REASONS``)."""

    BUYER_CHANGED_MIND = "buyer_changed_mind"
    UNPAID_TIMEOUT = "unpaid_timeout"
    ADDRESS_UNREACHABLE = "address_unreachable"
    MERCHANT_CANNOT_FULFIL = "merchant_cannot_fulfil"
    LOST_IN_TRANSIT = "lost_in_transit"
    RISK_CONTROL = "risk_control"


class CancelParty(StrEnum):
    """Who a cancellation is put down to."""

    BUYER = "buyer"
    MERCHANT = "merchant"
    CARRIER = "carrier"
    PLATFORM = "platform"


class CheckoutStatus(StrEnum):
    PENDING_PAYMENT = "pending_payment"
    PAID = "paid"
    #: left unpaid past the timeout: its orders were cancelled and their stock released
    EXPIRED = "expired"


class Checkout(Base):
    """One buyer's cart checked out at once (a parent order, 父订单): one order per shop and
    seller, with a line per SKU, placed together or not at all, and paid with one payment.
    ``items``: the items the cart held, as the buyer sent them."""

    __tablename__ = "checkouts"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    #: the id the row had where it was imported from (``trustflow import``), else None
    external_id: Mapped[str | None] = mapped_column(
        String(EXTERNAL_ID_LENGTH), unique=True, index=True
    )
    buyer_id: Mapped[int] = mapped_column(ForeignKey("buyers.id"), index=True)
    status: Mapped[CheckoutStatus] = mapped_column(
        enum_type(CheckoutStatus), default=CheckoutStatus.PENDING_PAYMENT
    )
    items: Mapped[int] = mapped_column(Integer)
    goods_amount_fen: Mapped[int] = mapped_column(BigInteger)
    paid_amount_fen: Mapped[int] = mapped_column(BigInteger)
    idempotency_key: Mapped[str] = mapped_column(String(80))
    request_hash: Mapped[str] = mapped_column(String(64))
    #: the key the buyer paid with: a retry with it returns the paid checkout
    payment_key: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    paid_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("buyer_id", "idempotency_key"),
        CheckConstraint("items >= 1", name="items_positive"),
        # the expiry job looks for pending checkouts by age
        Index("ix_checkouts_status_created_at", "status", "created_at"),
    )


class Order(Base):
    """One buyer's order from one shop (a child order, 子订单): one or more lines
    (:class:`OrderLine`), shipped, delivered or cancelled together. Prices, discounts and
    commission are frozen per line at placement; the order holds their totals.

    ``product_id``, ``sku_id``, ``quantity``, ``unit_price_fen``, ``offer_id`` and
    ``commission_bps`` are those of the order's first line (the one it is listed under);
    every line, the first included, is in ``order_lines``, and whatever counts goods
    (product scores, product GMV, refunds, reviews) reads the lines."""

    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    #: the id the row had where it was imported from (``trustflow import``), else None
    external_id: Mapped[str | None] = mapped_column(
        String(EXTERNAL_ID_LENGTH), unique=True, index=True
    )
    buyer_id: Mapped[int] = mapped_column(ForeignKey("buyers.id"), index=True)
    #: the checkout it was placed in, if it was part of a cart
    checkout_id: Mapped[int | None] = mapped_column(ForeignKey("checkouts.id"), index=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_fen: Mapped[int] = mapped_column(BigInteger)
    goods_amount_fen: Mapped[int] = mapped_column(BigInteger)
    merchant_discount_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    platform_discount_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    paid_amount_fen: Mapped[int] = mapped_column(BigInteger)
    channel: Mapped[Channel] = mapped_column(enum_type(Channel))
    creator_id: Mapped[int | None] = mapped_column(ForeignKey("creators.id"), index=True)
    offer_id: Mapped[int | None] = mapped_column(ForeignKey("distribution_offers.id"))
    commission_bps: Mapped[int] = mapped_column(Integer, default=0)
    commission_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    content_kind: Mapped[ContentKind | None] = mapped_column(enum_type(ContentKind))
    content_id: Mapped[int | None] = mapped_column(BigInteger)
    surface: Mapped[Surface | None] = mapped_column(enum_type(Surface))
    status: Mapped[OrderStatus] = mapped_column(
        enum_type(OrderStatus), default=OrderStatus.PENDING_PAYMENT
    )
    idempotency_key: Mapped[str] = mapped_column(String(80))
    request_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    ship_by: Mapped[datetime] = mapped_column(UtcDateTime)
    #: the delivery window promised at placement (shown to the buyer), and where to: from
    #: the shop's handling and transit times for the buyer's region (None: orders placed
    #: before promises were recorded)
    ship_to_region: Mapped[str | None] = mapped_column(String(32))
    deliver_from: Mapped[datetime | None] = mapped_column(UtcDateTime)
    deliver_by: Mapped[datetime | None] = mapped_column(UtcDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    shipped_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    picked_up_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    received_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: why, whose doing, and what went back to the buyer (the whole payment once paid)
    cancel_reason: Mapped[CancelReason | None] = mapped_column(enum_type(CancelReason))
    cancel_party: Mapped[CancelParty | None] = mapped_column(enum_type(CancelParty))
    cancel_refund_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    #: When the last named action touched the order; the warehouse export's watermark.
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    #: every line, first to last (read when asked for: placement never loads them)
    lines: Mapped[list[OrderLine]] = relationship(
        order_by="OrderLine.line_no", viewonly=True, lazy="select"
    )

    __table_args__ = (
        UniqueConstraint("buyer_id", "idempotency_key"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint(
            "paid_amount_fen = goods_amount_fen - merchant_discount_fen - platform_discount_fen"
            " AND paid_amount_fen >= 0 AND merchant_discount_fen >= 0"
            " AND platform_discount_fen >= 0",
            name="amounts_consistent",
        ),
        CheckConstraint(
            "(channel = 'distribution') = (creator_id IS NOT NULL)",
            name="creator_iff_distribution",
        ),
        Index("ix_orders_created_at", "created_at"),
        Index("ix_orders_updated_at", "updated_at"),
    )


class OrderLine(Base):
    """One SKU of an order: how many, at what unit price and discounts, and the commission
    frozen for it at placement. Lines never change once placed: what was refunded of a line
    is in its after-sales requests."""

    __tablename__ = "order_lines"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    #: the id the row had where it was imported from (``trustflow import``), else None
    external_id: Mapped[str | None] = mapped_column(
        String(EXTERNAL_ID_LENGTH), unique=True, index=True
    )
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    #: 1, 2, ... within the order
    line_no: Mapped[int] = mapped_column(Integer)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_fen: Mapped[int] = mapped_column(BigInteger)
    goods_amount_fen: Mapped[int] = mapped_column(BigInteger)
    merchant_discount_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    platform_discount_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    paid_amount_fen: Mapped[int] = mapped_column(BigInteger)
    offer_id: Mapped[int | None] = mapped_column(ForeignKey("distribution_offers.id"))
    commission_bps: Mapped[int] = mapped_column(Integer, default=0)
    commission_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    #: the order's placement time (the warehouse's day for the line)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)

    __table_args__ = (
        UniqueConstraint("order_id", "line_no"),
        CheckConstraint("quantity > 0 AND line_no > 0", name="quantity_positive"),
        CheckConstraint(
            "paid_amount_fen = goods_amount_fen - merchant_discount_fen - platform_discount_fen"
            " AND paid_amount_fen >= 0 AND merchant_discount_fen >= 0"
            " AND platform_discount_fen >= 0 AND commission_fen >= 0",
            name="amounts_consistent",
        ),
    )


class Payment(Base):
    """The buyer's payment of an order; at most one per order, keyed for safe retries."""

    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), unique=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    idempotency_key: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class OrderEvent(Base):
    """Audit trail: one row per named action that changed an order."""

    __tablename__ = "order_events"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    action: Mapped[str] = mapped_column(String(40))
    from_status: Mapped[str | None] = mapped_column(String(24))
    to_status: Mapped[str] = mapped_column(String(24))
    actor: Mapped[str] = mapped_column(String(60), default="system")
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class CommissionEntryKind(StrEnum):
    """What happened to a distribution order's commission (佣金)."""

    #: owed to the creator once the buyer paid (pending until settled)
    ACCRUED = "accrued"
    #: taken back because the buyer got money back (a refund, or a paid order cancelled)
    REVERSED = "reversed"
    #: what remained was paid out: the return window closed with nothing left open
    SETTLED = "settled"


class CommissionEntry(Base):
    """One movement of a creator's commission on one order. ``event_key`` names the event
    (``accrue``, ``settle``, ``reverse:cancel``, ``reverse:request:<id>``) and is unique per
    order, so retries and concurrent callers never accrue, reverse or settle an event twice."""

    __tablename__ = "commission_entries"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    creator_id: Mapped[int] = mapped_column(ForeignKey("creators.id"))
    kind: Mapped[CommissionEntryKind] = mapped_column(enum_type(CommissionEntryKind))
    event_key: Mapped[str] = mapped_column(String(40))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        UniqueConstraint("order_id", "event_key"),
        CheckConstraint("amount_fen >= 0", name="amount_not_negative"),
        Index("ix_commission_entries_creator_id_at", "creator_id", "at"),
    )
