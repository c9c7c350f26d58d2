"""A merchant's hints say the same thing each time the same scores are computed."""

from __future__ import annotations

import polars as pl

from trustflow.scoring.explain import details


def _metrics(order: list[int]) -> pl.DataFrame:
    # two metrics of one shop with exactly the same gain, and a larger one
    rows = [
        ("late_delivery_rate", "logistics", 0.08, 1.0),
        ("slow_chat_rate", "service", 0.08, 1.0),
        ("quality_refund_rate", "product", 0.25, 0.2),
    ]
    picked = [rows[i] for i in order]
    n = len(picked)
    return pl.DataFrame(
        {
            "kind": ["store"] * n,
            "entity_id": [7] * n,
            "metric": [r[0] for r in picked],
            "dimension": [r[1] for r in picked],
            "weight": [r[2] for r in picked],
            "defects": [1.0] * n,
            "opportunities": [5.0] * n,
            "raw_rate": [r[3] for r in picked],
            "rate": [r[3] for r in picked],
            "benchmark": [r[3] for r in picked],
            "scale": [r[3] for r in picked],
            "points": [80.0] * n,
            "held_reviews": [0] * n,
        }
    )


def test_equal_gains_are_hinted_in_one_order_whatever_order_the_rows_came_in() -> None:
    orders = ([0, 1, 2], [1, 0, 2], [2, 1, 0], [2, 0, 1])
    hints = [[h["metric"] for h in details(_metrics(o))[("store", 7)]["hints"]] for o in orders]

    assert hints[0][0] == "quality_refund_rate"  # the largest gain first
    assert all(h == hints[0] for h in hints)
    assert hints[0][1:] == ["late_delivery_rate", "slow_chat_rate"]  # equal gains: by name
