"""Helpers for set-based actions: chunked look-ups and multi-row inserts returning ids.

The bulk paths of each context (``<context>/bulk.py``) apply the same rules as the one-at-a-time
services, checked per batch, so simulators and imports can move millions of rows while the
store's invariants still hold.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, cast

import numpy as np
import numpy.typing as npt
from sqlalchemy import Column, Select, Table, insert, select
from sqlalchemy.orm import Session

#: Keep IN-lists under SQLite's default host-parameter limit, with room for other parameters.
CHUNK = 900

IntArray = npt.NDArray[np.int64]


def table(model: Any) -> Table:
    return cast(Table, model.__table__)


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
    """Rows of ``stmt`` for these ids, fetched in chunks (ordered by id, so locks never cross)."""
    unique = sorted(set(np.asarray(ids, dtype=np.int64).tolist()))
    rows: list[Any] = []
    for part in chunks(unique):
        chunk_stmt = stmt.where(id_column.in_(part)).order_by(id_column)
        if for_update and session.get_bind().dialect.name == "postgresql":
            chunk_stmt = chunk_stmt.with_for_update()
        rows.extend(session.execute(chunk_stmt).all())
    return rows


def insert_returning_ids(
    session: Session, target: Table, rows: Sequence[Mapping[str, Any]]
) -> IntArray:
    """Insert many rows in as few statements as the driver allows; ids come back in row order."""
    if not rows:
        return np.zeros(0, dtype=np.int64)
    stmt = insert(target).returning(target.c.id, sort_by_parameter_order=True)
    ids = session.execute(stmt, list(rows)).scalars().all()
    return np.asarray(ids, dtype=np.int64)


def insert_many(session: Session, target: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    if rows:
        session.execute(insert(target), list(rows))


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
