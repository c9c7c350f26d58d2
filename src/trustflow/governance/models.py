"""Governance's records: the identities merchants apply with (as keyed hashes), the identity
blocklist and the bans behind it, every application the blocklist refused; the brand
registry, shops' brand authorisations, and the listings the screening intercepted.

An identity number or a phone number is never stored: only its keyed hash (HMAC-SHA256 with
the deployment's secret, ``governance/identity.py``). There are too few ID numbers (about a
billion well-formed ones) for a plain hash to hide them: anyone holding the table could hash
them all; without the secret they cannot.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Mapped, mapped_column

from trustflow.db import Base, IdType, UtcDateTime, enum_type, utcnow

__all__ = [
    "ApplicationKind",
    "AuthorisationStatus",
    "BlockedIdentity",
    "Brand",
    "BrandAuthorisation",
    "BrandKey",
    "IdentityKind",
    "InterceptionStatus",
    "ListingInterception",
    "LiveReport",
    "MerchantBan",
    "MerchantIdentity",
    "RefusedApplication",
    "ReportReason",
    "ReportStatus",
    "Violation",
]


class IdentityKind(StrEnum):
    #: a resident identity card number (居民身份证号)
    ID_NUMBER = "id_number"
    #: a mobile phone number
    PHONE = "phone"


class ApplicationKind(StrEnum):
    #: a new merchant account (入驻申请)
    MERCHANT = "merchant"
    #: a new shop of an existing merchant (开店申请)
    SHOP = "shop"


class MerchantIdentity(Base):
    """An identity a merchant applied with: its kind and keyed hash."""

    __tablename__ = "merchant_identities"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    kind: Mapped[IdentityKind] = mapped_column(enum_type(IdentityKind))
    digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("merchant_id", "kind"),
        Index("ix_merchant_identities_kind_digest", "kind", "digest"),
    )


class MerchantBan(Base):
    """A merchant banned from the platform by an operator, with the reason on the record."""

    __tablename__ = "merchant_bans"

    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), primary_key=True)
    reason: Mapped[str] = mapped_column(String(500))
    banned_by: Mapped[str] = mapped_column(String(60))
    banned_at: Mapped[datetime] = mapped_column(UtcDateTime)


class BlockedIdentity(Base):
    """An identity on the blocklist: no new merchant or shop may be opened with it. Written
    when a merchant is banned (each identity it applied with); ``source_merchant_id`` says
    whose ban put it there."""

    __tablename__ = "blocked_identities"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    kind: Mapped[IdentityKind] = mapped_column(enum_type(IdentityKind))
    digest: Mapped[str] = mapped_column(String(64))
    source_merchant_id: Mapped[int | None] = mapped_column(ForeignKey("merchants.id"))
    reason: Mapped[str] = mapped_column(String(500))
    blocked_by: Mapped[str] = mapped_column(String(60))
    blocked_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (UniqueConstraint("kind", "digest"),)


class RefusedApplication(Base):
    """An application the blocklist refused: what was applied for, which identity matched
    (the blocklist row, never the number), by whom and when. Governance statistics count
    these per day."""

    __tablename__ = "refused_applications"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    kind: Mapped[ApplicationKind] = mapped_column(enum_type(ApplicationKind))
    #: the merchant applying for a shop (None for a new merchant's application)
    merchant_id: Mapped[int | None] = mapped_column(ForeignKey("merchants.id"), index=True)
    matched: Mapped[IdentityKind | None] = mapped_column(enum_type(IdentityKind))
    blocked_identity_id: Mapped[int | None] = mapped_column(ForeignKey("blocked_identities.id"))
    #: why: ``identity_blocked`` or ``merchant_banned``
    rule: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(60))
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class Brand(Base):
    """A brand in the platform's registry (品牌库): its name, the other names it is known by
    (``aliases``, e.g. its Chinese name), and the price of its usual goods the platform
    takes as a reference for prices far below it. ``key`` is the name's matching key
    (``governance/listings.py brand_key``), unique."""

    __tablename__ = "brands"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    key: Mapped[str] = mapped_column(String(80), unique=True)
    aliases: Mapped[list[str]] = mapped_column(JSON, default=list)
    reference_price_fen: Mapped[int | None] = mapped_column(BigInteger)
    created_by: Mapped[str] = mapped_column(String(60))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class BrandKey(Base):
    """Each name a registered brand is known by, as its matching key: the index the screening
    looks names up in (a title's words and passages, one query), and the guard that no two
    brands share a name (unique, so two registrations at once cannot both take it)."""

    __tablename__ = "brand_keys"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"), index=True)
    #: whether titles are searched for it (``governance/listings.py _looked_for``); the brand
    #: field is always matched
    in_titles: Mapped[bool] = mapped_column(default=True)


class AuthorisationStatus(StrEnum):
    #: the merchant submitted a document; an operator has not looked at it yet
    PENDING = "pending"
    #: an operator verified the document: the shop may sell the brand
    VERIFIED = "verified"
    REJECTED = "rejected"
    #: withdrawn by an operator after it was verified
    REVOKED = "revoked"


class BrandAuthorisation(Base):
    """A shop's right to sell a brand (品牌授权): the merchant submits the document's
    reference; only an operator's verification makes it count."""

    __tablename__ = "brand_authorisations"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), index=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"), index=True)
    #: where the document is (a file reference the merchant uploaded), as submitted
    document: Mapped[str] = mapped_column(String(200))
    status: Mapped[AuthorisationStatus] = mapped_column(enum_type(AuthorisationStatus))
    submitted_by: Mapped[str] = mapped_column(String(60))
    submitted_at: Mapped[datetime] = mapped_column(UtcDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(60))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    decision_reason: Mapped[str | None] = mapped_column(String(500))

    __table_args__ = (UniqueConstraint("shop_id", "brand_id"),)


