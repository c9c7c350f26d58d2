"""Whether the store score predicts what the next buyer lives (issue 17).

Used by ``python -m bench.score_validity`` and its test. A marketplace is simulated and
exported to the warehouse; store scores are computed as of the end of a split day exactly as
in production, and set against what happened to the orders paid after it, as observed at the
end of the run. Plain rates over the same past orders are the yardstick: the rate a
platform sees (late deliveries among delivered orders), the rate that counts an overdue
parcel still on its way as late, and each one shrunk to the mean of all shops (empirical
Bayes). The score's 90% intervals are checked against the hidden truth
(``order_truth.parquet``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
from scipy.stats import beta as beta_dist  # type: ignore[import-untyped]

from trustflow.scoring import sql
from trustflow.scoring.engine import compute_duckdb
from trustflow.scoring.models import ScoreKind
from trustflow.warehouse.reader import open_warehouse

#: A shop needs this many orders before the split, and this many outcomes after it.
MIN_ORDERS = 5
MIN_OUTCOMES = 5
#: Small shops: 5 to 30 orders before the split.
SMALL_SHOP_MAX_ORDERS = 30
BAD_STARS = 2
#: The score's per-metric rows whose intervals are checked, and the truth each one estimates.
COVERED_METRICS = {"bad_review_rate": "p_bad_review", "late_delivery_rate": "p_late"}
INTERVAL = 0.9


@dataclass(frozen=True)
class Validity:
    spearman_next_bad_review: float
    spearman_next_late: float
    best_raw_next_bad_review: float
    best_raw_next_late: float
    small_spearman_next_bad_review: float
    small_spearman_next_late: float
    small_best_raw_next_bad_review: float
    small_best_raw_next_late: float
    small_shop_gain_next_late: float
    interval_coverage_90: float
    shops_next_bad_review: int
    shops_next_late: int
    small_shops_next_bad_review: int
    small_shops_next_late: int
    late_share: float  # of orders due by the end of the run, late or still on their way
    orders: int  # paid orders in the run
    #: every predictor's signed Spearman, and each covered metric's coverage and shops
    detail: dict[str, float | int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, float | int | None]:
        """Every figure, rounded; one that could not be measured (too few shops) is None."""
        flat = {k: v for k, v in self.__dict__.items() if k != "detail"} | self.detail
        return {k: _rounded(v) for k, v in flat.items()}


def _rounded(value: float | int) -> float | int | None:
    if isinstance(value, float):
        return None if np.isnan(value) else round(value, 4)
    return value


def order_facts(root: Path) -> pl.DataFrame:
    """One row per paid order: its shop, times in epoch seconds (payment, promised
    delivery, delivery, cancellation) and its first review's stars and time."""
    con = open_warehouse(root)
    try:
        facts: pl.DataFrame = con.sql(
            """
            WITH first_review AS (
                SELECT order_id, ARG_MIN(stars, created_at) AS stars,
                       MIN(EPOCH(created_at)) AS reviewed
                FROM reviews GROUP BY order_id
            )
            SELECT o.id AS order_id, o.shop_id, EPOCH(o.paid_at) AS paid,
                   EPOCH(o.deliver_by) AS due, EPOCH(o.delivered_at) AS delivered,
                   EPOCH(o.cancelled_at) AS cancelled, r.stars, r.reviewed
            FROM orders o LEFT JOIN first_review r ON r.order_id = o.id
            WHERE o.paid_at IS NOT NULL
            """
        ).pl()
    finally:
        con.close()
    return facts


def _observed(facts: pl.DataFrame, since: int, until: int, seen_at: int) -> pl.DataFrame:
    """Orders paid in [since, until) and what was known of them at ``seen_at``: reviewed and
    bad; delivered and late; due (``deliver_by`` passed, not cancelled before it) and late or
    still on its way."""
    delivered = pl.col("delivered").is_not_null() & (pl.col("delivered") < seen_at)
    due = (pl.col("due") < seen_at) & ~(
        pl.col("cancelled").is_not_null() & (pl.col("cancelled") <= pl.col("due"))
    )
    reviewed = pl.col("reviewed").is_not_null() & (pl.col("reviewed") < seen_at)
    return facts.filter(pl.col("paid").is_between(since, until, closed="left")).with_columns(
        reviewed=reviewed,
        bad_review=reviewed & (pl.col("stars") <= BAD_STARS),
        delivered=delivered,
        late_delivered=delivered & (pl.col("delivered") > pl.col("due")),
        is_due=due,
        late_due=due & (~delivered | (pl.col("delivered") > pl.col("due"))),
    )


