"""How the store scores of an imported, real-shaped history spread, and what they foretell.

A year of history is generated as ``bench.import`` does (2025), with shops that differ as real
ones do (``traits``: each shop's carrier speed and share of unhappy buyers, kept all year), and
written in the import format without after-sales requests and chats, as many real exports
come. ``trustflow import``'s own flow loads it into a fresh SQLite store, and the store is
exported to the warehouse. Store scores are computed as of the split (2025-07-01) from the
months before, as a platform would have seen them then; the outcomes of the orders placed from
the split to the end of the year are then read per shop, held out from the scores:

- ``store_*``: how the scores spread (count, mean, standard deviation, 10th/50th/90th
  percentiles, the share provisional, each tier's share) and how many shops with orders before
  the split have no score (``shops_without_score``);
- ``spearman_next_review``: Spearman of the score with the shop's next mean review stars;
  ``spearman_next_late``: with its next share of orders late (delivered after ``deliver_by``,
  or still not delivered at the end), negated so that higher is better;
- ``metric_next_review`` and ``metric_next_late``: the same for the score's own scored
  (shrunk) bad-review and late-delivery rates, negated;
- ``raw_next_review`` and ``raw_next_late``: the same for the plain numbers the platform had at
  the split (the mean stars before it; late deliveries among delivered orders before it),
  over the same shops (those with at least 5 reviewed, respectively due, orders in the next
  half year).

    python -m bench.score_spread [--orders N] [--seed S] [--quick]
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from trustflow.db import make_engine
from trustflow.importing.flows import run_import
from trustflow.scoring import sql
from trustflow.scoring.engine import compute_duckdb
from trustflow.scoring.models import ScoreKind
from trustflow.warehouse.export import export
from trustflow.warehouse.reader import open_warehouse

history = importlib.import_module("bench.import")  # "import" is a keyword

SPLIT = datetime(2025, 7, 1, tzinfo=UTC)
#: Files a real export often lacks: the history never recorded them.
LEFT_OUT = ("after_sales", "chats")
MIN_OUTCOMES = 5


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _spearman(frame: pl.DataFrame, a: str, b: str) -> float:
    if frame.height < 3:
        return float("nan")
    return round(float(frame.select(pl.corr(a, b, method="spearman")).item()), 4)


def outcomes(root: Path, split: datetime, end: datetime) -> pl.DataFrame:
    """Per shop, before and after the split: mean review stars and late share. Before, late
    counts only delivered orders (the plain number); after, every order whose promise passed
    by the end (the truth of what buyers lived)."""
    con = open_warehouse(root)
    try:
        s, e = split.timestamp(), end.timestamp()
        return con.sql(
            f"""
            WITH o AS (
                SELECT id, shop_id, EPOCH(paid_at) AS paid, EPOCH(deliver_by) AS due,
                       EPOCH(delivered_at) AS delivered, EPOCH(cancelled_at) AS cancelled
                FROM orders WHERE paid_at IS NOT NULL AND deliver_by IS NOT NULL
            ),
            late AS (
                SELECT shop_id,
                    SUM(CASE WHEN paid < {s} AND delivered < {s} THEN 1 ELSE 0 END) AS before_n,
                    SUM(CASE WHEN paid < {s} AND delivered < {s} AND delivered > due
                             THEN 1 ELSE 0 END) AS before_late,
                    SUM(CASE WHEN paid >= {s} AND due < {e}
                             AND (cancelled IS NULL OR cancelled > due) THEN 1 ELSE 0 END)
                        AS next_n,
                    SUM(CASE WHEN paid >= {s} AND due < {e}
                             AND (cancelled IS NULL OR cancelled > due)
                             AND (delivered IS NULL OR delivered > due) THEN 1 ELSE 0 END)
                        AS next_late
                FROM o GROUP BY shop_id
            ),
            stars AS (
                SELECT o.shop_id,
                    AVG(CASE WHEN o.paid < {s} AND EPOCH(r.created_at) < {s}
                             THEN r.stars END) AS before_stars,
                    AVG(CASE WHEN o.paid >= {s} THEN r.stars END) AS next_stars,
                    SUM(CASE WHEN o.paid >= {s} THEN 1 ELSE 0 END) AS next_reviews
                FROM reviews r JOIN o ON o.id = r.order_id GROUP BY o.shop_id
            )
            SELECT l.shop_id AS id, l.before_n, l.before_late, l.next_n, l.next_late,
                   s.before_stars, s.next_stars, COALESCE(s.next_reviews, 0) AS next_reviews
            FROM late l LEFT JOIN stars s ON s.shop_id = l.shop_id
            """
        ).pl()
    finally:
        con.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--orders", type=int, default=300_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="20,000 orders, for smoke runs")
    args = parser.parse_args(argv)
    orders = 20_000 if args.quick else args.orders

    with tempfile.TemporaryDirectory() as tmp:
        folder, store, root = Path(tmp) / "files", Path(tmp) / "store.db", Path(tmp) / "wh"
        started = time.perf_counter()
        files = history.write_history(folder, orders, args.seed, traits=True, drop=LEFT_OUT)
        _log(f"generated {sum(files.values()):,} rows: {files}")
        history.fresh_store(store)
        engine = make_engine(f"sqlite:///{store}")
        result, _ = run_import(engine, folder, at=history.AS_OF)
        if result.report.height or not result.wrote:
            raise SystemExit(f"the import refused rows:\n{result.report.head(20)}")
        export(engine, root)
        engine.dispose()
        _log(f"imported and exported in {time.perf_counter() - started:.1f}s")
        computed = compute_duckdb(root, int(SPLIT.timestamp()), sql.FULL)
        scores = computed.scores.filter(pl.col("kind") == ScoreKind.STORE.value)
        metric_rates = computed.metrics.filter(pl.col("kind") == ScoreKind.STORE.value).pivot(
            on="metric", index="entity_id", values="rate"
        )
        seen = outcomes(root, SPLIT, history.AS_OF)

    before = seen.filter(pl.col("before_n") > 0)
    joined = (
        scores.select(pl.col("entity_id").alias("id"), "score")
        .join(seen, on="id")
        .join(metric_rates.rename({"entity_id": "id"}), on="id", how="left")
    )
    joined = joined.with_columns(
        metric_good_reviews=-pl.col("bad_review_rate"),
        metric_on_time=-pl.col("late_delivery_rate"),
        next_on_time=-(pl.col("next_late") / pl.col("next_n")),
        raw_on_time=-(pl.col("before_late") / pl.col("before_n")),
    )
    reviewed = joined.filter(pl.col("next_reviews") >= MIN_OUTCOMES).drop_nulls("before_stars")
    due = joined.filter(pl.col("next_n") >= MIN_OUTCOMES).drop_nulls("raw_on_time")
    score = scores["score"]
    tiers = scores.group_by("tier").len().with_columns(share=pl.col("len") / scores.height)
    print(
        json.dumps(
            {
                "orders": orders,
                "store_scores": scores.height,
                "store_mean": round(float(score.mean() or 0), 2),  # type: ignore[arg-type]
                "store_sd": round(float(score.std() or 0), 2),  # type: ignore[arg-type]
                "store_p10": round(float(score.quantile(0.1) or 0), 2),
                "store_p50": round(float(score.quantile(0.5) or 0), 2),
                "store_p90": round(float(score.quantile(0.9) or 0), 2),
                "store_provisional_share": round(
                    float((scores["status"] == "provisional").mean() or 0), 3
                ),
                "store_tiers": {
                    t: round(float(x), 3) for t, x in tiers.select("tier", "share").iter_rows()
                },
                "shops_with_history": before.height,
                "shops_without_score": before.filter(
                    ~pl.col("id").is_in(scores["entity_id"].implode())
                ).height,
                "spearman_next_review": _spearman(reviewed, "score", "next_stars"),
                "raw_next_review": _spearman(reviewed, "before_stars", "next_stars"),
                "metric_next_review": _spearman(reviewed, "metric_good_reviews", "next_stars"),
                "spearman_next_late": _spearman(due, "score", "next_on_time"),
                "metric_next_late": _spearman(due, "metric_on_time", "next_on_time"),
                "raw_next_late": _spearman(due, "raw_on_time", "next_on_time"),
                "shops_next_review": reviewed.height,
                "shops_next_late": due.height,
                "left_out": list(LEFT_OUT),
            }
        )
    )


if __name__ == "__main__":
    main()
