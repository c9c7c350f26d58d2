"""Coupons, the buyers' claims on them, and the audit trail of every change to either.

A coupon's budget is held on its own row: ``committed_fen`` is the value of its claims now
reserved at a checkout or redeemed by a payment, ``committed_count`` how many they are.
Every change to either is one guarded update (``committed_fen + amount <= budget_fen``),
so no interleaving of buyers can take the budget past its limit (docs/campaigns.md).
"""

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
from sqlalchemy.orm import Mapped, mapped_column

from trustflow.db import Base, IdType, UtcDateTime, enum_type, utcnow


class CouponKind(StrEnum):
    """How a coupon takes money off the goods it applies to."""

    #: 满减: ``amount_fen`` off once the goods reach ``threshold_fen``
    FULL_REDUCTION = "full_reduction"
    #: 折扣: ``discount_bps`` ten-thousandths off, at most ``amount_fen`` (0: no cap)
    DISCOUNT = "discount"
    #: 立减: ``amount_fen`` off, never more than the goods
    FIXED = "fixed"


class CouponIssuer(StrEnum):
    """Who pays for the coupon: the platform (a campaign's subsidy) or the merchant."""

    PLATFORM = "platform"
    MERCHANT = "merchant"


class ClaimStatus(StrEnum):
    #: the buyer holds it, unused
    CLAIMED = "claimed"
    #: applied to a checkout awaiting payment: its value is taken from the budget
    RESERVED = "reserved"
    #: the checkout was paid
    REDEEMED = "redeemed"
    #: the paid order was refunded: the value went back to the budget, once
    REFUNDED = "refunded"
    #: the coupon's validity ended before it was used
    EXPIRED = "expired"


class Coupon(Base):
    """A coupon a buyer can claim and apply at checkout, with its budget by spend and by
    count, and how many each buyer may claim."""

    __tablename__ = "coupons"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    issuer: Mapped[CouponIssuer] = mapped_column(enum_type(CouponIssuer))
    #: a merchant coupon's shop (it applies to that shop's goods only); None for the platform
    shop_id: Mapped[int | None] = mapped_column(ForeignKey("shops.id"), index=True)
    kind: Mapped[CouponKind] = mapped_column(enum_type(CouponKind))
    threshold_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    discount_bps: Mapped[int] = mapped_column(Integer, default=0)
    budget_fen: Mapped[int] = mapped_column(BigInteger)
    budget_count: Mapped[int] = mapped_column(Integer)
    committed_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    committed_count: Mapped[int] = mapped_column(Integer, default=0)
    per_buyer_limit: Mapped[int] = mapped_column(Integer, default=1)
    valid_from: Mapped[datetime] = mapped_column(UtcDateTime)
    valid_to: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String(60))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (
        CheckConstraint("committed_fen >= 0 AND committed_fen <= budget_fen", name="within_budget"),
        CheckConstraint(
            "committed_count >= 0 AND committed_count <= budget_count", name="within_count"
        ),
        CheckConstraint("per_buyer_limit >= 1", name="limit_positive"),
        CheckConstraint("valid_to > valid_from", name="validity_ordered"),
        CheckConstraint(
            "(issuer = 'merchant') = (shop_id IS NOT NULL)", name="merchant_names_shop"
        ),
    )


class CouponHolding(Base):
    """How many claims one buyer holds on one coupon: the per-buyer limit is one guarded
    update of this row, so a burst of claims on separate connections cannot pass it."""

    __tablename__ = "coupon_holdings"

    coupon_id: Mapped[int] = mapped_column(ForeignKey("coupons.id"), primary_key=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("buyers.id"), primary_key=True)
    claims: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (CheckConstraint("claims >= 0", name="claims_non_negative"),)


class CouponClaim(Base):
    """One coupon a buyer claimed, and what became of it. ``amount_fen`` is what it took
    off the goods once reserved (0 until then)."""

    __tablename__ = "coupon_claims"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    coupon_id: Mapped[int] = mapped_column(ForeignKey("coupons.id"), index=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("buyers.id"), index=True)
    status: Mapped[ClaimStatus] = mapped_column(enum_type(ClaimStatus), default=ClaimStatus.CLAIMED)
    amount_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    #: the checkout it is reserved for or was redeemed in
    checkout_id: Mapped[int | None] = mapped_column(ForeignKey("checkouts.id"), index=True)
    idempotency_key: Mapped[str] = mapped_column(String(80))
    claimed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("buyer_id", "idempotency_key"),
        CheckConstraint("amount_fen >= 0", name="amount_non_negative"),
        Index("ix_coupon_claims_coupon_id_status", "coupon_id", "status"),
    )


class CouponEvent(Base):
    """Audit trail: one row per named action on a coupon or a claim, with its actor."""

    __tablename__ = "coupon_events"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    coupon_id: Mapped[int] = mapped_column(ForeignKey("coupons.id"), index=True)
    claim_id: Mapped[int | None] = mapped_column(ForeignKey("coupon_claims.id"), index=True)
    action: Mapped[str] = mapped_column(String(40))
    #: the budget's change (+ taken, − returned), in fen
    amount_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    actor: Mapped[str] = mapped_column(String(60))
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
