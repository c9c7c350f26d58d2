"""Coupons, the buyers' claims on them, festivals and shops' registrations for them, and
the audit trail of every change.

A coupon's budget is held on its own row: ``committed_fen`` is the value of its claims now
reserved at a checkout or redeemed by a payment, ``committed_count`` how many they are.
Every change to either is one guarded update (``committed_fen + amount <= budget_fen``),
so no interleaving of buyers can take the budget past its limit (docs/campaigns.md).
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from trustflow.db import Base, IdType, UtcDateTime, enum_type, utcnow
from trustflow.scoring.models import Tier


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
    #: the campaign whose subsidy budget pays for a platform coupon, if any
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"), index=True)
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
    #: the creator's Idempotency-Key, if it sent one, and a digest of what it asked for
    idempotency_key: Mapped[str | None] = mapped_column(String(80))
    request_hash: Mapped[str | None] = mapped_column(String(64))
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
        CheckConstraint(
            "campaign_id IS NULL OR issuer = 'platform'", name="campaign_pays_platform_coupons"
        ),
        UniqueConstraint("created_by", "idempotency_key"),
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


class Campaign(Base):
    """A festival (116, 618, 38 …): its registration, warm-up and main windows, the store
    score tier a shop needs to register, and its traffic and subsidy budgets. Windows are in
    order: registration opens, closes, then warm-up and the main window follow."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    registration_from: Mapped[datetime] = mapped_column(UtcDateTime)
    registration_to: Mapped[datetime] = mapped_column(UtcDateTime)
    warmup_from: Mapped[datetime] = mapped_column(UtcDateTime)
    main_from: Mapped[datetime] = mapped_column(UtcDateTime)
    main_to: Mapped[datetime] = mapped_column(UtcDateTime)
    #: the store experience tier a registering shop needs (through ``scoring.gates``)
    min_tier: Mapped[Tier] = mapped_column(enum_type(Tier))
    traffic_budget: Mapped[int] = mapped_column(BigInteger, default=0)
    subsidy_budget_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    #: what its coupons (reserved at checkouts or redeemed) and its product subsidies (held
    #: by sales) hold of the subsidy budget
    subsidy_committed_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    #: buyers kept out to measure what the campaign adds (basis points; ``rules.in_holdout``)
    holdout_bps: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_by: Mapped[str] = mapped_column(String(60))
    #: the creator's Idempotency-Key, if it sent one, and a digest of what it asked for
    idempotency_key: Mapped[str | None] = mapped_column(String(80))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("created_by", "idempotency_key"),
        CheckConstraint("holdout_bps >= 0 AND holdout_bps <= 5000", name="holdout_share"),
        CheckConstraint(
            "registration_from < registration_to AND registration_to <= warmup_from"
            " AND warmup_from <= main_from AND main_from < main_to",
            name="windows_ordered",
        ),
        CheckConstraint("traffic_budget >= 0 AND subsidy_budget_fen >= 0", name="budgets"),
        CheckConstraint(
            "subsidy_committed_fen >= 0 AND subsidy_committed_fen <= subsidy_budget_fen",
            name="within_subsidy",
        ),
    )


class RegistrationStatus(StrEnum):
    #: every rule passed: awaiting an operator's review
    PENDING = "pending"
    #: a rule refused it (the reasons say which, with the numbers)
    REFUSED = "refused"
    APPROVED = "approved"
    #: an operator turned it down after review
    REJECTED = "rejected"


class CampaignRegistration(Base):
    """A shop's registration of one SKU for a campaign (招商报名): the campaign price and
    quantity it offers, and for the brand C-position plan the benchmark price and commission
    floor it declares. ``reasons`` lists each rule that refused it, with its numbers."""

    __tablename__ = "campaign_registrations"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), index=True)
    #: indexed: every checkout looks up its SKUs' campaign offers
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id"), index=True)
    campaign_price_fen: Mapped[int] = mapped_column(BigInteger)
    quantity: Mapped[int] = mapped_column(Integer)
    c_position: Mapped[bool] = mapped_column(default=False)
    benchmark_price_fen: Mapped[int | None] = mapped_column(BigInteger)
    commission_floor_bps: Mapped[int | None] = mapped_column(Integer)
    commission_bps: Mapped[int] = mapped_column(Integer, default=0)
    #: what the platform pays of each unit's campaign price from the campaign's subsidy
    #: budget (商品补贴), granted by an operator (``campaigns/subsidies.py``); 0: none
    unit_subsidy_fen: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    #: units sold at the campaign price so far (never past ``quantity``)
    sold: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[RegistrationStatus] = mapped_column(enum_type(RegistrationStatus))
    #: the refusing rules: ``{"code", "message", "message_zh"}`` each, with the numbers
    reasons: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    #: the operator's reason for the last review or override
    review_reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("campaign_id", "sku_id"),
        CheckConstraint("campaign_price_fen > 0 AND quantity > 0", name="offer_positive"),
        CheckConstraint("sold >= 0 AND sold <= quantity", name="sold_within_quantity"),
        CheckConstraint(
            "unit_subsidy_fen >= 0 AND unit_subsidy_fen < campaign_price_fen",
            name="subsidy_below_price",
        ),
    )


