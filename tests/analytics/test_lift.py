"""Measuring the reward-traffic plan: the budget split finds the true effect, the merchant
holdout overstates it, and CUPED narrows the interval (a small market, ten seeds)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pytest

from trustflow.analytics.lift import Design, LiftEstimate, did_cuped
from trustflow.errors import ErrorCode, InvalidInput
from trustflow.simulate.lift_market import LiftMarket

SMALL = {"merchants": 300, "users": 20_000, "segments": 10, "reward_pool": 40_000}
SEEDS = range(10)


def small(**overrides: int) -> LiftMarket:
    return LiftMarket(**{**SMALL, "true_effect": 300_000, **overrides})  # type: ignore[arg-type]


@dataclass(frozen=True)
class Run:
    split: LiftEstimate
    holdout: LiftEstimate


@pytest.fixture(scope="module")
def runs() -> list[Run]:
    config = small()
    markets = [config.draw(seed) for seed in SEEDS]
    return [Run(m.budget_split(), m.merchant_holdout()) for m in markets]


def test_budget_split_interval_covers_the_true_effect(runs: list[Run]) -> None:
    covered = sum(run.split.covers(300_000) for run in runs)

    assert covered >= 8
    assert all(run.split.design is Design.BUDGET_SPLIT for run in runs)
    assert all(run.split.treated_units == run.split.control_units == 200 for run in runs)


def test_merchant_holdout_overstates_the_lift(runs: list[Run]) -> None:
    naive = np.array([run.holdout.estimate for run in runs])
    split = np.array([run.split.estimate for run in runs])

    # Twice the reward traffic per treated merchant, and the displaced organic GMV is never
    # subtracted: the naive figure lands far above the truth, seed after seed.
    assert naive.mean() - 300_000 > 3 * np.mean([run.holdout.se for run in runs])
    assert sum(run.holdout.ci_low > 300_000 for run in runs) >= 9
    assert abs(split.mean() - 300_000) < naive.mean() - 300_000


def test_cuped_narrows_the_interval_compared_with_plain_did(runs: list[Run]) -> None:
    for run in runs:
        assert run.split.se < run.split.did_se
        assert run.split.ci_width < run.split.did_ci_high - run.split.did_ci_low
        assert run.split.variance_reduction > 0
        assert run.split.se < run.split.unadjusted_se


def test_zero_true_effect_gives_intervals_covering_zero() -> None:
    config = small(true_effect=0)
    markets = [config.draw(seed) for seed in range(20, 25)]

    assert all(abs(m.true_effect_per_day) < 1e-6 for m in markets)
    assert sum(m.budget_split().covers(0) for m in markets) >= 4


def test_test_period_figures_scale_the_daily_estimate(runs: list[Run]) -> None:
    split = runs[0].split

    assert split.test_period_estimate == pytest.approx(split.estimate * 14)
    assert split.test_period_ci == pytest.approx((split.ci_low * 14, split.ci_high * 14))
    assert split.ci_low < split.estimate < split.ci_high


def test_true_effect_is_exact_and_the_simulator_sells_what_it_expects() -> None:
    market = small(true_effect=250_000).draw(3)
    full, none = market.full_rollout(), market.no_plan()

    assert market.true_effect_per_day == pytest.approx(250_000, abs=1e-3)
    orders = market.simulate(full, np.random.default_rng(0))
    assert orders.value_fen.dtype == np.int64
    assert (orders.value_fen > 0).all()
    assert not orders.reward[orders.period == 0].any()
    for period, days in ((0, 28), (1, 14)):
        simulated = int(orders.value_fen[orders.period == period].sum()) / days
        expected = market.expected_gmv_per_day(full, period)
        assert simulated == pytest.approx(expected, rel=0.04)
    assert market.expected_gmv_per_day(full, 0) == market.expected_gmv_per_day(none, 0)


def test_same_seed_same_estimate() -> None:
    first, second = small().draw(5), small().draw(5)

    assert first.budget_split() == second.budget_split()
    assert first.merchant_holdout() == second.merchant_holdout()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"reward_pool": -1}, "reward_pool must not be negative"),
        ({"users": 0}, "users must be a positive integer"),
        ({"merchants": 0}, "merchants must be a positive integer"),
        ({"test_days": 0}, "test_days must be a positive integer"),
        ({"true_effect": 1.5}, "true_effect must be an integer (fen)"),
        ({"reward_pool": 500_000}, "reward_pool may take at most half of all impressions"),
        ({"reward_pool": 0}, "with no reward pool the plan can have no effect"),
        ({"segments": 301}, "segments must be between 1 and merchants"),
        ({"buckets_per_arm": 1}, "buckets_per_arm must be an integer of at least 2"),
    ],
)
def test_bad_market_is_refused(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(message)) as raised:
        small(**overrides)  # type: ignore[arg-type]

    assert raised.value.code is ErrorCode.INVALID_INPUT


def test_unreachable_true_effect_is_refused_when_drawn() -> None:
    # Losing more than every displaced organic impression sells is impossible.
    with pytest.raises(InvalidInput, match="out of reach of this market"):
        small(true_effect=-50_000_000).draw(0)


def test_did_cuped_refuses_arms_it_cannot_compare() -> None:
    gmv = np.array([100, 200, 300], dtype=np.int64)
    common = {"pre_days": 1, "test_days": 1, "population_units": 3}

    with pytest.raises(InvalidInput, match="at least two units"):
        did_cuped(gmv, gmv, np.array([True, False, False]), design=Design.BUDGET_SPLIT, **common)
    with pytest.raises(InvalidInput, match="one length"):
        did_cuped(gmv, gmv[:2], np.ones(3, bool), design=Design.BUDGET_SPLIT, **common)
