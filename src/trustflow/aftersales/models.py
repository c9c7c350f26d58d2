"""After the sale: after-sales requests, reviews and buyer–shop chat response times."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from trustflow.db import EXTERNAL_ID_LENGTH, Base, IdType, UtcDateTime, enum_type, utcnow


class AfterSalesKind(StrEnum):
    REFUND_ONLY = "refund_only"
    RETURN_REFUND = "return_refund"
    EXCHANGE = "exchange"


class AfterSalesReason(StrEnum):
    QUALITY = "quality"
    NOT_AS_DESCRIBED = "not_as_described"
    COUNTERFEIT = "counterfeit"
    DAMAGED_IN_TRANSIT = "damaged_in_transit"
    LATE_DELIVERY = "late_delivery"
    WRONG_ITEM = "wrong_item"
    NO_REASON_7DAY = "no_reason_7day"
    CHANGED_MIND = "changed_mind"
    OTHER = "other"


class ResponsibleParty(StrEnum):
    """Who caused a defect; only the scored party's defects count against its score."""

    MERCHANT = "merchant"
    CREATOR = "creator"
    BUYER = "buyer"
    CARRIER = "carrier"
    FORCE_MAJEURE = "force_majeure"
    UNDETERMINED = "undetermined"


class AfterSalesStatus(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    AWAITING_RETURN = "awaiting_return"
    RETURNED = "returned"
    ESCALATED = "escalated"
    REFUNDED = "refunded"
    EXCHANGED = "exchanged"
    CLOSED = "closed"
    WITHDRAWN = "withdrawn"


class DisputeOutcome(StrEnum):
    BUYER_WON = "buyer_won"
    MERCHANT_WON = "merchant_won"


class AfterSalesRequest(Base):
    """A buyer's after-sales request on an order and where it stands."""

    __tablename__ = "after_sales_requests"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    #: the id the row had where it was imported from (``trustflow import``), else None
    external_id: Mapped[str | None] = mapped_column(
        String(EXTERNAL_ID_LENGTH), unique=True, index=True
    )
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    #: the line it is about, and how many of the line's units (the whole line if None)
    line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id"), index=True)
    quantity: Mapped[int | None] = mapped_column(Integer)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), index=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("buyers.id"), index=True)
    kind: Mapped[AfterSalesKind] = mapped_column(enum_type(AfterSalesKind))
    reason: Mapped[AfterSalesReason] = mapped_column(enum_type(AfterSalesReason))
    responsible_party: Mapped[ResponsibleParty] = mapped_column(
        enum_type(ResponsibleParty), default=ResponsibleParty.UNDETERMINED
    )
    status: Mapped[AfterSalesStatus] = mapped_column(
        enum_type(AfterSalesStatus), default=AfterSalesStatus.REQUESTED
    )
    refund_fen: Mapped[int] = mapped_column(BigInteger)
    note: Mapped[str] = mapped_column(Text, default="")
    dispute_outcome: Mapped[DisputeOutcome | None] = mapped_column(enum_type(DisputeOutcome))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    handled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: When the last named action touched the request; the warehouse export's watermark.
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)

    __table_args__ = (
        CheckConstraint("refund_fen >= 0", name="refund_non_negative"),
        CheckConstraint("quantity IS NULL OR quantity > 0", name="quantity_positive"),
    )


class ActorRole(StrEnum):
    """Who took an after-sales action, as its trail records it: the platform is the operator
    who arbitrates, the system an automatic rule."""

    BUYER = "buyer"
    MERCHANT = "merchant"
    SERVICE_PROVIDER = "service_provider"
    CREATOR = "creator"
    PLATFORM = "platform"
    SYSTEM = "system"


class AfterSalesEvent(Base):
    """Audit trail: one row per named action that opened or moved an after-sales request,
    with who took it (the id of the buyer, merchant or service provider where there is one)."""

    __tablename__ = "after_sales_events"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("after_sales_requests.id"), index=True)
    action: Mapped[str] = mapped_column(String(40))
    from_status: Mapped[str | None] = mapped_column(String(24))
    to_status: Mapped[str] = mapped_column(String(24))
    actor_role: Mapped[ActorRole] = mapped_column(enum_type(ActorRole))
    actor_id: Mapped[int | None] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Review(Base):
    """A buyer's review of one line of a received order: 1–5 stars, text and tags."""

    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    #: the id the row had where it was imported from (``trustflow import``), else None
    external_id: Mapped[str | None] = mapped_column(
        String(EXTERNAL_ID_LENGTH), unique=True, index=True
    )
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    #: the line reviewed: one review per line
    line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id"), unique=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("buyers.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), index=True)
    creator_id: Mapped[int | None] = mapped_column(ForeignKey("creators.id"), index=True)
    stars: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    #: set on an imported review the store would not have taken (``before_delivery``: written
    #: before the order was delivered); kept as the source had it, never silently dropped
    flag: Mapped[str | None] = mapped_column(String(24))

    __table_args__ = (CheckConstraint("stars BETWEEN 1 AND 5", name="stars_in_range"),)


class ChatThread(Base):
    """A buyer's conversation with a shop; the first response time feeds the service score."""

    __tablename__ = "chat_threads"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    #: the id the row had where it was imported from (``trustflow import``), else None
    external_id: Mapped[str | None] = mapped_column(
        String(EXTERNAL_ID_LENGTH), unique=True, index=True
    )
    buyer_id: Mapped[int] = mapped_column(ForeignKey("buyers.id"), index=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), index=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"))
    first_message_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    first_response_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    first_response_seconds: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
