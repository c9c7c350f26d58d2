"""API shapes of scores, their definitions, history and appeals."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import Field, StrictBool

from trustflow.schemas_base import Shape
from trustflow.scoring.models import AppealStatus, BurstVerdict, DefectKind, ScoreKind, Tier
from trustflow.types import Id, LongText, Statement


class MetricOut(Shape):
    metric: str
    label: str
    dimension: str
    weight: float
    defects: float
    opportunities: float
    raw_rate: float | None
    rate: float = Field(description="The scored rate, shrunk toward the benchmark.")
    benchmark: float
    points: float


class HintOut(Shape):
    metric: str
    from_rate: float
    to_rate: float
    gain: float = Field(description="Points the score would gain.")
    text: str


class DimensionOut(Shape):
    dimension: str = Field(
        description="product, logistics or service (a creator's: goods, content)."
    )
    weight: float = Field(description="Its share of the score.")
    points: float = Field(description="Its metrics' points, by their weights.")


class ScoreOut(Shape):
    """A score as its owner (or an operator) sees it. Anyone else sees the tier and status;
    the numbers and the breakdown are left empty."""

    kind: ScoreKind
    entity_id: int
    status: str = Field(
        description="scored, provisional, or no_score (too little in the window to judge: no "
        "paid orders, or too small a share of the score known)."
    )
    tier: Tier | None
    as_of: datetime | None
    score: float | None = None
    lower: float | None = Field(None, description="90% credible interval, low end.")
    upper: float | None = None
    sample: int | None = Field(None, description="Paid orders in the window.")
    min_sample: int = Field(description="Below this the score is provisional.")
    restricted: bool | None = None
    held_reviews: int | None = Field(None, description="Bad reviews held back as a burst.")
    breakdown: list[MetricOut] | None = None
    hints: list[HintOut] | None = None
    dimensions: list[DimensionOut] | None = None
    window_days: int | None = Field(
        None, description="The window the score was computed over (longer for a small entity)."
    )
    known_share: float | None = Field(
        None,
        description="Share of the score's weight on metrics the entity had data for; the rest "
        "counts at its category's typical entity.",
    )


class HistoryPointOut(Shape):
    as_of: datetime
    score: float
    lower: float
    upper: float
    tier: Tier
    status: str


class DecisionOut(Shape):
    allowed: bool
    code: str
    reason: str
    reason_zh: str


class EligibilityOut(Shape):
    shop_id: int
    campaign_good: DecisionOut
    campaign_excellent: DecisionOut
    rewards: DecisionOut


class MetricDefinitionOut(Shape):
    name: str
    label: str
    label_zh: str
    dimension: str
    weight: float
    floor: float


class DefinitionOut(Shape):
    kind: ScoreKind
    title: str
    window_days: int
    extended_windows: list[int] = Field(
        description="Longer windows, shortest first, over which an entity with fewer than "
        "min_sample paid orders is scored: the first that holds min_sample, else the longest."
    )
    min_sample: int
    half_life_days: float | None
    by_category: bool
    metrics: list[MetricDefinitionOut]


class TierOut(Shape):
    tier: Tier
    lowest_score: float


class DefinitionsOut(Shape):
    definitions: list[DefinitionOut]
    tiers: list[TierOut]
    points_per_benchmark: float
    penalty_rate_multiple: float
    penalty_min_defects: float


class AppealIn(Shape):
    shop_id: Id
    defect_kind: DefectKind
    defect_id: Id
    reason: Statement


class AppealDecisionIn(Shape):
    upheld: StrictBool
    note: LongText = ""


class AppealOut(Shape):
    id: int
    shop_id: int
    defect_kind: DefectKind
    defect_id: int
    reason: str
    status: AppealStatus
    decision_note: str
    created_at: datetime
    decided_at: datetime | None


class BurstOut(Shape):
    """A shop's day of bad reviews held back for review instead of scored."""

    shop_id: int
    day: date
    bad_reviews: int


class BurstDecisionIn(Shape):
    shop_id: Id
    day: date
    verdict: BurstVerdict
    note: LongText = ""


class BurstDecisionOut(Shape):
    shop_id: int
    day: date
    verdict: BurstVerdict
    note: str
    decided_at: datetime
