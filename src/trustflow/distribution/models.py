"""The distribution library (分销库): offers with a commission, and creators' selections."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from trustflow.db import EXTERNAL_ID_LENGTH, Base, IdType, UtcDateTime, utcnow


class DistributionOffer(Base):
    """A goods owner's offer: creators who sell this product earn ``commission_bps`` (1/10,000)."""

    __tablename__ = "distribution_offers"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    #: the id the row had where it was imported from (``trustflow import``), else None
    external_id: Mapped[str | None] = mapped_column(
        String(EXTERNAL_ID_LENGTH), unique=True, index=True
    )
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    commission_bps: Mapped[int] = mapped_column(Integer)
    valid_from: Mapped[datetime] = mapped_column(UtcDateTime)
    valid_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (
        CheckConstraint(
            "commission_bps >= 0 AND commission_bps <= 9000", name="commission_in_range"
        ),
    )


class CreatorSelection(Base):
    """A creator has picked an offer (选品) and may now sell the product for its commission."""

    __tablename__ = "creator_selections"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    creator_id: Mapped[int] = mapped_column(ForeignKey("creators.id"), index=True)
    offer_id: Mapped[int] = mapped_column(ForeignKey("distribution_offers.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("creator_id", "offer_id"),)
