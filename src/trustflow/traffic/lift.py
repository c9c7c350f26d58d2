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
market itself (:class:`LiftMarket`, drawn into a :class:`SimulatedMarket`) is a small NumPy
simulator whose true effect is known exactly, so the designs can be checked against it.
docs/lift.md has the reasoning and the formulas.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats  # type: ignore[import-untyped]

from trustflow.bulk import IntArray
from trustflow.errors import InvalidInput

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

#: A precise reward impression may convert at most this many times better than an in-segment
#: organic one; a ``true_effect`` that needs more is not a market, it is a typo.
MAX_PRECISION = 50.0
PRE, TEST = 0, 1


class Design(StrEnum):
    BUDGET_SPLIT = "budget_split"
    MERCHANT_HOLDOUT = "merchant_holdout"


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


@dataclass(frozen=True)
class LiftMarket:
    """A marketplace in which to measure the plan: its size, its reward pool, and the true
    effect the plan has under full rollout.

    ``true_effect`` is integer fen per day: the expected marketplace GMV per test day with the
    plan rolled out to every eligible merchant, minus the same without the plan. A drawn market
    calibrates how well precise reward impressions convert so that this holds exactly; zero
    means reward impressions sell exactly what the organic impressions they displace would
    have, a negative value that they sell less.
    """

    merchants: int = 2_000
    users: int = 200_000
    pre_days: int = 28
    test_days: int = 14
    reward_pool: int = 400_000
    """Reward impressions a day for the whole marketplace (Chuanliu's daily pool)."""
    impressions_per_user: int = 40
    """Feed impressions each user sees a day; reward impressions are carved out of these."""
    true_effect: int = 3_000_000
    segments: int = 50
    """Interest segments: a precise reward impression reaches users of the merchant's own."""
    eligible_share: float = 0.4
    """Share of merchants eligible (creators distribute their goods, they go live steadily)."""
    conversion_rate: float = 0.004
    """Mean orders per organic impression of a merchant in the user's own segment."""
    off_segment_conversion: float = 0.25
    """How an organic impression outside the user's segment converts, relative to inside."""
    mean_price_fen: int = 6_000
    extra_items: float = 0.3
    """Mean items per order beyond the first."""
    activity_shape: float = 0.8
    """Gamma shape of user activity (mean 1): smaller means heavier buyers dominate."""
    activity_drift: float = 0.3
    """Log-sd of each user's change in activity from the pre-period to the test."""
    buckets_per_arm: int = 200

    def __post_init__(self) -> None:
        def need(ok: bool, message: str, **details: Any) -> None:
            if not ok:
                raise InvalidInput(message, **details)

        for name in ("merchants", "users", "pre_days", "test_days", "impressions_per_user"):
            value = getattr(self, name)
            need(
                isinstance(value, int) and value > 0,
                f"{name} must be a positive integer, got {value!r}",
                field=name,
            )
        for name in ("reward_pool", "true_effect", "mean_price_fen"):
            value = getattr(self, name)
            need(
                isinstance(value, int) and not isinstance(value, bool),
                f"{name} must be an integer ({'fen' if name != 'reward_pool' else 'impressions'})"
                f", got {value!r}",
                field=name,
            )
        need(self.reward_pool >= 0, f"reward_pool must not be negative, got {self.reward_pool}")
        need(
            self.reward_pool <= self.users * self.impressions_per_user // 2,
            "reward_pool may take at most half of all impressions "
            f"({self.users * self.impressions_per_user // 2:,} a day), got {self.reward_pool:,}",
            field="reward_pool",
        )
        need(
            self.reward_pool > 0 or self.true_effect == 0,
            "with no reward pool the plan can have no effect: true_effect must be 0",
            field="true_effect",
        )
        need(self.mean_price_fen > 0, "mean_price_fen must be positive", field="mean_price_fen")
        need(
            1 <= self.segments <= self.merchants,
            f"segments must be between 1 and merchants ({self.merchants}), got {self.segments}",
            field="segments",
        )
        need(
            0.0 < self.eligible_share <= 1.0,
            f"eligible_share must be in (0, 1], got {self.eligible_share}",
            field="eligible_share",
        )
        need(self.conversion_rate > 0, "conversion_rate must be positive")
        need(
            0.0 <= self.off_segment_conversion <= 1.0,
            "off_segment_conversion must be in [0, 1]",
            field="off_segment_conversion",
        )
        need(self.extra_items >= 0, "extra_items must not be negative")
        need(self.activity_shape > 0, "activity_shape must be positive")
        need(self.activity_drift >= 0, "activity_drift must not be negative")
        need(
            isinstance(self.buckets_per_arm, int) and self.buckets_per_arm >= 2,
            f"buckets_per_arm must be an integer of at least 2, got {self.buckets_per_arm!r}",
            field="buckets_per_arm",
        )

    def draw(self, seed: int) -> SimulatedMarket:
        """One market: merchants, users and daily demand drawn from ``seed``."""
        return SimulatedMarket(self, seed)


