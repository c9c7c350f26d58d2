"""The one score definition gives the same scores on DuckDB and on Apache Spark."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from tests.scoring.conftest import SimWarehouse
from trustflow.scoring import sql
from trustflow.scoring.engine import compute_duckdb, compute_spark

pytestmark = pytest.mark.spark

KEY = ["kind", "entity_id"]


def _sorted(frame: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    return frame.sort(keys).select(sorted(frame.columns))


@pytest.mark.parametrize("options", [sql.FULL, sql.NAIVE], ids=["full", "naive"])
def test_duckdb_and_spark_agree(
    sim_warehouse: SimWarehouse, spark: Any, options: sql.Options
) -> None:
    duck = compute_duckdb(sim_warehouse.root, sim_warehouse.as_of, options)
    sprk = compute_spark(spark, sim_warehouse.root, sim_warehouse.as_of, options)

    assert duck.scores.height > 100  # all three kinds, a real marketplace
    assert set(duck.scores["kind"]) == {"store", "product", "creator"}
    cast = {c: pl.Float64 for c in ("score", "lower", "upper", "observed_share")} | {
        c: pl.Int64 for c in ("entity_id", "sample", "window_days", "restricted", "held_reviews")
    }
    assert_frame_equal(
        _sorted(duck.scores.cast(cast), KEY),
        _sorted(sprk.scores.cast(cast), KEY),
        check_dtypes=False,
        abs_tol=1e-6,
        rel_tol=1e-9,
    )
    metric_key = [*KEY, "metric"]
    numeric = [c for c, t in duck.metrics.schema.items() if t.is_numeric() and c not in metric_key]
    assert_frame_equal(
        _sorted(duck.metrics.with_columns(pl.col(numeric).cast(pl.Float64)), metric_key),
        _sorted(sprk.metrics.with_columns(pl.col(numeric).cast(pl.Float64)), metric_key),
        check_dtypes=False,
        abs_tol=1e-6,
        rel_tol=1e-9,
    )
