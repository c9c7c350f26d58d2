"""How well the scores recover the simulator's hidden truth.

Used by the tests and by ``python -m bench.score_quality``. Scores are computed from the
warehouse exactly as in production; only the comparison with ``truth.parquet`` is extra.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from trustflow.scoring import sql
from trustflow.scoring.engine import compute_duckdb
from trustflow.scoring.models import ScoreKind
from trustflow.units import DAY
from trustflow.warehouse.reader import open_warehouse

#: Shops this small are where shrinkage should earn its keep.
SMALL_SHOPS = (5, 30)
#: Shops at least this large must be ranked like the truth.
LARGE_SHOP_MIN_ORDERS = 30


@dataclass(frozen=True)
class Quality:
    spearman_store_vs_truth: float  # shops with >= 30 orders, vs true shop experience
    spearman_store_vs_goods_quality: float  # the same shops, vs goods quality alone
    large_shops: int  # shops with >= 30 orders in the window their score used
    small_shops: int  # shops with 5-29 orders in the standard window
    small_shop_spearman_shrunk: float
    small_shop_spearman_raw: float
    small_shop_rank_gain: float
    small_shop_mean_daily_move_shrunk: float
    small_shop_mean_daily_move_raw: float
    small_shop_stability_gain: float

    def as_dict(self) -> dict[str, float | int]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


def newest_activity(root: Path) -> int:
    """Epoch seconds just after the newest paid order in the warehouse."""
    con = open_warehouse(root)
    try:
        row = con.execute("SELECT MAX(EPOCH(paid_at)) FROM orders").fetchall()[0][0]
    finally:
        con.close()
    if row is None:
        raise ValueError("the warehouse has no paid orders")
    return int(row) + 1


def store_scores(root: Path, as_of: int, options: sql.Options) -> pl.DataFrame:
    scores = compute_duckdb(root, as_of, options).scores
    return scores.filter(pl.col("kind") == ScoreKind.STORE.value).select(
        pl.col("entity_id").alias("id"), "score", "sample"
    )


def _spearman(frame: pl.DataFrame, a: str, b: str) -> float:
    if frame.height < 3:
        return float("nan")
    return float(frame.select(pl.corr(a, b, method="spearman")).item())


def evaluate(root: Path, truth_path: Path, *, days: int = 7) -> Quality:
    """Compare store scores as of the newest data (and each of the ``days`` days before,
    for stability) with the hidden truth."""
    truth = (
        pl.read_parquet(truth_path)
        .filter(pl.col("entity") == "shop")
        .select("id", pl.col("experience").alias("truth"), pl.col("quality").alias("goods"))
    )
    end = newest_activity(root)
    shrunk = store_scores(root, end, sql.FULL).join(truth, on="id")
    raw = store_scores(root, end, sql.RAW).join(truth, on="id")
    large = shrunk.filter(pl.col("sample") >= LARGE_SHOP_MIN_ORDERS)
    lo, hi = SMALL_SHOPS
    # Small shops: 5-29 orders in the standard window (the raw score's sample).
    small_ids = raw.filter(pl.col("sample").is_between(lo, hi - 1))["id"]
    small_shrunk = shrunk.filter(pl.col("id").is_in(small_ids))
    small_raw = raw.filter(pl.col("id").is_in(small_ids))

    moves: dict[str, list[pl.DataFrame]] = {"shrunk": [], "raw": []}
    for name, options in (("shrunk", sql.FULL), ("raw", sql.RAW)):
        daily = [
            store_scores(root, end - d * DAY, options).with_columns(day=pl.lit(d))
            for d in range(days + 1)
        ]
        moves[name] = daily
    move = {name: _mean_daily_move(frames, small_ids) for name, frames in moves.items()}
    rho_shrunk = _spearman(small_shrunk, "score", "truth")
    rho_raw = _spearman(small_raw, "score", "truth")
    return Quality(
        spearman_store_vs_truth=_spearman(large, "score", "truth"),
        spearman_store_vs_goods_quality=_spearman(large, "score", "goods"),
        large_shops=large.height,
        small_shops=small_shrunk.height,
        small_shop_spearman_shrunk=rho_shrunk,
        small_shop_spearman_raw=rho_raw,
        small_shop_rank_gain=rho_shrunk - rho_raw,
        small_shop_mean_daily_move_shrunk=move["shrunk"],
        small_shop_mean_daily_move_raw=move["raw"],
        small_shop_stability_gain=move["raw"] / move["shrunk"] if move["shrunk"] else float("inf"),
    )


def _mean_daily_move(frames: list[pl.DataFrame], ids: pl.Series) -> float:
    """Mean |score today − score the day before| over the shops in ``ids`` scored on both."""
    both = pl.concat(frames).filter(pl.col("id").is_in(ids)).sort("id", "day")
    diffs = both.with_columns(
        move=(pl.col("score") - pl.col("score").shift(1).over("id")).abs(),
        gap=pl.col("day") - pl.col("day").shift(1).over("id"),
    ).filter(pl.col("gap") == 1)
    mean = diffs.select(pl.col("move").mean()).item()
    return float(mean) if mean is not None else 0.0
