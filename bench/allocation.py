"""The allocation solver against HiGHS, and on a production-size day.

Two instances of the same shape (every candidate may be shown on each of 7 surfaces × 24
hours of its audience segment; promises for Chuanliu-style reward traffic and new merchants;
a share cap on every candidate):

- an instance HiGHS solves exactly: the dual solver's objective as a share of the LP optimum
  (``lp_objective_ratio``, aim ≥ 0.99) and its seconds as a share of HiGHS's
  (``lp_time_ratio``, aim ≤ 0.1);
- a production-size instance (100,000 candidates × 7 surfaces × 24 hours): the dual solver's
  seconds (``large_seconds``, aim ≤ 30) and, since no exact optimum is at hand there, its
  objective as a share of the LP dual bound at its own prices (``large_bound_ratio``, a
  certified lower bound on its share of the optimum).

    python -m bench.allocation [--exact-candidates N] [--large-candidates N] [--quick]
"""

from __future__ import annotations

import argparse
import json
import sys

from trustflow.traffic.plan.allocation import lp_dual_bound, random_problem, solve_dual, solve_exact


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exact-candidates", type=int, default=5_000)
    parser.add_argument("--large-candidates", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="small instances, for smoke runs")
    args = parser.parse_args(argv)
    exact_n, large_n = (
        (300, 3_000) if args.quick else (args.exact_candidates, args.large_candidates)
    )

    problem = random_problem(exact_n, seed=args.seed)
    print(f"HiGHS on {exact_n:,} candidates ({problem.n_edges:,} edges)", file=sys.stderr)
    exact = solve_exact(problem)
    print(f"  {exact.seconds:.2f} s; dual solver on the same instance", file=sys.stderr)
    dual = solve_dual(problem)
    print(f"  {dual.seconds:.2f} s", file=sys.stderr)
    del problem

    large = random_problem(large_n, seed=args.seed + 1)
    print(f"dual solver on {large_n:,} candidates ({large.n_edges:,} edges)", file=sys.stderr)
    big = solve_dual(large)
    bound = lp_dual_bound(large, big.node_price)
    print(f"  {big.seconds:.2f} s", file=sys.stderr)
    print(
        json.dumps(
            {
                "lp_objective_ratio": round(dual.objective / exact.objective, 4),
                "lp_time_ratio": round(dual.seconds / exact.seconds, 4),
                "large_candidates": large_n,
                "large_seconds": round(big.seconds, 2),
                "exact_candidates": exact_n,
                "exact_edges": exact.x.size,
                "highs_seconds": round(exact.seconds, 2),
                "dual_seconds": round(dual.seconds, 2),
                "dual_max_shortfall": round(dual.max_shortfall, 4),
                "large_edges": large.n_edges,
                "large_bound_ratio": round(big.objective / bound, 4),
                "large_max_shortfall": round(big.max_shortfall, 4),
                "large_evaluations": big.iterations,
            }
        )
    )


if __name__ == "__main__":
    main()
