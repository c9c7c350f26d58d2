"""Helpers for set-based actions: chunked look-ups and multi-row inserts returning ids.

The bulk paths of each context (``<context>/bulk.py``) apply the same rules as the one-at-a-time
services, checked per batch, so simulators and imports can move millions of rows while the
store's invariants still hold.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import numpy as np
import numpy.typing as npt
from sqlalchemy import (
    BigInteger,
    Column,
    CursorResult,
    Result,
    Select,
    Table,
    bindparam,
    func,
    insert,
    literal_column,
    select,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement
from sqlalchemy.sql.selectable import SelectBase

#: Keep IN-lists under SQLite's default host-parameter limit, with room for other parameters.
CHUNK = 900

IntArray = npt.NDArray[np.int64]


def sorted_lookup(
    sorted_keys: npt.NDArray[Any],
    keys: npt.ArrayLike,
    values: npt.ArrayLike | None = None,
) -> IntArray:
    """A dict lookup on sorted keys without building the dict: for each of ``keys``, the value
    beside it (``values`` aligned with ``sorted_keys``; its position there when None), or -1
    where it is not among ``sorted_keys``."""
    wanted = np.asarray(keys)
    if len(sorted_keys) == 0:
        return np.full(len(wanted), -1, dtype=np.int64)
    at = np.minimum(np.searchsorted(sorted_keys, wanted), len(sorted_keys) - 1)
    found = at if values is None else np.asarray(values)[at]
    return np.where(sorted_keys[at] == wanted, found, -1).astype(np.int64, copy=False)


def table(model: Any) -> Table:
    return cast(Table, model.__table__)


def rowcount(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE run through a session changed: what a guarded update
    (``WHERE stock + delta >= 0``, ``WHERE status = 'reserved'``) is judged by."""
    assert isinstance(result, CursorResult)
    return int(result.rowcount)


def chunks(values: Sequence[Any] | npt.NDArray[Any], size: int = CHUNK) -> Iterator[list[Any]]:
    items = values.tolist() if isinstance(values, np.ndarray) else list(values)
    for start in range(0, len(items), size):
        yield items[start : start + size]


def fetch_by_ids(
    session: Session,
    stmt: Select[Any],
    id_column: Column[Any],
    ids: Sequence[int] | IntArray,
    *,
    for_update: bool = False,
) -> list[Any]:
    """Rows of ``stmt`` for these ids, fetched in chunks (ordered by id, so locks never cross).
    ``for_update`` locks them FOR NO KEY UPDATE: the caller changes values, never the key, so
    an insert elsewhere that references a row (its foreign-key check) need not wait."""
    unique = sorted(set(np.asarray(ids, dtype=np.int64).tolist()))
    rows: list[Any] = []
    for part in chunks(unique):
        chunk_stmt = stmt.where(id_column.in_(part)).order_by(id_column)
        if for_update and session.get_bind().dialect.name == "postgresql":
            chunk_stmt = chunk_stmt.with_for_update(key_share=True)
        rows.extend(session.execute(chunk_stmt).all())
    return rows


def fetch_map(
    session: Session,
    stmt: Select[Any],
    id_column: Column[Any],
    ids: Sequence[int] | IntArray,
    *,
    for_update: bool = False,
) -> dict[Any, Any]:
    """:func:`fetch_by_ids`, keyed by each row's first column."""
    return {
        row[0]: row for row in fetch_by_ids(session, stmt, id_column, ids, for_update=for_update)
    }


def insert_returning_ids(
    session: Session, target: Table, rows: Sequence[Mapping[str, Any]]
) -> IntArray:
    """Insert many rows in as few statements as the driver allows; ids come back in row order.

    On SQLite the transaction holds the write lock from its first statement (BEGIN IMMEDIATE),
    and an INTEGER PRIMARY KEY takes the next id above the largest: so the rows take the ids
    after the current maximum, in order, which is checked after the insert. Elsewhere the
    driver returns the ids.
    """
    if not rows:
        return np.zeros(0, dtype=np.int64)
    if session.get_bind().dialect.name == "sqlite":
        before = session.scalar(select(func.max(target.c.id))) or 0
        columns = {k: [r[k] for r in rows] for k in rows[0]}
        insert_columns(session, target, columns, rows=len(rows))
        after = session.scalar(select(func.max(target.c.id))) or 0
        if after - before != len(rows):
            raise RuntimeError(f"{target.name}: ids were not assigned consecutively")
        return np.arange(before + 1, after + 1, dtype=np.int64)
    stmt = insert(target).returning(target.c.id, sort_by_parameter_order=True)
    ids = session.execute(stmt, list(rows)).scalars().all()
    return np.asarray(ids, dtype=np.int64)


