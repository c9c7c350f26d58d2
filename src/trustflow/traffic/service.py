"""The impressions log: written in bulk by feed serving and the simulator."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.orm import Session

from trustflow.errors import InvalidInput
from trustflow.traffic.models import Impression, ItemKind, Surface

MAX_BATCH = 10_000


@dataclass(frozen=True)
class ImpressionRecord:
    surface: Surface
    item_kind: ItemKind
    item_id: int
    shown_at: datetime
    buyer_id: int | None = None
    is_reward: bool = False
    reward_plan: str | None = None
    plan_version: str | None = None


def log_impressions(session: Session, records: Sequence[ImpressionRecord]) -> int:
    """Append impressions in one statement. A reward impression must name its plan."""
    if len(records) > MAX_BATCH:
        raise InvalidInput(f"at most {MAX_BATCH} impressions per batch")
    for record in records:
        if record.is_reward != (record.reward_plan is not None):
            raise InvalidInput("reward impressions name their plan, and only they do")
    if records:
        session.execute(insert(Impression), [record.__dict__ for record in records])
    return len(records)
