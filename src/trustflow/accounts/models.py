"""Who takes part: merchants, creators, buyers, service providers, follows and API keys."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from trustflow.db import EXTERNAL_ID_LENGTH, Base, IdType, UtcDateTime, enum_type, utcnow


class Role(StrEnum):
    OPERATOR = "operator"
    MERCHANT = "merchant"
    CREATOR = "creator"
    BUYER = "buyer"
    SERVICE_PROVIDER = "service_provider"


class ProviderStatus(StrEnum):
    ADMITTED = "admitted"
    SUSPENDED = "suspended"


class Merchant(Base):
    """A merchant account (商家): owns shops, products and supply."""

    __tablename__ = "merchants"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    #: the id the row had where it was imported from (``trustflow import``), else None
    external_id: Mapped[str | None] = mapped_column(
        String(EXTERNAL_ID_LENGTH), unique=True, index=True
    )
    name: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Creator(Base):
    """A creator (达人/主播): owns content and a fan base; may distribute others' goods."""

    __tablename__ = "creators"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    #: the id the row had where it was imported from (``trustflow import``), else None
    external_id: Mapped[str | None] = mapped_column(
        String(EXTERNAL_ID_LENGTH), unique=True, index=True
    )
    name: Mapped[str] = mapped_column(String(120))
    fans: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (CheckConstraint("fans >= 0", name="fans_non_negative"),)


class Buyer(Base):
    """A buyer (老铁)."""

    __tablename__ = "buyers"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    #: the id the row had where it was imported from (``trustflow import``), else None
    external_id: Mapped[str | None] = mapped_column(
        String(EXTERNAL_ID_LENGTH), unique=True, index=True
    )
    name: Mapped[str] = mapped_column(String(120))
    #: where the buyer's parcels go (a region code): it sets the promised delivery window
    region: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ServiceProvider(Base):
    """An agency (服务商) that operates shops on merchants' behalf."""

    __tablename__ = "service_providers"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    status: Mapped[ProviderStatus] = mapped_column(
        enum_type(ProviderStatus), default=ProviderStatus.ADMITTED
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ServiceProviderShop(Base):
    """A shop a service provider operates, from ``since`` until ``until`` (open-ended if null)."""

    __tablename__ = "service_provider_shops"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("service_providers.id"), index=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), index=True)
    since: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    until: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Follow(Base):
    """A buyer following a creator or a shop: the private domain (私域) of that account."""

    __tablename__ = "follows"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("buyers.id"))
    creator_id: Mapped[int | None] = mapped_column(ForeignKey("creators.id"), index=True)
    shop_id: Mapped[int | None] = mapped_column(ForeignKey("shops.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (
        CheckConstraint(
            "(creator_id IS NULL) <> (shop_id IS NULL)", name="follows_exactly_one_target"
        ),
        UniqueConstraint("buyer_id", "creator_id", "shop_id"),
    )


class ApiKey(Base):
    """An API key. Only a SHA-256 digest of the secret is stored; the secret is shown once."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    role: Mapped[Role] = mapped_column(enum_type(Role))
    subject_id: Mapped[int | None] = mapped_column(BigInteger)
    label: Mapped[str] = mapped_column(String(120), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (
        CheckConstraint(
            "(role = 'operator') OR (subject_id IS NOT NULL)", name="api_keys_subject_required"
        ),
        Index("ix_api_keys_role_subject", "role", "subject_id"),
    )
