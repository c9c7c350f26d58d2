"""What a merchant reads beside a score: the breakdown and the changes worth most points.

Everything here is vectorised over the metric rows of one computation (Polars), whichever
engine produced them.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from trustflow.scoring import rules

#: Hints worth less than this are not shown.
MIN_HINT_GAIN = 0.5
MAX_HINTS = 3

_LABELS = {
    (d.kind.value, m.name): (m.label, m.dimension)
    for d in rules.DEFINITIONS.values()
    for m in d.metrics
}


def with_hints(metrics: pl.DataFrame) -> pl.DataFrame:
    """Per metric: the target rate a merchant can aim for and the points it would add.

    The target is the benchmark when the scored rate is above it, otherwise half the rate.
    The gain is the metric's share of the score times the points recovered (points are
    linear in the rate, so the gain is exact for that one change).
    """
    share = pl.col("weight") / pl.col("weight").sum().over("kind", "entity_id")
    target = (
        pl.when(pl.col("rate") > pl.col("benchmark"))
        .then(pl.col("benchmark"))
        .otherwise(pl.col("rate") / 2)
    )
    new_points = (100.0 - rules.POINTS_PER_BENCHMARK * pl.col("target") / pl.col("scale")).clip(
        0.0, 100.0
    )
    return (
        metrics.with_columns(target=target, share=share)
        .with_columns(gain=pl.col("share") * (new_points - pl.col("points")))
        .with_columns(
            label=pl.struct("kind", "metric").map_elements(
                lambda r: _LABELS[(r["kind"], r["metric"])][0], return_dtype=pl.String
            ),
            dimension=pl.struct("kind", "metric").map_elements(
                lambda r: _LABELS[(r["kind"], r["metric"])][1], return_dtype=pl.String
            ),
        )
    )


def hint_text(label: str, rate: float, target: float, gain: float) -> str:
    return f"cut the {label} from {rate:.1%} to {target:.1%}: +{gain:.1f} points"


def details(metrics: pl.DataFrame) -> dict[tuple[str, int], dict[str, Any]]:
    """The stored detail of every entity: its metric breakdown and its best hints."""
    rows = with_hints(metrics).sort("kind", "entity_id", "gain", descending=[False, False, True])
    out: dict[tuple[str, int], dict[str, Any]] = {}
    for r in rows.iter_rows(named=True):
        key = (r["kind"], int(r["entity_id"]))
        entry = out.get(key)
        if entry is None:
            entry = out[key] = {"metrics": [], "hints": [], "held_reviews": int(r["held_reviews"])}
        entry["metrics"].append(
            {
                "metric": r["metric"],
                "label": r["label"],
                "dimension": r["dimension"],
                "weight": round(r["share"], 4),
                "defects": round(r["defects"], 3),
                "opportunities": round(r["opportunities"], 3),
                "raw_rate": None if r["raw_rate"] is None else round(r["raw_rate"], 5),
                "rate": round(r["rate"], 5),
                "benchmark": round(r["benchmark"], 5),
                "points": round(r["points"], 2),
            }
        )
        # Only what the entity's own record shows: no advice on chats it never had.
        actionable = r["opportunities"] > 0 and r["defects"] > 0
        if actionable and r["gain"] >= MIN_HINT_GAIN and len(entry["hints"]) < MAX_HINTS:
            entry["hints"].append(
                {
                    "metric": r["metric"],
                    "from_rate": round(r["rate"], 5),
                    "to_rate": round(r["target"], 5),
                    "gain": round(r["gain"], 2),
                    "text": hint_text(r["label"], r["rate"], r["target"], r["gain"]),
                }
            )
    for entry in out.values():
        entry["metrics"].sort(key=lambda m: (m["dimension"], m["metric"]))
    return out