class InterceptionStatus(StrEnum):
    #: the listing is blocked; the merchant may appeal
    OPEN = "open"
    #: the merchant appealed; an operator decides
    APPEALED = "appealed"
    #: the operator upheld the interception after the appeal
    UPHELD = "upheld"
    #: the operator overturned it: the listing is free again
    OVERTURNED = "overturned"


class ListingInterception(Base):
    """A listing the screening intercepted (拦截): the rule, its message with the numbers in
    English and Chinese, and the appeal and its decision."""

    __tablename__ = "listing_interceptions"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), index=True)
    rule: Mapped[str] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(String(500))
    message_zh: Mapped[str] = mapped_column(String(500))
    status: Mapped[InterceptionStatus] = mapped_column(enum_type(InterceptionStatus))
    appeal: Mapped[str | None] = mapped_column(String(1000))
    decided_by: Mapped[str | None] = mapped_column(String(60))
    decision_reason: Mapped[str | None] = mapped_column(String(500))
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Violation(Base):
    """A violation recorded against a shop (违规记录): the rule broken and the points it
    carries (``governance/penalties.py``), the reason, who recorded it, and when its points
    expire. A violation found wrong on appeal is revoked, with a reason, and counts no more."""

    __tablename__ = "violations"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), index=True)
    rule: Mapped[str] = mapped_column(String(40))
    points: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(500))
    #: what it came from: an upheld listing interception, if any
    interception_id: Mapped[int | None] = mapped_column(ForeignKey("listing_interceptions.id"))
    recorded_by: Mapped[str] = mapped_column(String(60))
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_by: Mapped[str | None] = mapped_column(String(60))
    revoke_reason: Mapped[str | None] = mapped_column(String(500))

    __table_args__ = (
        CheckConstraint("points > 0", name="points_positive"),
        CheckConstraint("expires_at > at", name="expires_after"),
        UniqueConstraint("interception_id"),
    )


class ReportReason(StrEnum):
    #: 售假: the goods shown are fakes
    COUNTERFEIT = "counterfeit"
    #: 虚假宣传: the host misleads about the goods
    MISLEADING = "misleading"
    #: 违禁: prohibited goods or content
    PROHIBITED = "prohibited"
    #: 辱骂 / 不当言行: abuse or misconduct
    MISCONDUCT = "misconduct"
    OTHER = "other"


class ReportStatus(StrEnum):
    OPEN = "open"
    #: an operator found it right: the room's shop gets the violation
    UPHELD = "upheld"
    DISMISSED = "dismissed"


class LiveReport(Base):
    """A buyer's report from a live room (直播间举报), into the operators' review queue. One
    open report per buyer and room: a buyer cannot flood the queue against a rival."""

    __tablename__ = "live_reports"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("buyers.id"), index=True)
    live_session_id: Mapped[int] = mapped_column(ForeignKey("live_sessions.id"), index=True)
    #: the room's host: its shop (the violation's target when upheld) or its creator
    shop_id: Mapped[int | None] = mapped_column(ForeignKey("shops.id"), index=True)
    creator_id: Mapped[int | None] = mapped_column(ForeignKey("creators.id"), index=True)
    reason: Mapped[ReportReason] = mapped_column(enum_type(ReportReason))
    text: Mapped[str] = mapped_column(String(1000), default="")
    status: Mapped[ReportStatus] = mapped_column(enum_type(ReportStatus))
    decided_by: Mapped[str | None] = mapped_column(String(60))
    decision_reason: Mapped[str | None] = mapped_column(String(500))
    violation_id: Mapped[int | None] = mapped_column(ForeignKey("violations.id"))
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)

    __table_args__ = (
        Index(
            "uq_live_reports_one_open",
            "buyer_id",
            "live_session_id",
            unique=True,
            sqlite_where=sql_text("status = 'open'"),
            postgresql_where=sql_text("status = 'open'"),
        ),
    )
