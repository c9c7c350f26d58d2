"""Whether the store score predicts what the next buyer lives (issue 17).

A marketplace is simulated (medium catalog, 60 days; a small one for 20 days with
``--quick``), exported to the warehouse, and scored as of the end of the middle day (day 30).
The scores are set against what happened to orders paid after it, as seen at the end of the
run; plain rates over the same past orders are the yardstick.

- ``spearman_next_bad_review``, ``spearman_next_late``: Spearman of the store score with
  minus the next bad-review rate (1–2★ first reviews ÷ reviews) and minus the next late
  rate (orders due by the end, delivered after ``deliver_by`` or still on their way ÷ those
  due), over shops with ≥5 orders before and ≥5 outcomes after: higher is better.
- ``best_raw_next_*``: the best of the plain rates (as a platform sees them, counting
  overdue parcels as late, and each shrunk by empirical Bayes), signed the same way.
- ``small_*``: the same four for shops with 5–30 orders before; ``small_shop_gain_next_late``
  is the score's Spearman minus the best plain rate's there.
- ``interval_coverage_90``: share of (shop, metric) pairs, for ``bad_review_rate`` and
  ``late_delivery_rate``, whose 90% interval holds the shop's true rate (from
  ``order_truth.parquet``); each metric's own share beside it.
- ``*_dimension_{product,logistics,service}``: the same Spearman for each of the score's
  three dimensions alone (its metrics' points, by their weights): which part of the score
  foretells which outcome.

    python -m bench.score_validity [--seed S] [--days D] [--quick] [--out DIR | --rescore DIR]

``--out DIR`` keeps the simulated store, warehouse and truth in DIR; ``--rescore DIR`` scores
such a kept run again (after a change to the scores) without simulating it anew.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from trustflow.simulate import config_for, run_simulation
from trustflow.simulate.runner import ORDER_TRUTH_NAME, WAREHOUSE_DIR
from trustflow.simulate.score_validity import evaluate
from trustflow.units import DAY
from trustflow.warehouse.export import export


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--days", type=int, default=60, help="scored at the middle day")
    parser.add_argument("--quick", action="store_true", help="small catalog, 20 days")
    kept = parser.add_mutually_exclusive_group()
    kept.add_argument("--out", type=Path, help="keep the run in this directory")
    kept.add_argument("--rescore", type=Path, help="score a run kept with --out again")
    args = parser.parse_args(argv)
    scale, days = ("small", 20) if args.quick else ("medium", args.days)
    config = config_for(scale, seed=args.seed, days=days)  # type: ignore[arg-type]
    start = int(config.start.timestamp())
    split, end = start + days // 2 * DAY, start + days * DAY

    simulated = None
    with tempfile.TemporaryDirectory() as tmp:
        out = args.rescore or args.out or Path(tmp)
        if args.rescore is None:
            started = time.perf_counter()
            with Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total} days"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
            ) as progress:
                task = progress.add_task(f"simulating the {scale} marketplace", total=days)
                run = run_simulation(
                    config, out, on_day=lambda _: progress.advance(task), replace=True
                )
            simulated = round(time.perf_counter() - started, 1)
            export(run.engine, out / WAREHOUSE_DIR)
            run.engine.dispose()
        print(f"scoring as of day {days // 2}, against the days after", file=sys.stderr)
        validity = evaluate(
            out / WAREHOUSE_DIR, out / ORDER_TRUTH_NAME, start=start, split=split, end=end
        )
    print(
        json.dumps(
            {
                **validity.as_dict(),
                "scale": scale,
                "days": days,
                "split_day": days // 2,
                "seed": args.seed,
                "shops": config.shops,
                "simulate_seconds": simulated,
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            }
        )
    )


if __name__ == "__main__":
    main()
