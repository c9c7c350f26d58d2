"""How well the store experience score recovers the simulator's hidden truth.

A marketplace is simulated (medium catalog, 45 days; a small one for 20 days with
``--quick``), exported to the warehouse, and scored as of the last day and each of the 7
days before. The scores never see the truth; only this comparison does.

- ``spearman_store_vs_truth``: rank correlation between the store experience score and true
  shop quality (the experience a buyer lives: half goods quality, a quarter hand-over speed,
  a quarter service) for shops with at least 30 orders in their window.
- ``small_shop_rank_gain``: for shops with 5–29 orders in 30 days, Spearman(score, truth)
  minus Spearman(plain-rate score, truth). The plain-rate score uses the same metrics and
  weights over the standard window with no shrinkage and no extended window.
- ``small_shop_stability_gain``: mean |day-to-day change| of the plain-rate score ÷ that of
  the published score, for the same shops.

    python -m bench.score_quality [--seed S] [--days D] [--quick]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from trustflow.simulate import config_for, run_simulation
from trustflow.simulate.score_quality import evaluate
from trustflow.warehouse.export import export


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--days", type=int, default=45)
    parser.add_argument("--quick", action="store_true", help="small catalog, 20 days")
    args = parser.parse_args(argv)
    scale, days = ("small", 20) if args.quick else ("medium", args.days)
    config = config_for(scale, seed=args.seed, days=days)  # type: ignore[arg-type]

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        print(f"simulating {days} days of the {scale} marketplace", file=sys.stderr)
        run = run_simulation(config, Path(tmp))
        simulated = time.perf_counter() - started
        root = Path(tmp) / "warehouse"
        export(run.engine, root)
        run.engine.dispose()
        print("scoring against the hidden truth", file=sys.stderr)
        quality = evaluate(root, run.truth, days=7)
    print(
        json.dumps(
            {
                **quality.as_dict(),
                "scale": scale,
                "days": days,
                "seed": args.seed,
                "shops": config.shops,
                "simulate_seconds": round(simulated, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
