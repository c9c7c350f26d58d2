"""Read the warehouse: the one way every batch job opens the files the export writes.

:func:`open_warehouse` gives a DuckDB connection with a view per warehouse table (the scores,
the traffic plan, traffic health and the simulator's score quality all read through it); the
path helpers name the same files for readers that are not DuckDB (Spark, the pandas bench).
A table never exported yet still reads, with no rows: :func:`ensure_readable` writes it an
empty file first.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from trustflow.warehouse.export import DIMENSIONS, FACTS, empty_dimension, empty_fact

__all__ = [
    "DIMENSION_TABLES",
    "FACT_TABLES",
    "dimension_path",
    "ensure_readable",
    "fact_dir",
    "fact_glob",
    "open_warehouse",
]

#: The fact tables, partitioned by day (``<root>/<name>/day=YYYY-MM-DD/part-0.parquet``).
FACT_TABLES: tuple[str, ...] = tuple(f.name for f in FACTS)
#: The dimension tables, one file each (``<root>/dims/<name>.parquet``).
DIMENSION_TABLES: tuple[str, ...] = tuple(d.name for d in DIMENSIONS)


def fact_dir(root: Path, name: str) -> str:
    """The folder of a fact table's day partitions."""
    return (root / name).as_posix()


def fact_glob(root: Path, name: str) -> str:
    """Every partition file of a fact table."""
    return (root / name / "*" / "*.parquet").as_posix()


def dimension_path(root: Path, name: str) -> str:
    """A dimension table's file."""
    return (root / "dims" / f"{name}.parquet").as_posix()


def ensure_readable(root: Path) -> None:
    """Give every table not exported yet an empty file, so it reads with its schema."""
    for fact in FACTS:
        if not any((root / fact.name).glob("*/*.parquet")):
            empty_fact(root, fact)
    for dim in DIMENSIONS:
        empty_dimension(root, dim)


def open_warehouse(root: Path, database: str = ":memory:") -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with a view per warehouse table, times in UTC."""
    ensure_readable(root)
    con = duckdb.connect(database)
    con.execute("SET TimeZone = 'UTC'")
    # Readers key their rows, never read in file order: let DuckDB skip the ordering work.
    con.execute("SET preserve_insertion_order = false")
    # the names are the export's own tables, the paths the warehouse's own files
    for name in FACT_TABLES:
        con.execute(
            f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM read_parquet("  # noqa: S608
            f"'{fact_glob(root, name)}', hive_partitioning = false, union_by_name = true)"
        )
    for name in DIMENSION_TABLES:
        con.execute(
            f"CREATE OR REPLACE VIEW {name} AS "  # noqa: S608
            f"SELECT * FROM read_parquet('{dimension_path(root, name)}')"
        )
    return con