def _per_shop(observed: pl.DataFrame) -> pl.DataFrame:
    return observed.group_by("shop_id").agg(
        orders=pl.len(),
        reviews=pl.col("reviewed").sum(),
        bad_reviews=pl.col("bad_review").sum(),
        delivered=pl.col("delivered").sum(),
        late_delivered=pl.col("late_delivered").sum(),
        due=pl.col("is_due").sum(),
        late_due=pl.col("late_due").sum(),
    )


def shrunk_rate(defects: pl.Series, trials: pl.Series) -> pl.Series:
    """Each rate's posterior mean under a beta prior fitted to all of them (empirical Bayes,
    beta-binomial method of moments): ``(k + m × p) / (n + m)``."""
    k, n = defects.to_numpy().astype(np.float64), trials.to_numpy().astype(np.float64)
    has = n > 0
    total = n[has].sum()
    if total == 0:
        return pl.Series(np.full(len(n), np.nan))
    p = k[has].sum() / total
    rates = k[has] / n[has]
    spread = (n[has] * (rates - p) ** 2).sum() - (has.sum() - 1) * p * (1 - p)
    between = spread / (total - (n[has] ** 2).sum() / total)
    m = p * (1 - p) / between - 1 if between > 0 else 1e6
    m = min(max(m, 0.0), 1e6)
    return pl.Series((k + m * p) / np.maximum(n + m, 1e-12))


def _spearman(frame: pl.DataFrame, a: str, b: str) -> float:
    """Spearman of ``a`` with −``b``: higher is better when a high ``a`` means a low ``b``."""
    if frame.height < 3:
        return float("nan")
    value = frame.select(pl.corr(a, -pl.col(b), method="spearman")).item()
    return float(value) if value is not None else float("nan")


def _best(values: list[float]) -> float:
    finite = [v for v in values if not np.isnan(v)]
    return max(finite) if finite else float("nan")


def evaluate(root: Path, order_truth: Path, *, start: int, split: int, end: int) -> Validity:
    """Scores as of ``split`` (epoch seconds) against outcomes of orders paid in
    [``split``, ``end``), observed at ``end``; predictors from orders paid since ``start``."""
    facts = order_facts(root)
    past = _observed(facts, start, split, split)
    before = _per_shop(past)
    after = _per_shop(_observed(facts, split, end, end)).select(
        "shop_id",
        next_reviews="reviews",
        next_due="due",
        next_bad_review=pl.col("bad_reviews") / pl.col("reviews"),
        next_late=pl.col("late_due") / pl.col("due"),
    )
    computed = compute_duckdb(root, split, sql.FULL)
    store = ScoreKind.STORE.value
    scores = computed.scores.filter(pl.col("kind") == store).select(
        pl.col("entity_id").alias("shop_id"), "score"
    )
    # the score's dimensions (product, logistics, service), each its metrics' weighted points
    parts = (
        computed.metrics.filter(pl.col("kind") == store)
        .group_by("entity_id", "dimension")
        .agg(points=(pl.col("weight") * pl.col("points")).sum() / pl.col("weight").sum())
        .pivot(on="dimension", index="entity_id", values="points")
    )
    dimensions = [c for c in parts.columns if c != "entity_id"]
    parts = parts.rename({"entity_id": "shop_id", **{d: f"dimension_{d}" for d in dimensions}})
    shops = (
        before.with_columns(
            raw_bad_review=pl.col("bad_reviews") / pl.col("reviews"),
            raw_late=pl.col("late_delivered") / pl.col("delivered"),
            censored_late=pl.col("late_due") / pl.col("due"),
            shrunk_bad_review=shrunk_rate(before["bad_reviews"], before["reviews"]),
            shrunk_late=shrunk_rate(before["late_delivered"], before["delivered"]),
            shrunk_censored_late=shrunk_rate(before["late_due"], before["due"]),
        )
        .join(after, on="shop_id")
        .join(scores, on="shop_id")
        .join(parts, on="shop_id", how="left")
        .filter(pl.col("orders") >= MIN_ORDERS)
    )
    small = pl.col("orders") <= SMALL_SHOP_MAX_ORDERS
    predictors = {
        "next_bad_review": ("next_reviews", ["raw_bad_review", "shrunk_bad_review"]),
        "next_late": (
            "next_due",
            ["raw_late", "censored_late", "shrunk_late", "shrunk_censored_late"],
        ),
    }
    result: dict[str, float | int] = {}
    for outcome, (opportunities, raws) in predictors.items():
        for prefix, group in (("", shops), ("small_", shops.filter(small))):
            judged = group.filter(pl.col(opportunities) >= MIN_OUTCOMES)
            # score: a high score should mean fewer defects; a rate: a high rate more
            result[f"{prefix}spearman_{outcome}"] = _spearman(judged, "score", outcome)
            raw = {name: -_spearman(judged.drop_nulls(name), name, outcome) for name in raws}
            result[f"{prefix}best_raw_{outcome}"] = _best(list(raw.values()))
            result[f"{prefix}shops_{outcome}"] = judged.height
            result |= {f"{prefix}spearman_{outcome}_{name}": v for name, v in raw.items()}
            result |= {
                f"{prefix}spearman_{outcome}_dimension_{d}": _spearman(
                    judged.drop_nulls(f"dimension_{d}"), f"dimension_{d}", outcome
                )
                for d in dimensions
            }
    coverage = interval_coverage(computed.metrics, past, pl.read_parquet(order_truth))
    due = _observed(facts, start, end, end)
    return Validity(
        spearman_next_bad_review=float(result["spearman_next_bad_review"]),
        spearman_next_late=float(result["spearman_next_late"]),
        best_raw_next_bad_review=float(result["best_raw_next_bad_review"]),
        best_raw_next_late=float(result["best_raw_next_late"]),
        small_spearman_next_bad_review=float(result["small_spearman_next_bad_review"]),
        small_spearman_next_late=float(result["small_spearman_next_late"]),
        small_best_raw_next_bad_review=float(result["small_best_raw_next_bad_review"]),
        small_best_raw_next_late=float(result["small_best_raw_next_late"]),
        small_shop_gain_next_late=float(result["small_spearman_next_late"])
        - float(result["small_best_raw_next_late"]),
        interval_coverage_90=float(coverage.pop("interval_coverage_90")),
        shops_next_bad_review=int(result["shops_next_bad_review"]),
        shops_next_late=int(result["shops_next_late"]),
        small_shops_next_bad_review=int(result["small_shops_next_bad_review"]),
        small_shops_next_late=int(result["small_shops_next_late"]),
        late_share=float(due["late_due"].sum() / max(int(due["is_due"].sum()), 1)),
        orders=facts.height,
        detail={
            k: v
            for k, v in result.items()
            if k.startswith(("spearman_next_", "small_spearman_next_")) and k.count("_") > 3
        }
        | coverage,
    )


