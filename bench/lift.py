"""Does the budget-split experiment find the reward-traffic plan's true lift, and how far off is
the naive merchant holdout?

Each seed draws a market (:mod:`trustflow.simulate.lift_market`: 1,000,000 users, 5,000 merchants, a
pool of 2,000,000 reward impressions a day, 28 pre-period days and 14 test days; a tenth of
that with ``--quick``) whose plan adds exactly ``true_effect`` fen of GMV a day under full
rollout, then runs both designs on it with their own random streams.

- ``coverage_95``: share of seeds whose budget-split DiD + CUPED 95% interval covers
  ``true_effect``; ``mean_estimate``, ``bias``, ``empirical_sd`` and ``mean_se`` say whether
  the estimate is centred and its standard error honest (empirical sd ≈ mean se).
- ``naive_holdout_bias``: mean merchant-holdout estimate − ``true_effect`` (positive: the
  holdout overstates the lift); ``naive_overstatement`` is the mean holdout estimate ÷ the
  truth, and ``naive_coverage_95`` how often its interval covers the truth.
- ``cuped_variance_reduction``: mean 1 − Var(CUPED) ÷ Var(plain DiD) of the budget split;
  ``cuped_variance_reduction_vs_unadjusted`` the same against the test-period difference alone.
- ``mean_ci_width`` and ``did_mean_ci_width``: interval widths (fen a day) with and without
  CUPED.

Money figures are fen per day (``true_effect_test_period`` is over the test period).

    python -m bench.lift [--seeds N] [--quick]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from trustflow.analytics.lift import LiftEstimate
from trustflow.simulate.lift_market import LiftMarket

FULL = LiftMarket(
    merchants=5_000,
    users=1_000_000,
    segments=80,
    reward_pool=2_000_000,
    true_effect=15_000_000,
)
QUICK = LiftMarket(
    merchants=500,
    users=100_000,
    segments=20,
    reward_pool=200_000,
    true_effect=1_500_000,
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=None, help="seeds to run (default 20)")
    parser.add_argument("--quick", action="store_true", help="a market a tenth the size")
    args = parser.parse_args(argv)
    config = QUICK if args.quick else FULL
    seeds = args.seeds if args.seeds is not None else 20
    if seeds < 1:
        parser.error("--seeds must be at least 1")

    split: list[LiftEstimate] = []
    holdout: list[LiftEstimate] = []
    precision: list[float] = []
    baseline: list[float] = []
    started = time.perf_counter()
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
    ) as progress:
        task = progress.add_task(f"{config.users:,} users, budget split and holdout", total=seeds)
        for seed in range(seeds):
            market = config.draw(seed)
            split.append(market.budget_split())
            holdout.append(market.merchant_holdout())
            precision.append(market.precision)
            baseline.append(market.expected_gmv_per_day(market.no_plan()))
            progress.advance(task)
    seconds = time.perf_counter() - started

    truth = config.true_effect
    estimates = np.array([r.estimate for r in split])
    naive = np.array([r.estimate for r in holdout])
    print(
        json.dumps(
            {
                "seeds": seeds,
                "true_effect": truth,
                "coverage_95": float(np.mean([r.covers(truth) for r in split])),
                "mean_estimate": round(float(estimates.mean()), 1),
                "naive_holdout_bias": round(float(naive.mean()) - truth, 1),
                "naive_mean_estimate": round(float(naive.mean()), 1),
                "naive_overstatement": round(float(naive.mean()) / truth, 3) if truth else None,
                "naive_coverage_95": float(np.mean([r.covers(truth) for r in holdout])),
                "bias": round(float(estimates.mean()) - truth, 1),
                "empirical_sd": round(float(estimates.std(ddof=1)), 1) if seeds > 1 else None,
                "mean_se": round(float(np.mean([r.se for r in split])), 1),
                "rmse": round(float(np.sqrt(np.mean((estimates - truth) ** 2))), 1),
                "mean_ci_width": round(float(np.mean([r.ci_width for r in split])), 1),
                "did_mean_ci_width": round(
                    float(np.mean([r.did_ci_high - r.did_ci_low for r in split])), 1
                ),
                "cuped_variance_reduction": round(
                    float(np.mean([r.variance_reduction for r in split])), 4
                ),
                "cuped_variance_reduction_vs_unadjusted": round(
                    float(np.mean([1 - (r.se / r.unadjusted_se) ** 2 for r in split])), 4
                ),
                "true_effect_test_period": truth * config.test_days,
                "baseline_gmv_per_day": round(float(np.mean(baseline)), 1),
                "mean_precision": round(float(np.mean(precision)), 4),
                "users": config.users,
                "merchants": config.merchants,
                "reward_pool": config.reward_pool,
                "pre_days": config.pre_days,
                "test_days": config.test_days,
                "buckets_per_arm": config.buckets_per_arm,
                "quick": args.quick,
                "seconds": round(seconds, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
