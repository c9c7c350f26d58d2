"""The impressions log: written in bulk by feed serving and the simulator."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from trustflow.errors import InvalidInput
from trustflow.traffic.models import Impression, ItemKind, Surface

MAX_BATCH = 10_000
MAX_COUNT = 10**9


@dataclass(frozen=True)
class ImpressionRecord:
    surface: Surface
    item_kind: ItemKind
    item_id: int
    shown_at: datetime
    buyer_id: int | None = None
    count: int = 1
    is_reward: bool = False
    reward_plan: str | None = None
    plan_version: str | None = None


def log_impressions(session: Session, records: Sequence[ImpressionRecord]) -> int:
    """Append impressions in one statement. A reward impression must name its plan."""
    if len(records) > MAX_BATCH:
        raise InvalidInput(f"at most {MAX_BATCH} rows per batch")
    for record in records:
        if record.is_reward != (record.reward_plan is not None):
            raise InvalidInput("reward impressions name their plan, and only they do")
        if not 1 <= record.count <= MAX_COUNT:
            raise InvalidInput(f"count must be in 1..{MAX_COUNT}")
    if records:
        session.execute(insert(Impression), [record.__dict__ for record in records])
    return len(records)


def log_impression_counts(
    session: Session,
    surface: Sequence[Surface],
    item_kind: Sequence[ItemKind],
    item_id: Sequence[int],
    count: Sequence[int],
    *,
    shown_at: datetime,
    reward_plan: Sequence[str | None] | None = None,
    plan_version: str | None = None,
) -> int:
    """Bulk path for simulators and replays: counted impressions, no viewer, any batch size."""
    plans = reward_plan if reward_plan is not None else [None] * len(item_id)
    rows: list[dict[str, Any]] = [
        {
            "surface": s,
            "item_kind": k,
            "item_id": int(i),
            "buyer_id": None,
            "shown_at": shown_at,
            "count": int(c),
            "is_reward": p is not None,
            "reward_plan": p,
            "plan_version": plan_version,
        }
        for s, k, i, c, p in zip(surface, item_kind, item_id, count, plans, strict=True)
        if c > 0
    ]
    if any(r["count"] > MAX_COUNT for r in rows):
        raise InvalidInput(f"count must be in 1..{MAX_COUNT}")
    if rows:
        session.execute(insert(Impression), rows)
    return sum(r["count"] for r in rows)
