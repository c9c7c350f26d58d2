"""The impressions log: written in bulk by feed serving and the simulator."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import insert
from sqlalchemy.orm import Session

from trustflow.accounts.models import Buyer
from trustflow.bulk import insert_columns, require_all_exist, table
from trustflow.errors import InvalidInput
from trustflow.traffic.models import Impression
from trustflow.vocabulary import ItemKind, Surface

__all__ = [
    "ImpressionRecord",
    "log_impression_counts",
    "log_impressions",
]

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
    """Append impressions in one statement. A reward impression must name its plan, and a
    viewer must be a buyer (checked here: the log has no foreign key)."""
    if len(records) > MAX_BATCH:
        raise InvalidInput(f"at most {MAX_BATCH} rows per batch")
    for record in records:
        if record.is_reward != (record.reward_plan is not None):
            raise InvalidInput("reward impressions name their plan, and only they do")
        if not 1 <= record.count <= MAX_COUNT:
            raise InvalidInput(f"count must be in 1..{MAX_COUNT}")
    viewers = [r.buyer_id for r in records if r.buyer_id is not None]
    if viewers:
        require_all_exist(session, table(Buyer), viewers, "buyer")
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
    counts = np.asarray(count, dtype=np.int64)
    if (counts < 1).any() or (counts > MAX_COUNT).any():
        raise InvalidInput(f"count must be in 1..{MAX_COUNT}")
    plans = list(reward_plan) if reward_plan is not None else None
    insert_columns(
        session,
        table(Impression),
        {
            "surface": list(surface),
            "item_kind": list(item_kind),
            "item_id": np.asarray(item_id, dtype=np.int64),
            "buyer_id": None,
            "shown_at": shown_at,
            "count": counts,
            "is_reward": [p is not None for p in plans] if plans is not None else False,
            "reward_plan": plans,
            "plan_version": plan_version,
        },
        rows=len(counts),
    )
    return int(counts.sum())
