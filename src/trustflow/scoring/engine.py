"""Run the score definitions (:mod:`trustflow.scoring.sql`) on DuckDB or on Apache Spark.

Both engines read the same warehouse files (through :mod:`trustflow.warehouse.reader`) and the
same SQL: it is written for DuckDB and transpiled for Spark with SQLGlot, so there is one
definition to read, test and change.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from trustflow.scoring import sql
from trustflow.warehouse.reader import (
    DIMENSION_TABLES,
    FACT_TABLES,
    dimension_path,
    ensure_readable,
    fact_dir,
    open_warehouse,
)


@dataclass(frozen=True)
class Computed:
    """What one computation produced: per-metric rows and per-entity scores."""

    metrics: pl.DataFrame
    scores: pl.DataFrame
    bursts: pl.DataFrame  # shop-days of bad reviews held back, awaiting a verdict


def compute_duckdb(
    root: Path,
    as_of: int,
    options: sql.Options = sql.FULL,
    *,
    con: duckdb.DuckDBPyConnection | None = None,
) -> Computed:
    own = con is None
    con = con or open_warehouse(root)
    try:
        for name, query in sql.statements(as_of, options):
            con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {query}")
        return Computed(
            metrics=con.sql("SELECT * FROM score_metrics").pl(),
            scores=con.sql("SELECT * FROM entity_scores").pl(),
            bursts=con.sql("SELECT * FROM review_bursts").pl(),
        )
    finally:
        if own:
            con.close()


def spark_steps(name: str, query: str) -> list[tuple[str, str]]:
    """The query as Spark SQL, one step per common table expression.

    Spark inlines CTEs, and a plan that refers to the same CTE many times grows until the
    analyser runs out of memory; materialising each CTE (a local checkpoint, which also cuts
    the lineage) keeps every plan small.
    """
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(query, read="duckdb")
    steps: list[tuple[str, str]] = []
    with_ = tree.args.get("with_") or tree.args.get("with")
    if with_ is not None:
        for cte in with_.expressions:
            steps.append((cte.alias, cte.this.sql(dialect="spark")))
        tree.set("with_" if tree.args.get("with_") is not None else "with", None)
    assert isinstance(tree, exp.Expression)
    steps.append((name, tree.sql(dialect="spark")))
    return steps


def compute_spark(spark: Any, root: Path, as_of: int, options: sql.Options = sql.FULL) -> Computed:
    """The same definitions on a Spark session (local mode in tests, a cluster in production)."""
    ensure_readable(root)
    for name in FACT_TABLES:
        spark.read.parquet(fact_dir(root, name)).drop("day").createOrReplaceTempView(name)
    for name in DIMENSION_TABLES:
        spark.read.parquet(dimension_path(root, name)).createOrReplaceTempView(name)
    frames: dict[str, Any] = {}
    for name, query in sql.statements(as_of, options):
        for step, step_sql in spark_steps(name, query):
            df = spark.sql(step_sql).localCheckpoint(eager=True)
            df.createOrReplaceTempView(step)
            frames[step] = df

    def collect(df: Any) -> pl.DataFrame:
        rows = [tuple(r) for r in df.collect()]
        return pl.DataFrame(rows, schema=df.columns, orient="row", infer_schema_length=None)

    return Computed(
        metrics=collect(frames["score_metrics"]),
        scores=collect(frames["entity_scores"]),
        bursts=collect(frames["review_bursts"]),
    )