def insert_many(session: Session, target: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    if rows:
        stmt = insert(target).values({k: bindparam(k) for k in rows[0]}).inline()
        execute_many(session, stmt, rows)


def execute_many(session: Session, stmt: ClauseElement, rows: Sequence[Mapping[str, Any]]) -> int:
    """Run one statement for many parameter rows (dicts) through the driver; see
    :func:`execute_columns`. Returns the number of rows the statement changed."""
    if not rows:
        return 0
    columns = {key: [row[key] for row in rows] for key in rows[0]}
    return execute_columns(session, stmt, columns, rows=len(rows))


@dataclass(frozen=True)
class DriverCursor:
    raw: Any
    dialect: Any


def driver_cursor(session: Session) -> DriverCursor:
    """A cursor of the driver inside the session's current transaction (begun if need be)."""
    connection = session.connection()
    raw = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    return DriverCursor(raw, connection.dialect)


class DriverStatement:
    """A statement compiled once per dialect and run straight through the driver.

    For hot paths (order placement): parameters pass through their column types' bind
    processors, as with SQLAlchemy, but nothing else stands between the call and the driver.
    Results come back as the driver's raw rows.
    """

    def __init__(self, stmt: ClauseElement) -> None:
        self.stmt = stmt
        self._by_dialect: dict[str, tuple[str, list[tuple[str, str, Any, Any]], bool]] = {}

    def _prepared(self, dialect: Any) -> tuple[str, list[tuple[str, str, Any, Any]], bool]:
        found = self._by_dialect.get(dialect.name)
        if found is None:
            compiled = cast(SQLCompiler, self.stmt.compile(dialect=dialect))
            names = (
                list(compiled.positiontup or []) if compiled.positional else list(compiled.binds)
            )
            processors = compiled._bind_processors
            plan = [
                (
                    n,
                    compiled.binds[n].key,
                    compiled.binds[n].value,
                    _shared(compiled.binds[n].type, dialect, processors.get(n)),
                )
                for n in names
            ]
            found = (compiled.string, plan, bool(compiled.positional))
            self._by_dialect[dialect.name] = found
        return found

    def execute(
        self, cursor: DriverCursor, params: Mapping[str, Any], *, binary: bool = False
    ) -> Any:
        """Run once with ``params`` on a :func:`driver_cursor`; returns the driver's cursor
        (fetch its rows, read its rowcount). ``binary`` (PostgreSQL): results arrive in the
        binary format, e.g. ``bytea`` as raw bytes rather than hex text."""
        sql, plan, positional = self._prepared(cursor.dialect)
        values = []
        for _name, key, literal, proc in plan:
            v = params.get(key, literal)
            if proc is not None and v is not None:
                v = _processed_time(proc, v) if type(v) is datetime else proc(v)
            values.append(v)
        raw = cursor.raw
        extra = {"binary": True} if binary else {}
        if positional:
            raw.execute(sql, tuple(values), **extra)
        else:
            raw.execute(sql, {p[0]: v for p, v in zip(plan, values, strict=True)}, **extra)
        return raw


#: one bind processor per type (class and arguments) and dialect, so that equal types'
#: processors are one object and :data:`_TIMES` serves them all
_PROCESSORS: dict[tuple[type, str, str], Callable[[Any], Any]] = {}
#: bound forms of recent times: a hot path binds the same instant many times over (a
#: placement stamps its order, its lines, its event and its checkout with one ``at``)
_TIMES: dict[tuple[Callable[[Any], Any], datetime], Any] = {}


def _shared(type_: Any, dialect: Any, proc: Any) -> Any:
    if not callable(proc):  # none, or one per element of a tuple
        return proc
    return _PROCESSORS.setdefault((type(type_), repr(type_), dialect.name), proc)


def _processed_time(proc: Callable[[Any], Any], value: datetime) -> Any:
    key = (proc, value)
    found = _TIMES.get(key)
    if found is None:
        found = proc(value)  # a time the type refuses raises here, and is never kept
        if len(_TIMES) >= 1024:
            _TIMES.clear()
        _TIMES[key] = found
    return found


def _processed(items: list[Any], proc: Callable[[Any], Any]) -> list[Any]:
    """Bind-process a column, once per distinct value: batches repeat their times and enums."""
    done: dict[Any, Any] = {None: None}
    out = []
    for v in items:
        try:
            out.append(done[v])
        except KeyError:
            done[v] = processed = proc(v)
            out.append(processed)
        except TypeError:  # unhashable (a JSON list): nothing to share
            out.append(proc(v))
    return out


def execute_columns(
    session: Session, stmt: ClauseElement, columns: Mapping[str, Any], *, rows: int
) -> int:
    """Run one statement ``rows`` times, its parameters given column by column: a sequence per
    varying parameter, one value for a parameter that is the same in every row.

    The statement is compiled once and each value goes through its column type's own bind
    processor (a constant only once), so UTC times, enums and the like are stored exactly as
    the ORM stores them; what is skipped is SQLAlchemy's per-row bookkeeping, which costs more
    than SQLite's own work. Returns the number of rows the statement changed.
    """
    if rows == 0:
        return 0
    connection = session.connection()
    compiled = cast(SQLCompiler, stmt.compile(dialect=connection.dialect))
    names = list(compiled.positiontup or []) if compiled.positional else list(compiled.binds)
    # the same per-type processors SQLAlchemy itself applies
    processors = cast(dict[str, Callable[[Any], Any]], compiled._bind_processors)
    prepared: list[list[Any]] = []
    for name in names:
        bind = compiled.binds[name]
        proc = processors.get(name)
        if bind.key in columns:
            data = columns[bind.key]
        elif bind.value is not None:
            data = bind.value  # a literal written into the statement itself
        else:
            raise KeyError(f"no value for {bind.key!r}: pass every column to the bulk path")
        if isinstance(data, (str, bytes)) or not hasattr(data, "__len__"):
            prepared.append([proc(data) if proc and data is not None else data] * rows)
            continue
        items = data.tolist() if isinstance(data, np.ndarray) else list(data)
        if len(items) != rows:
            raise ValueError(f"column {bind.key!r} has {len(items)} values for {rows} rows")
        prepared.append(_processed(items, proc) if proc else items)
    params: list[Any] = list(zip(*prepared, strict=True))
    if not compiled.positional:
        params = [dict(zip(names, row, strict=True)) for row in params]
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(compiled.string, params)
        return int(cursor.rowcount)
    finally:
        cursor.close()


def int_rows(session: Session, stmt: SelectBase) -> IntArray:
    """The rows of ``stmt``, whose columns are integers (NULL reads as 0), as an
    ``(n, columns)`` array. On PostgreSQL the store packs them into one ``bytea`` (each value's
    8 big-endian bytes, ``int8send``) that NumPy reads as is: one value crosses the wire and no
    Python object is made per row, so a large read never holds the interpreter while requests
    wait; it arrives in the binary format, so not even the bytes are decoded. Elsewhere they
    are fetched in chunks."""
    inner = stmt.subquery()
    values = [func.coalesce(sql_cast(c, BigInteger), 0) for c in inner.c]
    k = len(values)
    if session.get_bind().dialect.name != "postgresql":
        out = [
            np.array(chunk, dtype=np.int64).reshape(-1, k)
            for chunk in session.execute(
                select(*values).execution_options(yield_per=20_000)
            ).partitions()
        ]
        return np.concatenate(out) if out else np.zeros((0, k), dtype=np.int64)
    row: Any = func.int8send(values[0])
    for v in values[1:]:
        row = row.op("||")(func.int8send(v))
    packed = select(func.string_agg(row, literal_column("''::bytea")))
    with driver_cursor(session).raw as raw:
        cursor = DriverStatement(packed).execute(
            DriverCursor(raw, session.get_bind().dialect), {}, binary=True
        )
        value = cursor.fetchone()[0]
    flat = np.frombuffer(value or b"", dtype=">i8").astype(np.int64)
    return flat.reshape(-1, k)


def existing_ids(session: Session, target: Table, ids: Sequence[int] | IntArray) -> set[int]:
    found: set[int] = set()
    for part in chunks(sorted(set(np.asarray(ids, dtype=np.int64).tolist()))):
        found.update(session.scalars(select(target.c.id).where(target.c.id.in_(part))))
    return found


def require_all_exist(
    session: Session, target: Table, ids: Sequence[int] | IntArray, what: str
) -> None:
    """Refuse the whole batch if any id names nothing."""
    wanted = set(np.asarray(ids, dtype=np.int64).tolist())
    missing = wanted - existing_ids(session, target, list(wanted))
    if missing:
        from trustflow.errors import NotFound

        raise NotFound(f"{what} {min(missing)} not found", missing=len(missing))


def insert_columns(
    session: Session, target: Table, columns: Mapping[str, Any], *, rows: int
) -> None:
    """Insert ``rows`` rows given column by column (see :func:`execute_columns`)."""
    stmt = insert(target).values({k: bindparam(k) for k in columns}).inline()
    execute_columns(session, stmt, columns, rows=rows)


def existing_pairs(
    session: Session,
    first: Column[Any],
    second: Column[Any],
    pairs: Sequence[tuple[Any, Any]],
    *extra: Column[Any],
) -> dict[tuple[Any, Any], tuple[Any, ...]]:
    """Which (first, second) pairs exist, with the ``extra`` columns of each.

    Looks up by ``first IN (...)``, which an index starting with ``first`` serves (a row-value
    IN would scan the table, and a second IN list multiplies the index probes), then keeps the
    exact pairs.
    """
    wanted = set(pairs)
    found: dict[tuple[Any, Any], tuple[Any, ...]] = {}
    ordered = sorted(wanted)
    for part in chunks(sorted({a for a, _ in ordered})):
        rows = session.execute(select(first, second, *extra).where(first.in_(part)))
        for row in rows:
            key = (row[0], row[1])
            if key in wanted:
                found[key] = tuple(row[2:])
    return found


@dataclass(frozen=True)
class Labels:
    """A text column given as codes into a short list of values (``None``: NULL), so that
    :func:`copy_columns` writes it without a Python string per row."""

    codes: IntArray
    values: Sequence[str | None]


#: microseconds from the Unix epoch to PostgreSQL's (2000-01-01 UTC)
_PG_EPOCH_US = 946_684_800_000_000
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, header extension
_COPY_TRAILER = b"\xff\xff"


def _binary_field(column: Column[Any], data: Any, rows: int) -> tuple[str, Any]:
    """One column's (NumPy big-endian type, values) for binary COPY; a ``None`` type is NULL."""
    if data is None:
        return "", None
    values = np.asarray(data)
    python_type = column.type.python_type
    if values.dtype.kind == "M":  # datetime64, read as UTC
        us = values.astype("datetime64[us]").astype(np.int64) - _PG_EPOCH_US
        return ">i8", np.broadcast_to(us, rows)
    if python_type is bool and values.dtype.kind == "b":
        return "?", np.broadcast_to(values, rows)
    if python_type is int and values.dtype.kind in "iu":
        width = 8 if isinstance(column.type, BigInteger) else 4
        limit = np.iinfo(f"i{width}")
        if values.size and (values.min() < limit.min or values.max() > limit.max):
            raise ValueError(f"column {column.name!r}: a value does not fit in {width} bytes")
        return f">i{width}", np.broadcast_to(values, rows)
    raise TypeError(f"column {column.name!r}: pass integers, booleans, datetime64 or Labels")


def copy_columns(session: Session, target: Table, columns: Mapping[str, Any], *, rows: int) -> None:
    """Append ``rows`` rows given column by column: integer, boolean or ``datetime64`` (UTC)
    arrays, :class:`Labels` for text, a scalar for a column that is the same in every row,
    ``None`` for NULL.

    On PostgreSQL the rows go in one binary ``COPY`` whose buffer NumPy builds: rows sharing
    their text values are laid out as one structured array, so the interpreter does a few
    operations per distinct combination of labels, not per row (a flush of thousands of
    rows then never holds it for long while requests wait). Elsewhere, one multi-row insert
    (:func:`insert_columns`).
    """
    if rows == 0:
        return
    columns = {
        n: Labels(np.zeros((), dtype=np.int64), [v]) if isinstance(v, str) else v
        for n, v in columns.items()
    }
    names = list(columns)
    label_names = [n for n in names if isinstance(columns[n], Labels)]
    fields = {  # checked on every backend
        n: _binary_field(target.c[n], columns[n], rows) for n in names if n not in label_names
    }
    if session.get_bind().dialect.name != "postgresql":
        insert_columns(session, target, _as_python(columns, rows), rows=rows)
        return
    # one group per combination of labels: its rows have the same layout
    group = np.zeros(rows, dtype=np.int64)
    for n in label_names:
        labels = cast(Labels, columns[n])
        group = group * len(labels.values) + np.broadcast_to(labels.codes, rows)
    keys, inverse = np.unique(group, return_inverse=True)
    parts = [_COPY_HEADER]
    for g, key in enumerate(keys.tolist()):
        text: dict[str, bytes | None] = {}
        for n in reversed(label_names):
            labels = cast(Labels, columns[n])
            value = labels.values[key % len(labels.values)]
            text[n] = None if value is None else value.encode()
            key //= len(labels.values)
        layout: list[tuple[str, str]] = [("columns", ">i2")]
        for n in names:
            layout.append((f"{n}_len", ">i4"))
            kind = f"S{len(text[n] or b'')}" if n in text else fields[n][0]
            if (n in text and text[n] is not None) or (n not in text and kind):
                layout.append((n, kind))
        members = np.flatnonzero(inverse == g)
        block = np.empty(len(members), dtype=np.dtype(layout))
        block["columns"] = len(names)
        for n in names:
            if n in text:
                value = text[n]
                block[f"{n}_len"] = -1 if value is None else len(value)
                if value is not None:
                    block[n] = value
            elif fields[n][1] is None:
                block[f"{n}_len"] = -1
            else:
                block[f"{n}_len"] = np.dtype(fields[n][0]).itemsize
                block[n] = fields[n][1][members]
        parts.append(block.tobytes())
    parts.append(_COPY_TRAILER)
    quoted = ", ".join(f'"{n}"' for n in names)
    with (
        driver_cursor(session).raw as cursor,
        cursor.copy(f'COPY "{target.name}" ({quoted}) FROM STDIN (FORMAT BINARY)') as copy,
    ):
        copy.write(b"".join(parts))


def _as_python(columns: Mapping[str, Any], rows: int) -> dict[str, Any]:
    """:func:`copy_columns`' columns as :func:`insert_columns` takes them."""
    out: dict[str, Any] = {}
    for name, data in columns.items():
        if isinstance(data, Labels):
            codes = np.broadcast_to(np.asarray(data.codes), rows).tolist()
            out[name] = [data.values[c] for c in codes]
        elif isinstance(data, np.ndarray) and data.dtype.kind == "M":
            out[name] = [
                t.replace(tzinfo=UTC) for t in data.astype("datetime64[us]").astype(object)
            ]
        else:
            out[name] = data
    return out


def insert_unless_present(target: Table, keys: Sequence[str]) -> dict[str, Any]:
    """Per dialect (SQLite, PostgreSQL): an ``INSERT`` of every column but ``id``, each bound
    by its name, that does nothing when a row with the same ``keys`` exists: how a retry or
    a concurrent caller is kept from writing a thing twice."""
    from sqlalchemy.dialects.postgresql import insert as pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return {
        dialect: insert_fn(target)
        .values({c.key: bindparam(c.key) for c in target.c if c.key != "id"})
        .on_conflict_do_nothing(index_elements=list(keys))
        for dialect, insert_fn in (("sqlite", sqlite_insert), ("postgresql", pg_insert))
    }
