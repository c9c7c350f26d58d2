"""The Chuanliu plan's published rules (docs/chuanliu.md) and what its decisions say:
the tier weights and thresholds (:data:`RULES`), the stable decision codes, and the shapes of
an eligibility decision and a tier assessment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from trustflow.scoring.models import Tier
from trustflow.traffic.chuanliu.models import ChuanliuTier

__all__ = [
    "PLAN",
    "RULES",
    "ChuanliuDecision",
    "ChuanliuRules",
    "Condition",
    "DecisionCode",
    "TierAssessment",
]

#: The name reward impressions paid for by this plan carry (``Impression.reward_plan``).
PLAN = "chuanliu"


# Published rules ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChuanliuRules:
    """How a qualifying goods owner's tier and share are set (docs/chuanliu.md; a test checks
    that the page's tables match). Thresholds of qualification and the pool's size are
    deployment settings (``chuanliu_*`` in :mod:`trustflow.config`).

    Each dimension scores 0–100 points:

    - **Diligence** = 100 × (``live_days_share`` × live days ÷ window days
      + (1 − ``live_days_share``) × min(live hours ÷ target hours, 1)), where the target is
      window days × ``target_live_hours_per_day``. A session counts ``max_session_hours`` at
      most.
    - **Distribution capability** = 100 × (``creators_share`` × c ÷ (c + median c)
      + (1 − ``creators_share``) × g ÷ (g + median g)), where c is the distributing creators
      and g the distribution GMV, and the medians are those of the day's qualifying owners:
      the median owner earns 50 points, twice the median 67, half of it 33.
    - **Incremental commercialisation** = 50 × (1 + growth), growth kept within −1..1, where
      growth = (self-broadcast GMV − that of the window before) ÷ max(that of the window
      before, ``growth_floor_fen``): flat earns 50, doubled (or more) 100, halved 25.

    The tier comes from the weighted sum of the three; its weight, times the store
    experience score's multiplier (no score: ×1), is the owner's share of the shops' pool.
    """

    live_days_share: float = 0.7
    target_live_hours_per_day: float = 4.0
    max_session_hours: float = 12.0
    creators_share: float = 0.5
    growth_floor_fen: int = 100_000
    diligence_weight: float = 0.40
    distribution_weight: float = 0.35
    increment_weight: float = 0.25
    #: (tier, lowest points, weight), best first.
    tiers: tuple[tuple[ChuanliuTier, float, int], ...] = (
        (ChuanliuTier.S, 75.0, 400),
        (ChuanliuTier.A, 60.0, 250),
        (ChuanliuTier.B, 45.0, 150),
        (ChuanliuTier.C, 0.0, 100),
    )
    #: Store experience score tier -> multiplier in percent. No score is neutral (100).
    store_multiplier_percent: tuple[tuple[Tier, int], ...] = (
        (Tier.EXCELLENT, 120),
        (Tier.GOOD, 100),
        (Tier.FAIR, 80),
        (Tier.LOW, 60),
    )
    no_score_multiplier_percent: int = 100
    #: The marketplace's size is its mean daily organic impressions over this many days.
    pool_basis_days: int = 7

    def tier_of(self, points: float) -> ChuanliuTier:
        for tier, lowest, _ in self.tiers:
            if points >= lowest:
                return tier
        return self.tiers[-1][0]

    def tier_weight(self, tier: ChuanliuTier) -> int:
        return next(weight for t, _, weight in self.tiers if t is tier)

    def store_multiplier(self, store_tier: Tier | None) -> int:
        if store_tier is None:
            return self.no_score_multiplier_percent
        return dict(self.store_multiplier_percent)[store_tier]


RULES = ChuanliuRules()


# What the functions answer --------------------------------------------------------------------


class DecisionCode(StrEnum):
    """Stable codes of a :class:`ChuanliuDecision` (clients branch on these, never on the text)."""

    ELIGIBLE = "eligible"
    SHOP_NOT_ACTIVE = "shop_not_active"
    SCORE_RESTRICTED = "score_restricted"
    #: the shop's violation points reach a campaign ban (``governance/penalties.py``)
    UNDER_PENALTY = "under_penalty"
    TOO_FEW_DISTRIBUTING_CREATORS = "too_few_distributing_creators"
    TOO_FEW_LIVE_DAYS = "too_few_live_days"


@dataclass(frozen=True)
class Condition:
    """One condition of qualification: what was observed, what is required, and ``code``,
    the decision's code when this condition fails."""

    code: DecisionCode
    passed: bool
    observed: int | str
    required: int | str
    reason: str


@dataclass(frozen=True)
class ChuanliuDecision:
    """Whether a goods owner qualifies for the plan on ``day``, and why (every condition,
    met or not)."""

    shop_id: int
    day: date
    conditions: tuple[Condition, ...]

    @property
    def eligible(self) -> bool:
        return all(c.passed for c in self.conditions)

    @property
    def failed(self) -> tuple[DecisionCode, ...]:
        return tuple(c.code for c in self.conditions if not c.passed)

    @property
    def code(self) -> DecisionCode:
        """:data:`DecisionCode.ELIGIBLE`, or the first failed condition's code."""
        return self.failed[0] if self.failed else DecisionCode.ELIGIBLE

    @property
    def reason(self) -> str:
        """The failed conditions' reasons, or all of them when the owner qualifies."""
        shown = [c for c in self.conditions if not c.passed] or list(self.conditions)
        return "; ".join(c.reason for c in shown)

    def observed(self, code: DecisionCode) -> int | str:
        return next(c.observed for c in self.conditions if c.code == code)


@dataclass(frozen=True)
class TierAssessment:
    """A qualifying goods owner's three dimensions, its tier and its weight in the split."""

    shop_id: int
    live_days: int
    live_hours: float
    distributing_creators: int
    distribution_gmv_fen: int
    self_broadcast_gmv_fen: int
    previous_self_broadcast_gmv_fen: int
    diligence: float
    distribution: float
    increment: float
    points: float
    tier: ChuanliuTier
    store_tier: Tier | None
    weight: int
