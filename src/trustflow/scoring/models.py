"""Score versions, the scores in each version, and merchants' appeals against defects."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from trustflow.db import Base, IdType, UtcDateTime, enum_type, utcnow


class ScoreKind(StrEnum):
    PRODUCT = "product"  # 商品分
    STORE = "store"  # 店铺体验分
    CREATOR = "creator"  # 带货口碑分


class ScoreStatus(StrEnum):
    #: Enough orders in the window for the score to speak for the entity.
    SCORED = "scored"
    #: Fewer orders than the published sample size: shown, never penalised.
    PROVISIONAL = "provisional"


class Tier(StrEnum):
    EXCELLENT = "excellent"
    GOOD = "good"
    FAIR = "fair"
    LOW = "low"


class VersionState(StrEnum):
    BUILDING = "building"
    ACTIVE = "active"
    SUPERSEDED = "superseded"


class ScoreVersion(Base):
    """One nightly computation. Readers see only the active version; a version becomes
    active in one transaction after all its rows are written."""

    __tablename__ = "score_versions"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    as_of: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    engine: Mapped[str] = mapped_column(String(20))
    state: Mapped[VersionState] = mapped_column(
        enum_type(VersionState), default=VersionState.BUILDING
    )
    entities: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    activated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class EntityScore(Base):
    """A product's, shop's or creator's score in one version, with its breakdown and hints."""

    __tablename__ = "entity_scores"

    version_id: Mapped[int] = mapped_column(ForeignKey("score_versions.id"), primary_key=True)
    kind: Mapped[ScoreKind] = mapped_column(enum_type(ScoreKind), primary_key=True)
    entity_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    score: Mapped[float] = mapped_column(Float)
    lower: Mapped[float] = mapped_column(Float)
    upper: Mapped[float] = mapped_column(Float)
    sample: Mapped[int] = mapped_column(Integer)
    status: Mapped[ScoreStatus] = mapped_column(enum_type(ScoreStatus))
    tier: Mapped[Tier] = mapped_column(enum_type(Tier))
    restricted: Mapped[bool] = mapped_column(Boolean, default=False)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    __table_args__ = (Index("ix_entity_scores_entity", "kind", "entity_id", "version_id"),)


class DefectKind(StrEnum):
    REVIEW = "review"
    AFTER_SALES = "after_sales"


class AppealStatus(StrEnum):
    PENDING = "pending"
    UPHELD = "upheld"
    REJECTED = "rejected"


class ScoreAppeal(Base):
    """A merchant contests one defect. An upheld appeal removes the defect from the next
    computation of every score it counted in."""

    __tablename__ = "score_appeals"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), index=True)
    defect_kind: Mapped[DefectKind] = mapped_column(enum_type(DefectKind))
    defect_id: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[AppealStatus] = mapped_column(
        enum_type(AppealStatus), default=AppealStatus.PENDING
    )
    decision_note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (UniqueConstraint("defect_kind", "defect_id"),)


class BurstVerdict(StrEnum):
    #: The reviews are genuine: score them.
    CONFIRMED = "confirmed"
    #: The burst was an attack: its bad reviews never count.
    DISMISSED = "dismissed"


class ReviewBurst(Base):
    """A shop's day of bad reviews held back by a computation, awaiting a platform verdict."""

    __tablename__ = "review_bursts"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("score_versions.id"), index=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), index=True)
    #: Days since 1970-01-01 (UTC), the day the bad reviews were left.
    epoch_day: Mapped[int] = mapped_column(Integer)
    bad_reviews: Mapped[int] = mapped_column(Integer)

    __table_args__ = (UniqueConstraint("version_id", "shop_id", "epoch_day"),)


class BurstDecision(Base):
    """The platform's verdict on one shop's burst day; it holds for every later computation."""

    __tablename__ = "burst_decisions"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), index=True)
    epoch_day: Mapped[int] = mapped_column(Integer)
    verdict: Mapped[BurstVerdict] = mapped_column(enum_type(BurstVerdict))
    note: Mapped[str] = mapped_column(Text, default="")
    decided_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("shop_id", "epoch_day"),)
