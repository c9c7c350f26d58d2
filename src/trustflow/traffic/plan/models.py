"""The daily traffic plan as stored: versions, candidates with their duals, supply nodes with
their prices, and the shared pacing counters feed servers increment."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from trustflow.db import Base, IdType, UtcDateTime, enum_type, utcnow
from trustflow.vocabulary import Surface

__all__ = [
    "CandidateKind",
    "PacingCounter",
    "PlanCandidate",
    "PlanNode",
    "PlanStatus",
    "TrafficPlan",
]


class PlanStatus(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    RETIRED = "retired"


class CandidateKind(StrEnum):
    """What the plan hands traffic to: a shop's own room (its live sessions and videos), a
    creator's room, or a product card on the shelf."""

    SHOP_ROOM = "shop_room"
    CREATOR_ROOM = "creator_room"
    PRODUCT_CARD = "product_card"


class TrafficPlan(Base):
    """One day's plan. Written as a draft, then switched in: exactly one plan is active."""

    __tablename__ = "traffic_plans"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    plan_day: Mapped[date] = mapped_column(Date)
    status: Mapped[PlanStatus] = mapped_column(enum_type(PlanStatus), default=PlanStatus.DRAFT)
    solver: Mapped[str] = mapped_column(String(20))
    segments: Mapped[int] = mapped_column(Integer)
    candidates: Mapped[int] = mapped_column(Integer)
    nodes: Mapped[int] = mapped_column(Integer)
    #: expected GMV of the planned impressions, fen
    objective_fen: Mapped[int] = mapped_column(BigInteger)
    #: the entropy temperature of the dual plan in value units (fen per impression): serving
    #: spreads a node's impressions by exp(score / temperature)
    temperature: Mapped[float] = mapped_column(Float)
    solve_seconds: Mapped[float] = mapped_column(Float)
    max_shortfall: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    activated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (
        Index(
            "uq_traffic_plans_one_active",
            "status",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
    )

    @property
    def version(self) -> str:
        """What served impressions record as their plan version."""
        return f"plan-{self.id}"


class PlanCandidate(Base):
    """A candidate of a plan, with what the plan made of it."""

    __tablename__ = "traffic_plan_candidates"

    plan_id: Mapped[int] = mapped_column(ForeignKey("traffic_plans.id"), primary_key=True)
    idx: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[CandidateKind] = mapped_column(enum_type(CandidateKind))
    entity_id: Mapped[int] = mapped_column(BigInteger)
    #: the goods owner (None for a creator's room)
    shop_id: Mapped[int | None] = mapped_column(BigInteger)
    #: expected GMV of one impression, fen, after shrinkage and before trust
    value_fen: Mapped[float] = mapped_column(Float)
    #: the trust multiplier applied to the value (scores, penalties)
    multiplier: Mapped[float] = mapped_column(Float)
    #: the candidate's dual potential: > 0 where a promise binds, < 0 where the cap does
    potential: Mapped[float] = mapped_column(Float)
    planned_impressions: Mapped[int] = mapped_column(BigInteger)
    #: the day's Chuanliu promise to the candidate (served as Chuanliu reward traffic)
    promised_impressions: Mapped[int] = mapped_column(BigInteger, default=0)
    #: a festival's promise to the shop's room that day (its rewards and boost), served as
    #: reward traffic of that campaign's plan (``festival:<campaign_id>``)
    campaign_id: Mapped[int | None] = mapped_column(BigInteger)
    campaign_promised_impressions: Mapped[int] = mapped_column(
        BigInteger, default=0, server_default="0"
    )
    floor_impressions: Mapped[int] = mapped_column(BigInteger, default=0)
    is_new: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (
        Index("ix_traffic_plan_candidates_entity", "plan_id", "kind", "entity_id", unique=True),
        CheckConstraint(
            "planned_impressions >= 0 AND promised_impressions >= 0 AND floor_impressions >= 0",
            name="impressions_non_negative",
        ),
        CheckConstraint(
            "campaign_promised_impressions >= 0"
            " AND (campaign_promised_impressions = 0 OR campaign_id IS NOT NULL)",
            name="campaign_promise_names_campaign",
        ),
    )


class PlanNode(Base):
    """A supply node of a plan: forecast impressions of one surface, hour and segment, and
    the price the plan put on them."""

    __tablename__ = "traffic_plan_nodes"

    plan_id: Mapped[int] = mapped_column(ForeignKey("traffic_plans.id"), primary_key=True)
    surface: Mapped[Surface] = mapped_column(enum_type(Surface), primary_key=True)
    hour: Mapped[int] = mapped_column(Integer, primary_key=True)
    segment: Mapped[int] = mapped_column(Integer, primary_key=True)
    supply: Mapped[int] = mapped_column(BigInteger)
    price: Mapped[float] = mapped_column(Float)

    __table_args__ = (
        CheckConstraint("hour >= 0 AND hour < 24 AND segment >= 0", name="node_in_range"),
    )


class PacingCounter(Base):
    """Impressions served so far of one plan candidate, across every feed server: servers
    add their counts with atomic increments, never overwrite."""

    __tablename__ = "traffic_pacing_counters"

    plan_id: Mapped[int] = mapped_column(ForeignKey("traffic_plans.id"), primary_key=True)
    idx: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivered: Mapped[int] = mapped_column(BigInteger, default=0)
    reward_delivered: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    #: room on each page, so that updates stay on it (no index covers a changing column)
    __table_args__ = {"postgresql_with": {"fillfactor": 50}}
