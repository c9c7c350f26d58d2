"""Copy the marketplace store into the warehouse: Parquet files partitioned by day.

Fact tables (orders, order lines, after-sales, reviews, chats, impressions) are exported by
watermark. Each carries a column that every named action stamps (``updated_at``; order lines
and reviews never change, so their ``created_at``). An export reads the rows stamped since the
last watermark (less a safety lag, for transactions that committed late), finds the days they
belong to, and rewrites those days' partitions whole from the store. A partition is written
beside its old file and renamed over it; the manifest (watermarks, and each fact's columns)
is replaced last. A crash at any point leaves files that the next export simply rewrites:
exporting is idempotent. A fact that the manifest does not list with its current columns (a
new fact, or one that gained columns) is exported whole, and its partitions that were not
rewritten are removed.

Dimension tables (shops, creators, products, categories, live sessions, short videos, burst
verdicts, upheld appeals) are small and copied whole.

A warehouse holds one store's data. The manifest records the store's id
(:mod:`trustflow.store_identity`), and an export from any other store is refused before a file
is touched: its order ids would collide with the first store's, its days would overwrite the
first store's partitions, and scores would be published from the mix. A manifest written before
stores had an id is adopted only by a full export (``--full``), which rewrites every partition
from this store and removes the ones it did not write; an incremental export refuses it, since
it cannot tell whose data the folder holds (docs/scores.md, "Pipeline").
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy import Boolean, Column, Engine, Enum, Integer, String, Text, select
from sqlalchemy.sql.type_api import TypeEngine
from sqlalchemy.types import NullType

import trustflow.models  # noqa: F401  (every table, so foreign keys resolve)
from trustflow import store_identity
from trustflow.accounts.models import Creator
from trustflow.aftersales.models import AfterSalesRequest, ChatThread, Review
from trustflow.catalog.models import Category, Product, Shop
from trustflow.content.models import LiveSession, ShortVideo
from trustflow.db import UtcDateTime
from trustflow.errors import Conflict, ErrorCode
from trustflow.orders.models import Order, OrderLine
from trustflow.scoring.models import AppealStatus, BurstDecision, ScoreAppeal
from trustflow.traffic.models import Impression

#: Rows committed up to this long after a later-stamped row are still picked up.
SAFETY_LAG = timedelta(minutes=10)
MANIFEST = "manifest.json"
BATCH_ROWS = 100_000


@dataclass(frozen=True)
class Fact:
    name: str
    columns: tuple[Column[Any], ...]
    day_column: Column[Any]
    stamp_column: Column[Any]


@dataclass(frozen=True)
class Dimension:
    name: str
    columns: tuple[Column[Any], ...]
    where: Any = None


def _cols(model: Any, *names: str) -> tuple[Column[Any], ...]:
    return tuple(_col(model, n) for n in names)


def _col(model: Any, name: str) -> Column[Any]:
    return cast(Column[Any], model.__table__.c[name])


FACTS: tuple[Fact, ...] = (
    Fact(
        "orders",
        _cols(
            Order,
            "id",
            "buyer_id",
            "shop_id",
            "product_id",
            "creator_id",
            "channel",
            "status",
            "paid_amount_fen",
            "created_at",
            "paid_at",
            "ship_by",
            "deliver_by",
            "shipped_at",
            "picked_up_at",
            "delivered_at",
            "received_at",
            "cancelled_at",
            "updated_at",
        ),
        _col(Order, "created_at"),
        _col(Order, "updated_at"),
    ),
    Fact(  # append-only: a line never changes once placed
        "order_lines",
        # every column of a line but where it was imported from
        _cols(OrderLine, *(c.key for c in OrderLine.__table__.c if c.key != "external_id")),
        _col(OrderLine, "created_at"),
        _col(OrderLine, "created_at"),
    ),
    Fact(
        "after_sales",
        _cols(
            AfterSalesRequest,
            "id",
            "order_id",
            "line_id",
            "quantity",
            "shop_id",
            "buyer_id",
            "kind",
            "reason",
            "responsible_party",
            "status",
            "dispute_outcome",
            "refund_fen",
            "created_at",
            "handled_at",
            "resolved_at",
            "updated_at",
        ),
        _col(AfterSalesRequest, "created_at"),
        _col(AfterSalesRequest, "updated_at"),
    ),
    Fact(
        "reviews",
        _cols(
            Review,
            "id",
            "order_id",
            "line_id",
            "buyer_id",
            "product_id",
            "shop_id",
            "creator_id",
            "stars",
            "created_at",
        ),
        _col(Review, "created_at"),
        _col(Review, "created_at"),
    ),
    Fact(
        "chats",
        _cols(
            ChatThread,
            "id",
            "buyer_id",
            "shop_id",
            "first_message_at",
            "first_response_seconds",
            "updated_at",
        ),
        _col(ChatThread, "first_message_at"),
        _col(ChatThread, "updated_at"),
    ),
    Fact(  # append-only: a row is never changed once logged
        "impressions",
        _cols(
            Impression,
            "id",
            "surface",
            "item_kind",
            "item_id",
            "buyer_id",
            "shown_at",
            "count",
            "is_reward",
            "reward_plan",
            "plan_version",
        ),
        _col(Impression, "shown_at"),
        _col(Impression, "shown_at"),
    ),
)

DIMENSIONS: tuple[Dimension, ...] = (
    Dimension(
        "shops", _cols(Shop, "id", "merchant_id", "kind", "category_id", "status", "created_at")
    ),
    Dimension("creators", _cols(Creator, "id", "created_at")),
    Dimension(  # sessions change state without a stamp, so they are copied whole
        "live_sessions",
        _cols(LiveSession, "id", "shop_id", "creator_id", "status", "started_at", "ended_at"),
    ),
    Dimension("short_videos", _cols(ShortVideo, "id", "shop_id", "creator_id", "posted_at")),
    Dimension("products", _cols(Product, "id", "shop_id", "category_id", "status", "created_at")),
    Dimension("categories", _cols(Category, "id", "code", "parent_id")),
    Dimension("burst_decisions", _cols(BurstDecision, "shop_id", "epoch_day", "verdict")),
    Dimension(
        "appeals",
        _cols(ScoreAppeal, "id", "shop_id", "defect_kind", "defect_id"),
        ScoreAppeal.__table__.c.status == AppealStatus.UPHELD,
    ),
)


def _arrow_type(sa_type: TypeEngine[Any]) -> pa.DataType:
    if isinstance(sa_type, UtcDateTime):
        return pa.timestamp("us", tz="UTC")
    if isinstance(sa_type, Boolean):
        return pa.bool_()
    if isinstance(sa_type, Enum | String | Text):
        return pa.string()
    if isinstance(sa_type, Integer):
        return pa.int64()
    raise TypeError(f"no warehouse type for {sa_type!r}")


def _column_type(column: Column[Any]) -> TypeEngine[Any]:
    # A foreign key declared without a type takes its target's type.
    for fk in column.foreign_keys:
        if isinstance(column.type, NullType):
            return fk.column.type
    return column.type


def arrow_schema(columns: Sequence[Column[Any]]) -> pa.Schema:
    return pa.schema([pa.field(c.name, _arrow_type(_column_type(c))) for c in columns])


def _batches(engine: Engine, stmt: Any, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=BATCH_ROWS).execute(stmt)
        for rows in result.partitions(BATCH_ROWS):
            columns: list[Any] = list(zip(*rows, strict=True)) if rows else [[] for _ in schema]
            yield pa.record_batch(
                [
                    pa.array([_plain(v) for v in col], type=f.type)
                    for col, f in zip(columns, schema, strict=True)
                ],
                schema=schema,
            )


def _plain(value: Any) -> Any:
    # Enum members become their values; everything else passes as is.
    return value.value if hasattr(value, "value") and not isinstance(value, datetime) else value


def _read(engine: Engine, stmt: Any, schema: pa.Schema) -> pa.Table:
    return pa.Table.from_batches(list(_batches(engine, stmt, schema)), schema=schema)


def _write_atomically(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)


def _day_path(root: Path, fact: str, day: date) -> Path:
    return root / fact / f"day={day.isoformat()}" / "part-0.parquet"


def _start_of(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


@dataclass
class ExportReport:
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(int(t["rows"]) for t in self.tables.values())


def read_manifest(root: Path) -> dict[str, Any]:
    path = root / MANIFEST
    if not path.exists():
        return {"watermarks": {}}
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _holds_data(root: Path) -> bool:
    return any(root.glob("*/day=*/*.parquet")) or any((root / "dims").glob("*.parquet"))


def _write_manifest(root: Path, manifest: dict[str, Any]) -> None:
    tmp = root / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True))
    os.replace(tmp, root / MANIFEST)


def claim(root: Path, store: str, *, full: bool = False) -> dict[str, Any]:
    """The manifest to export ``store`` on, once the warehouse under ``root`` is known to be
    this store's; refuses (and touches nothing) when it is another store's, or unknown."""
    manifest = read_manifest(root)
    warehouse_store = manifest.get("store_id")
    if warehouse_store is not None and warehouse_store != store:
        raise Conflict(
            f"the warehouse at {root} holds the data of store {warehouse_store}, not of this store "
            f"({store}); point TRUSTFLOW_WAREHOUSE at another file for this store, or remove "
            f"the folder {root} (and its .duckdb file) to rebuild it from this store",
            code=ErrorCode.WAREHOUSE_BELONGS_TO_OTHER_STORE,
            warehouse=str(root),
            warehouse_store_id=warehouse_store,
            store_id=store,
        )
    if warehouse_store is None and _holds_data(root):
        if not full:
            raise Conflict(
                f"the warehouse at {root} records no store (an earlier trustflow wrote it), so "
                "its data may be another store's; run `trustflow warehouse export --full` to "
                "rewrite it from this store, or point TRUSTFLOW_WAREHOUSE at another file",
                code=ErrorCode.WAREHOUSE_STORE_UNKNOWN,
                warehouse=str(root),
                store_id=store,
            )
        return {"store_id": store, "watermarks": {}}
    if warehouse_store is None:  # a new warehouse: claim it before the first file is written
        root.mkdir(parents=True, exist_ok=True)
        manifest = {"store_id": store, "watermarks": {}}
        _write_manifest(root, manifest)
    return {"store_id": store, "watermarks": {}} if full else manifest


def export(engine: Engine, root: Path, *, full: bool = False) -> ExportReport:
    """Bring the warehouse under ``root`` up to date with the store; returns what moved.

    ``full`` ignores the watermarks, rewrites every partition from the store and removes the
    partitions the store no longer has."""
    store = store_identity.store_id(engine)
    imported = store_identity.history_imported_at(engine)
    imported_mark = None if imported is None else imported.isoformat()
    if not full and read_manifest(root).get("history_imported_at") != imported_mark:
        full = True  # history stamped in the past arrived: no watermark would see it
    manifest = claim(root, store, full=full)
    root.mkdir(parents=True, exist_ok=True)
    watermarks: dict[str, str] = dict(manifest.get("watermarks", {}))
    columns = fact_columns()
    exported_columns: dict[str, list[str]] = manifest.get("columns", {})
    report = ExportReport()
    written: set[Path] = set()
    whole: list[Fact] = []  # facts read from the store whole: their other partitions are stale
    for fact in FACTS:
        # A fact new to this warehouse, or whose columns changed, is rewritten whole: its old
        # partitions lack the new columns, and a watermark would only rewrite recent days.
        same = exported_columns.get(fact.name) == columns[fact.name]
        since = watermarks.get(fact.name) if same else None
        if since is None:
            whole.append(fact)
        report.tables[fact.name], new_mark = _export_fact(
            engine, root, fact, datetime.fromisoformat(since) if since else None, written
        )
        if new_mark is not None:
            watermarks[fact.name] = new_mark.isoformat()
    for dim in DIMENSIONS:
        schema = arrow_schema(dim.columns)
        stmt = select(*dim.columns)
        if dim.where is not None:
            stmt = stmt.where(dim.where)
        table = _read(engine, stmt, schema)
        _write_atomically(table, root / "dims" / f"{dim.name}.parquet")
        report.tables[dim.name] = {"rows": table.num_rows, "partitions": 1}
    for fact in whole:
        for stale in (root / fact.name).glob("day=*/part-0.parquet"):
            if stale not in written:
                stale.unlink()
    _write_manifest(
        root,
        {
            "store_id": store,
            "watermarks": watermarks,
            "columns": columns,
            "history_imported_at": imported_mark,
            "exported_at": datetime.now(UTC).isoformat(),
            "tables": report.tables,
        },
    )
    return report


def fact_columns() -> dict[str, list[str]]:
    """Each fact table's columns, as the manifest records them."""
    return {f.name: [c.name for c in f.columns] for f in FACTS}