def interval_coverage(
    metrics: pl.DataFrame, past: pl.DataFrame, truth: pl.DataFrame
) -> dict[str, float | int]:
    """Share of (shop, metric) pairs whose 90% interval (equal-tailed, of the Beta posterior
    with the row's mean ``rate`` and ``variance``) holds the shop's true rate over the orders
    the metric counts: the mean ``p_bad_review`` of reviewed orders of buyers who are not
    abusive, the mean ``p_late`` of orders due. A metric the score does not have yet is
    left out."""
    orders = past.join(truth, on="order_id")
    true_rates = {
        "bad_review_rate": orders.filter(pl.col("reviewed") & ~pl.col("abusive"))
        .group_by("shop_id")
        .agg(truth=pl.col("p_bad_review").mean()),
        "late_delivery_rate": orders.filter(pl.col("is_due"))
        .group_by("shop_id")
        .agg(truth=pl.col("p_late").mean()),
    }
    rows = metrics.filter(
        (pl.col("kind") == ScoreKind.STORE.value)
        & pl.col("metric").is_in(list(COVERED_METRICS))
        & (pl.col("variance") > 0)
        & pl.col("rate").is_between(0, 1, closed="none")
    ).select(pl.col("entity_id").alias("shop_id"), "metric", "rate", "variance")
    judged = []
    for metric, rates in true_rates.items():
        part = rows.filter(pl.col("metric") == metric).join(rates, on="shop_id")
        if part.height:
            judged.append(part)
    out: dict[str, float | int] = {}
    if not judged:
        return {"interval_coverage_90": float("nan")}
    frame = pl.concat(judged)
    rate, variance = frame["rate"].to_numpy(), frame["variance"].to_numpy()
    mass = np.maximum(rate * (1 - rate) / variance - 1, 1e-9)
    tail = (1 - INTERVAL) / 2
    low = beta_dist.ppf(tail, rate * mass, (1 - rate) * mass)
    high = beta_dist.ppf(1 - tail, rate * mass, (1 - rate) * mass)
    truth_rate = frame["truth"].to_numpy()
    covered = frame.with_columns(covered=pl.Series((low <= truth_rate) & (truth_rate <= high)))
    out["interval_coverage_90"] = float(covered["covered"].mean())  # type: ignore[arg-type]
    for metric in COVERED_METRICS:
        part = covered.filter(pl.col("metric") == metric)
        out[f"interval_coverage_90_{metric}"] = (
            float(part["covered"].mean()) if part.height else float("nan")  # type: ignore[arg-type]
        )
        out[f"interval_shops_{metric}"] = part.height
    return out