@dataclass(frozen=True)
class Orders:
    """Every simulated order: who bought, in which period, from whom, for how much (fen)."""

    user: IntArray
    period: IntArray
    merchant: IntArray
    value_fen: IntArray
    reward: BoolArray


@dataclass(frozen=True)
class Rollout:
    """Who gets reward traffic in the test period: reward impressions a day per user, and the
    merchants those impressions go to."""

    reward_per_user: FloatArray
    plan_merchants: BoolArray


class SimulatedMarket:
    """One draw of a :class:`LiftMarket`: the hidden truth of every merchant and user.

    Organic feed: a user's impressions go to all merchants in proportion to their popularity;
    an impression converts at the merchant's conversion rate times the user's activity (less
    outside the user's interest segment), and an order is worth the merchant's price times
    1 + Poisson(extra_items) items, in integer fen. Reward feed: a plan merchant earns pool
    impressions in proportion to its reward weight (diligence and distribution), shown only
    to users of its own segment (the customer group its creators' sales located), where they
    convert ``precision`` times better than an in-segment organic impression. Demand moves by
    day (week pattern, slow growth, common shocks) and users' activity drifts between the
    periods. Orders over a period are Poisson, so each user's orders per period are drawn at
    once (a sum of daily Poisson draws is Poisson): exact, and no loop over days.
    """

    def __init__(self, config: LiftMarket, seed: int) -> None:
        self.config = c = config
        self.seed = seed
        population, self._split_seed, self._holdout_seed = np.random.SeedSequence(self.seed).spawn(
            3
        )
        rng = np.random.default_rng(population)

        def mean_one_lognormal(sigma: float, size: int) -> FloatArray:
            return rng.lognormal(-(sigma**2) / 2, sigma, size)

        m, u = c.merchants, c.users
        self.merchant_segment: IntArray = rng.permutation(np.arange(m, dtype=np.int64) % c.segments)
        eligible = rng.random(m) < c.eligible_share
        # Every segment has an eligible merchant, so every user can be reached by the plan.
        eligible[np.unique(self.merchant_segment, return_index=True)[1]] = True
        self.eligible: BoolArray = eligible
        self.popularity: FloatArray = rng.lognormal(0.0, 1.0, m)
        self.conversion: FloatArray = c.conversion_rate * mean_one_lognormal(0.5, m)
        self.price_fen: IntArray = np.maximum(
            np.rint(c.mean_price_fen * mean_one_lognormal(0.6, m)), 1
        ).astype(np.int64)
        self.reward_weight: FloatArray = np.where(eligible, rng.lognormal(0.0, 0.8, m), 0.0)
        self.user_segment: IntArray = rng.integers(0, c.segments, u, dtype=np.int64)
        pre = rng.gamma(c.activity_shape, 1.0 / c.activity_shape, u)
        self.activity: FloatArray = np.stack(
            [pre, pre * mean_one_lognormal(c.activity_drift, u)], axis=1
        )
        days = np.arange(c.pre_days + c.test_days)
        self.day_factor: FloatArray = (
            (1.0 + 0.1 * np.sin(2 * np.pi * days / 7))
            * (1.0 + 0.002 * days)
            * mean_one_lognormal(0.05, days.size)
        )
        self.period_demand: FloatArray = np.array(
            [self.day_factor[: c.pre_days].sum(), self.day_factor[c.pre_days :].sum()]
        )
        self.order_value: FloatArray = self.price_fen.astype(np.float64) * (1.0 + c.extra_items)

        # Organic traffic: per segment, expected orders and GMV per impression for a user of
        # activity 1, and which merchant an organic order goes to.
        share = self.popularity / self.popularity.sum()
        match = np.where(
            self.merchant_segment[None, :] == np.arange(c.segments)[:, None],
            1.0,
            c.off_segment_conversion,
        )
        organic = match * (share * self.conversion)[None, :]
        self.organic_orders: FloatArray = organic.sum(axis=1)
        self.organic_gmv: FloatArray = organic @ self.order_value
        self._organic_table = _cumulative_rows(organic)

        self.precision = 1.0
        #: How many times better a reward impression converts than an in-segment organic one.
        self.precision = self._calibrate()

    # Traffic and expectations ---------------------------------------------------------------

    def _reward_rates(self, plan: BoolArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Per segment, at the current precision: reward orders and GMV per reward impression
        for a user of activity 1, and the merchant table of reward orders."""
        c = self.config
        weight = np.where(plan, self.reward_weight, 0.0)
        rows = np.zeros((c.segments, c.merchants))
        rows[self.merchant_segment, np.arange(c.merchants)] = weight
        total = rows.sum(axis=1, keepdims=True)
        shown = np.divide(rows, total, out=np.zeros_like(rows), where=total > 0)
        converting = shown * (self.precision * self.conversion)[None, :]
        return converting.sum(axis=1), converting @ self.order_value, converting

    def _rollout(self, pool: float, plan: BoolArray, users: BoolArray) -> Rollout:
        """Share ``pool`` reward impressions a day among ``plan`` merchants by reward weight,
        each merchant's shown to the ``users`` of its segment, split evenly among them."""
        c = self.config
        audience = np.bincount(self.user_segment[users], minlength=c.segments).astype(np.float64)
        earned = np.bincount(
            self.merchant_segment,
            weights=np.where(plan, self.reward_weight, 0.0),
            minlength=c.segments,
        )
        earned[audience == 0] = 0.0
        per_user = np.zeros(c.segments)
        if earned.sum() > 0:
            segment_pool = pool * earned / earned.sum()
            np.divide(segment_pool, audience, out=per_user, where=audience > 0)
        if per_user.max(initial=0.0) > c.impressions_per_user:
            segment = int(per_user.argmax())
            raise InvalidInput(
                f"the reward pool does not fit: users of segment {segment} would need "
                f"{per_user[segment]:.1f} reward impressions a day but see only "
                f"{c.impressions_per_user}; lower reward_pool or add users",
                field="reward_pool",
            )
        return Rollout(np.where(users, per_user[self.user_segment], 0.0), plan)

    def full_rollout(self) -> Rollout:
        everyone = np.ones(self.config.users, dtype=bool)
        return self._rollout(self.config.reward_pool, self.eligible, everyone)

    def no_plan(self) -> Rollout:
        c = self.config
        return Rollout(np.zeros(c.users), np.zeros(c.merchants, dtype=bool))

    def expected_gmv_per_day(self, rollout: Rollout, period: int = TEST) -> float:
        """Expected marketplace GMV per day of ``period`` (fen, an expectation) under
        ``rollout``; the plan only ever runs in the test period."""
        c = self.config
        days = c.pre_days if period == PRE else c.test_days
        reward = rollout.reward_per_user if period == TEST else np.zeros(c.users)
        _, reward_gmv, _ = self._reward_rates(rollout.plan_merchants)
        seg = self.user_segment
        per_user = (c.impressions_per_user - reward) * self.organic_gmv[seg] + reward * reward_gmv[
            seg
        ]
        return float(self.period_demand[period] * (self.activity[:, period] @ per_user)) / days

    @property
    def true_effect_per_day(self) -> float:
        """Incremental GMV per test day of full rollout over no plan, from the model's
        expectations (equals ``config.true_effect`` by calibration)."""
        return self.expected_gmv_per_day(self.full_rollout()) - self.expected_gmv_per_day(
            self.no_plan()
        )

    def _calibrate(self) -> float:
        """The precision at which full rollout adds exactly ``config.true_effect`` a day.

        The effect is linear in precision: demand × Σ activity × reward impressions ×
        (precision × reward GMV at precision 1 − organic GMV displaced).
        """
        c = self.config
        rollout = self.full_rollout()
        _, reward_gmv, _ = self._reward_rates(rollout.plan_merchants)  # precision is 1 here
        weight = self.activity[:, TEST] * rollout.reward_per_user
        scale = float(self.period_demand[TEST]) / c.test_days
        gained = scale * float(weight @ reward_gmv[self.user_segment])
        displaced = scale * float(weight @ self.organic_gmv[self.user_segment])
        if gained == 0:
            return 1.0
        precision = (c.true_effect + displaced) / gained
        if not 0.0 <= precision <= MAX_PRECISION:
            raise InvalidInput(
                f"true_effect {c.true_effect:,} fen a day is out of reach of this market: "
                f"reward impressions would have to convert {precision:.2f} times as well as "
                f"in-segment organic ones (allowed 0 to {MAX_PRECISION:g}); the displaced "
                f"organic traffic is worth {displaced:,.0f} fen a day",
                field="true_effect",
            )
        return precision

    # Simulation ------------------------------------------------------------------------------

    def simulate(self, rollout: Rollout, rng: np.random.Generator) -> Orders:
        """Every order of the pre-period and the test period under ``rollout``."""
        c = self.config
        seg = self.user_segment
        reward_orders, _, reward_rows = self._reward_rates(rollout.plan_merchants)
        reward_per_user = np.stack([np.zeros(c.users), rollout.reward_per_user], axis=1)
        demand = self.activity * self.period_demand[None, :]
        organic_counts = rng.poisson(
            demand * (c.impressions_per_user - reward_per_user) * self.organic_orders[seg, None]
        )
        reward_counts = rng.poisson(demand[:, TEST] * rollout.reward_per_user * reward_orders[seg])

        cells = np.repeat(np.arange(organic_counts.size), organic_counts.ravel())
        organic_user, organic_period = np.divmod(cells, 2)
        reward_user = np.repeat(np.arange(c.users), reward_counts)
        organic_merchant = _draw_rows(self._organic_table, seg[organic_user], c.merchants, rng)
        reward_merchant = _draw_rows(
            _cumulative_rows(reward_rows), seg[reward_user], c.merchants, rng
        )

        merchant = np.concatenate([organic_merchant, reward_merchant])
        items = 1 + rng.poisson(c.extra_items, merchant.size)
        return Orders(
            user=np.concatenate([organic_user, reward_user]),
            period=np.concatenate([organic_period, np.full(reward_user.size, TEST)]),
            merchant=merchant,
            value_fen=self.price_fen[merchant] * items,
            reward=np.repeat([False, True], [organic_user.size, reward_user.size]),
        )

    # The two designs -------------------------------------------------------------------------

    def budget_split(self, confidence: float = 0.95) -> LiftEstimate:
        """Hash users into 2 × ``buckets_per_arm`` buckets; the upper half is the treatment
        sub-market, which gets half the pool; the lower half (the other half of the pool goes
        unspent) runs without the plan. DiD + CUPED on bucket GMV, times two.

        Buckets, not users, are the analysis units: bucket totals are close to normal even
        though one user's GMV is mostly zero with a long tail, each arm keeps a fixed count of
        units, and an experiment platform only ever needs bucket-by-day totals.
        """
        c = self.config
        rng = np.random.default_rng(self._split_seed)
        salt = int(rng.integers(0, 2**63))
        buckets = 2 * c.buckets_per_arm
        user_bucket = user_buckets(np.arange(c.users, dtype=np.int64), salt, buckets)
        treated_users = user_bucket >= c.buckets_per_arm
        rollout = self._rollout(c.reward_pool / 2, self.eligible, treated_users)
        orders = self.simulate(rollout, rng)
        gmv = _sum_fen(user_bucket[orders.user] * 2 + orders.period, orders.value_fen, buckets * 2)
        gmv = gmv.reshape(buckets, 2)
        return did_cuped(
            gmv[:, PRE],
            gmv[:, TEST],
            np.arange(buckets) >= c.buckets_per_arm,
            pre_days=c.pre_days,
            test_days=c.test_days,
            population_units=buckets,
            design=Design.BUDGET_SPLIT,
            confidence=confidence,
        )

    def merchant_holdout(self, confidence: float = 0.95) -> LiftEstimate:
        """Randomise eligible merchants 50/50; the treated half shares the whole pool. DiD +
        CUPED on merchant GMV; the per-merchant difference is scaled to all eligible merchants.
        Biased upward: see the module docstring."""
        c = self.config
        rng = np.random.default_rng(self._holdout_seed)
        eligible = np.flatnonzero(self.eligible)
        treated = np.zeros(c.merchants, dtype=bool)
        treated[rng.permutation(eligible)[: eligible.size // 2]] = True
        everyone = np.ones(c.users, dtype=bool)
        orders = self.simulate(self._rollout(c.reward_pool, treated, everyone), rng)
        gmv = _sum_fen(orders.merchant * 2 + orders.period, orders.value_fen, c.merchants * 2)
        gmv = gmv.reshape(c.merchants, 2)[eligible]
        return did_cuped(
            gmv[:, PRE],
            gmv[:, TEST],
            treated[eligible],
            pre_days=c.pre_days,
            test_days=c.test_days,
            population_units=eligible.size,
            design=Design.MERCHANT_HOLDOUT,
            confidence=confidence,
        )


def user_buckets(user_ids: IntArray, salt: int, buckets: int) -> IntArray:
    """The experiment bucket of each user: splitmix64 of (id + salt), modulo ``buckets``.

    A hash rather than a random draw, as an experiment platform assigns: the same user lands
    in the same bucket on every server and every day, with no assignment table.
    """
    z = user_ids.astype(np.uint64) + np.uint64(salt % 2**64)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return (z % np.uint64(buckets)).astype(np.int64)


def _cumulative_rows(weights: FloatArray) -> FloatArray:
    """Row-normalised cumulative sums, row r shifted by r, flattened: one sorted array in
    which ``r + uniform`` finds a column of row r with probability proportional to its
    weight (all-zero rows are never asked)."""
    total = weights.sum(axis=1, keepdims=True)
    cum = np.cumsum(np.divide(weights, total, out=np.zeros_like(weights), where=total > 0), axis=1)
    cum[:, -1] = 1.0
    offsets = np.arange(weights.shape[0], dtype=np.float64)[:, None]
    return (cum + offsets).ravel()


def _draw_rows(table: FloatArray, rows: IntArray, width: int, rng: np.random.Generator) -> IntArray:
    """One column per entry of ``rows``, drawn from a :func:`_cumulative_rows` table of rows
    ``width`` wide."""
    columns = np.searchsorted(table, rows + rng.random(rows.size), side="right") - rows * width
    return columns.astype(np.int64)


def _sum_fen(index: IntArray, value_fen: IntArray, size: int) -> IntArray:
    """Integer sums of money by index (``np.bincount`` would sum fen as floats)."""
    out = np.zeros(size, dtype=np.int64)
    np.add.at(out, index, value_fen)
    return out
