"""A toy market in which the Chuanliu plan's true effect on GMV is known exactly: 1,000,000
users, 5,000 merchants, a reward pool carved out of the organic feed (docs/lift.md). The
lift designs of :mod:`trustflow.analytics.lift` are checked against it (``bench.lift``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from trustflow.analytics.lift import Design, LiftEstimate, did_cuped, user_buckets
from trustflow.bulk import IntArray
from trustflow.errors import InvalidInput

__all__ = ["MAX_PRECISION", "PRE", "TEST", "LiftMarket", "Orders", "Rollout", "SimulatedMarket"]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

#: A precise reward impression may convert at most this many times better than an in-segment
#: organic one; a ``true_effect`` that needs more is not a market, it is a typo.
MAX_PRECISION = 50.0
PRE, TEST = 0, 1


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
