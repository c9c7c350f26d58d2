"""Offset pagination without counting the table: one extra row tells if more exist."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select
from sqlalchemy.orm import Session

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    offset: int
    limit: int
    next_offset: int | None


def paginate(session: Session, stmt: Select[Any], *, limit: int, offset: int) -> Page[Any]:
    rows = list(session.scalars(stmt.limit(limit + 1).offset(offset)))
    more = len(rows) > limit
    return Page(
        items=rows[:limit],
        offset=offset,
        limit=limit,
        next_offset=offset + limit if more else None,
    )