def _export_fact(
    engine: Engine, root: Path, fact: Fact, since: datetime | None, written_paths: set[Path]
) -> tuple[dict[str, Any], datetime | None]:
    schema = arrow_schema(fact.columns)
    stmt = select(*fact.columns)
    if since is not None:
        changed = select(fact.day_column, fact.stamp_column).where(
            fact.stamp_column >= since - SAFETY_LAG
        )
        with engine.connect() as conn:
            stamps = conn.execute(changed).all()
        if not stamps:
            return {"rows": 0, "partitions": 0}, since
        days = {r[0].date() for r in stamps}
        new_mark = max(r[1] for r in stamps)
        stmt = stmt.where(fact.day_column >= _start_of(min(days)))
    else:
        days = None
        new_mark = None
    table = _read(engine, stmt.order_by(fact.day_column), schema)
    if table.num_rows == 0:
        return {"rows": 0, "partitions": 0}, new_mark or since
    if new_mark is None:
        new_mark = pc.max(table[fact.stamp_column.name]).as_py()
    day_values = pc.cast(table[fact.day_column.name], pa.date32())
    written = rows = 0
    unique_days = pc.unique(day_values).to_pylist()
    for day in unique_days:
        if days is not None and day not in days:
            continue
        part = table.filter(pc.equal(day_values, pa.scalar(day, pa.date32())))
        path = _day_path(root, fact.name, day)
        _write_atomically(part, path)
        written_paths.add(path)
        written += 1
        rows += part.num_rows
    return {"rows": rows, "partitions": written}, new_mark


def empty_fact(root: Path, fact: Fact) -> Path:
    """A zero-row file so a never-exported table still has a schema to read."""
    path = root / fact.name / "day=0001-01-01" / "part-0.parquet"
    if not path.exists():
        _write_atomically(arrow_schema(fact.columns).empty_table(), path)
    return path


def empty_dimension(root: Path, dim: Dimension) -> Path:
    """A zero-row file so a never-exported dimension still has a schema to read."""
    path = root / "dims" / f"{dim.name}.parquet"
    if not path.exists():
        _write_atomically(arrow_schema(dim.columns).empty_table(), path)
    return path
