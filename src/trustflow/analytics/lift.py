"""What the Chuanliu plan's reward traffic really adds to GMV, measured honestly.

The plan hands eligible goods owners reward impressions out of a fixed daily pool, and every
reward impression is carved out of the organic feed (each user sees the same number of
impressions a day either way). So the pool is zero-sum, and the obvious experiment lies:

- **Merchant holdout** (the naive design): half of the eligible merchants get no reward traffic
  and the other half share the *whole* pool. Treated merchants receive about twice the reward
  traffic they would under full rollout, and the organic impressions the pool displaces are
  taken from everyone, holdout merchants included, so the treated-minus-holdout difference
  counts reward GMV twice and never subtracts what the displaced organic impressions would have
  sold. Scaling it up to all eligible merchants overstates the lift.
- **Budget split** (the honest design): users are hashed into two halves that form two
  independent sub-markets, each with half the pool. The plan runs only in the treatment half,
  where each user sees exactly the share of reward traffic a full rollout would give, and the
  displacement happens inside the same half. Twice the treatment-minus-control GMV is an
  unbiased estimate of what the plan adds under full rollout.

Both are analysed the same way (:func:`did_cuped`): difference-in-differences on each unit's
daily GMV before and during the test, with the pre-period GMV as a CUPED covariate. The
market they are checked against (:class:`~trustflow.simulate.lift_market.LiftMarket`) is a
small NumPy simulator whose true effect is known exactly.
docs/lift.md has the reasoning and the formulas.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt
from scipy import stats  # type: ignore[import-untyped]

from trustflow.buckets import user_buckets
from trustflow.bulk import IntArray
from trustflow.errors import InvalidInput

__all__ = ["Design", "LiftEstimate", "did_cuped", "user_buckets"]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


class Design(StrEnum):
    BUDGET_SPLIT = "budget_split"
    MERCHANT_HOLDOUT = "merchant_holdout"
    #: a campaign keeps a hashed share of buyers out (docs/campaigns.md, "Incremental GMV")
    BUYER_HOLDOUT = "buyer_holdout"


@dataclass(frozen=True)
class LiftEstimate:
    """The plan's incremental GMV per day (fen, as float: an estimate, not money stored) under
    full rollout, as one design estimates it, with a two-sided interval.

    ``estimate``, ``se`` and the interval are the CUPED-adjusted difference-in-differences;
    ``did_estimate``, ``did_se`` and ``did_ci_*`` are plain difference-in-differences (CUPED
    with theta 1) for comparison, and ``variance_reduction`` is 1 − se² ÷ did_se².
    ``unadjusted_se`` is the standard error of the test-period difference alone (theta 0).
    """

    design: Design
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    confidence: float
    theta: float
    did_estimate: float
    did_se: float
    did_ci_low: float
    did_ci_high: float
    variance_reduction: float
    unadjusted_se: float
    test_days: int
    treated_units: int
    control_units: int

    @property
    def ci_width(self) -> float:
        return self.ci_high - self.ci_low

    @property
    def test_period_estimate(self) -> float:
        """Incremental GMV over the whole test period (fen)."""
        return self.estimate * self.test_days

    @property
    def test_period_ci(self) -> tuple[float, float]:
        return self.ci_low * self.test_days, self.ci_high * self.test_days

    def covers(self, value: float) -> bool:
        return self.ci_low <= value <= self.ci_high


def did_cuped(
    pre_gmv: IntArray,
    test_gmv: IntArray,
    treated: BoolArray,
    *,
    pre_days: int,
    test_days: int,
    population_units: int,
    design: Design,
    confidence: float = 0.95,
) -> LiftEstimate:
    """Difference-in-differences with CUPED on per-unit GMV, scaled to a market total.

    ``pre_gmv`` and ``test_gmv`` are each unit's GMV (fen) over the pre-period and the test
    period; units are user buckets or merchants. With x the unit's GMV per pre-period day and y
    its GMV per test day, the adjusted outcome is ``y − theta·x`` where theta is the pooled
    within-arm regression slope cov(x, y) ÷ var(x) (plain DiD is theta = 1; CUPED picks the
    theta that leaves the least variance, so its interval is never wider than plain DiD's).
    The estimate is ``population_units × (treated mean − control mean)`` of the adjusted
    outcome, so with equal arms of K buckets out of 2K it is 2 × (treated total − control
    total). The interval is a Welch t interval on the unit-level means.
    """
    x = np.asarray(pre_gmv, dtype=np.float64) / pre_days
    y = np.asarray(test_gmv, dtype=np.float64) / test_days
    arm = np.asarray(treated, dtype=bool)
    if x.shape != y.shape or x.shape != arm.shape or x.ndim != 1:
        raise InvalidInput("pre_gmv, test_gmv and treated must be 1-D arrays of one length")
    n_treated, n_control = int(arm.sum()), int((~arm).sum())
    if min(n_treated, n_control) < 2:
        raise InvalidInput(
            "each arm needs at least two units to estimate a variance",
            treated_units=n_treated,
            control_units=n_control,
        )
    if not 0.0 < confidence < 1.0:
        raise InvalidInput("confidence must be between 0 and 1", confidence=confidence)

    xc = np.where(arm, x - x[arm].mean(), x - x[~arm].mean())
    yc = np.where(arm, y - y[arm].mean(), y - y[~arm].mean())
    sxx = float(xc @ xc)
    theta = float(xc @ yc) / sxx if sxx > 0 else 0.0

    def contrast(z: FloatArray) -> tuple[float, float, float]:
        vt, vc = z[arm].var(ddof=1) / n_treated, z[~arm].var(ddof=1) / n_control
        diff = z[arm].mean() - z[~arm].mean()
        var = vt + vc
        # Welch–Satterthwaite degrees of freedom (the arms may differ in spread).
        denom = vt**2 / (n_treated - 1) + vc**2 / (n_control - 1)
        df = var**2 / denom if denom > 0 else float(n_treated + n_control - 2)
        return population_units * float(diff), population_units * math.sqrt(var), df

    quantile = 0.5 + confidence / 2
    estimate, se, df = contrast(y - theta * x)
    did_estimate, did_se, did_df = contrast(y - x)
    _, unadjusted_se, _ = contrast(y)
    half_width = float(stats.t.ppf(quantile, df)) * se
    did_half_width = float(stats.t.ppf(quantile, did_df)) * did_se
    return LiftEstimate(
        design=design,
        estimate=estimate,
        se=se,
        ci_low=estimate - half_width,
        ci_high=estimate + half_width,
        confidence=confidence,
        theta=theta,
        did_estimate=did_estimate,
        did_se=did_se,
        did_ci_low=did_estimate - did_half_width,
        did_ci_high=did_estimate + did_half_width,
        variance_reduction=1.0 - (se / did_se) ** 2 if did_se > 0 else 0.0,
        unadjusted_se=unadjusted_se,
        test_days=test_days,
        treated_units=n_treated,
        control_units=n_control,
    )
