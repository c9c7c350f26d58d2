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

_LABELS = pl.DataFrame(
    [
        {"kind": d.kind.value, "metric": m.name, "label": m.label}
        for d in rules.DEFINITIONS.values()
        for m in d.metrics
    ]
)


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
        .join(_LABELS, on=["kind", "metric"], how="left")
    )


def details(metrics: pl.DataFrame) -> dict[tuple[str, int], dict[str, Any]]:
    """The stored detail of every entity: its metric breakdown and its best hints.

    Built column-wise by Polars (one group-by); Python only receives the finished objects.
    """
    rows = with_hints(metrics)
    # Only what the entity's own record shows: no advice on chats it never had.
    actionable = (
        (pl.col("opportunities") > 0) & (pl.col("defects") > 0) & (pl.col("gain") >= MIN_HINT_GAIN)
    )
    rows = rows.with_columns(
        text=pl.format(
            "cut the {} from {}% to {}%: +{} points",
            "label",
            (pl.col("rate") * 100).round(1),
            (pl.col("target") * 100).round(1),
            pl.col("gain").round(1),
        )
    )
    metric = pl.struct(
        "metric",
        "label",
        "dimension",
        pl.col("share").round(4).alias("weight"),
        pl.col("defects").round(3),
        pl.col("opportunities").round(3),
        pl.col("raw_rate").round(5),
        pl.col("rate").round(5),
        pl.col("benchmark").round(5),
        pl.col("points").round(2),
    )
    hint = pl.struct(
        "metric",
        pl.col("rate").round(5).alias("from_rate"),
        pl.col("target").round(5).alias("to_rate"),
        pl.col("gain").round(2),
        "text",
    )
    # the score's dimensions (product, logistics, service; a creator's goods and content):
    # each its metrics' points by their weights, and its share of the score
    dimensions = (
        rows.group_by("kind", "entity_id", "dimension")
        .agg(
            share=pl.col("share").sum(),
            points=(pl.col("share") * pl.col("points")).sum()
            / pl.when(pl.col("share").sum() > 0).then(pl.col("share").sum()),
        )
        .filter(pl.col("share") > 0)
        .group_by("kind", "entity_id")
        .agg(
            pl.struct(
                "dimension", pl.col("share").round(4).alias("weight"), pl.col("points").round(2)
            )
            .sort_by("dimension")
            .alias("dimensions")
        )
    )
    grouped = rows.group_by("kind", "entity_id").agg(
        metric.sort_by(["dimension", "metric"]).alias("metrics"),
        # the largest gains first; equal gains in the metrics' order, so the hints a
        # merchant reads do not change from one computation of the same scores to the next
        hint.filter(actionable)
        .sort_by(
            [pl.col("gain").filter(actionable), pl.col("metric").filter(actionable)],
            descending=[True, False],
        )
        .head(MAX_HINTS)
        .alias("hints"),
        pl.col("held_reviews").first().cast(pl.Int64),
    )
    grouped = grouped.join(dimensions, on=["kind", "entity_id"], how="left")
    return {
        (kind, int(entity)): {
            "metrics": m,
            "hints": h,
            "held_reviews": held,
            "dimensions": dims or [],
        }
        for kind, entity, m, h, held, dims in grouped.iter_rows()
    }