class SaleStatus(StrEnum):
    #: the units count against the registration's quantity
    HELD = "held"
    #: the order was cancelled: the units and the subsidy went back, once
    RETURNED = "returned"
    #: the line was refunded in full: the subsidy went back to the budgets, once (the units
    #: stay sold: the merchant sold them at the campaign price)
    REFUNDED = "refunded"


class CampaignSale(Base):
    """One order line sold at a campaign price during the main window: how many units, what
    the merchant took off each (the list price less the campaign price) and what the platform
    paid of each from the campaign's subsidy budget (0 when none was granted or it ran out)."""

    __tablename__ = "campaign_sales"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    registration_id: Mapped[int] = mapped_column(
        ForeignKey("campaign_registrations.id"), index=True
    )
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id"), unique=True)
    quantity: Mapped[int] = mapped_column(Integer)
    unit_discount_fen: Mapped[int] = mapped_column(BigInteger)
    unit_subsidy_fen: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    status: Mapped[SaleStatus] = mapped_column(enum_type(SaleStatus), default=SaleStatus.HELD)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (
        CheckConstraint("quantity > 0 AND unit_discount_fen > 0", name="sale_positive"),
        CheckConstraint("unit_subsidy_fen >= 0", name="sale_subsidy_non_negative"),
    )


class CampaignEvent(Base):
    """Audit trail: one row per named action on a campaign or a registration, with its
    actor and, for an operator's review or override, the reason given."""

    __tablename__ = "campaign_events"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    registration_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaign_registrations.id"), index=True
    )
    action: Mapped[str] = mapped_column(String(40))
    from_status: Mapped[str | None] = mapped_column(String(24))
    to_status: Mapped[str | None] = mapped_column(String(24))
    reason: Mapped[str | None] = mapped_column(String(500))
    #: for a subsidy grant, the unit subsidy; for a shop's subsidy cap, the cap (fen)
    amount_fen: Mapped[int | None] = mapped_column(BigInteger)
    actor: Mapped[str] = mapped_column(String(60))
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class CampaignShopSubsidy(Base):
    """What one shop's subsidised sales hold of a campaign's subsidy budget, and the cap an
    operator set on it (None: the campaign's budget is the only bound). Every sale takes its
    subsidy by one guarded update of this row (``committed_fen + amount <= cap_fen``) and of
    the campaign's (``subsidy_committed_fen + amount <= subsidy_budget_fen``)."""

    __tablename__ = "campaign_shop_subsidies"

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), primary_key=True, index=True)
    cap_fen: Mapped[int | None] = mapped_column(BigInteger)
    committed_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (
        CheckConstraint(
            "committed_fen >= 0 AND (cap_fen IS NULL OR committed_fen <= cap_fen)",
            name="within_shop_cap",
        ),
    )


class CampaignBoost(Base):
    """One shop's festival boost traffic for one day (双倍助力流量): the reward impressions
    promised to it (what its own traffic was bringing it, once more, within the campaign's
    traffic budget) and those feed serving delivered, reconciled from the impressions log
    (``traffic/festival.py``). One row per campaign, day and shop."""

    __tablename__ = "campaign_boosts"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    day: Mapped[date] = mapped_column(Date)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), index=True)
    #: everything promised for the day: the rewards below and the boost
    promised_impressions: Mapped[int] = mapped_column(BigInteger)
    #: of which rewards the shop earned: registering (its first warm-up day), going live the
    #: day before, and the followers it gained the day before (``campaigns/boosts.py``)
    registration_impressions: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    live_impressions: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    fan_impressions: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    delivered_impressions: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("campaign_id", "day", "shop_id"),
        CheckConstraint(
            "registration_impressions >= 0 AND live_impressions >= 0 AND fan_impressions >= 0"
            " AND registration_impressions + live_impressions + fan_impressions"
            " <= promised_impressions",
            name="rewards_within_promise",
        ),
        CheckConstraint(
            "promised_impressions >= 0 AND delivered_impressions >= 0",
            name="boost_non_negative",
        ),
    )
