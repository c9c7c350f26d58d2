"""Governance's records: the identities merchants apply with (as keyed hashes), the identity
blocklist and the bans behind it, and every application the blocklist refused.

An identity number or a phone number is never stored: only its keyed hash (HMAC-SHA256 with
the deployment's secret, ``governance/identity.py``). There are too few ID numbers (about a
billion well-formed ones) for a plain hash to hide them: anyone holding the table could hash
them all; without the secret they cannot.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from trustflow.db import Base, IdType, UtcDateTime, enum_type, utcnow

__all__ = [
    "ApplicationKind",
    "BlockedIdentity",
    "IdentityKind",
    "MerchantBan",
    "MerchantIdentity",
    "RefusedApplication",
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
