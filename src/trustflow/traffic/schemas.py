from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, Field

from trustflow.api.types import Id, Label
from trustflow.schemas_base import Shape
from trustflow.traffic.models import ItemKind, Surface

PlanName = Annotated[str, Field(pattern=r"^[a-z0-9_\-]{1,40}$")]


class ImpressionIn(Shape):
    surface: Surface
    item_kind: ItemKind
    item_id: Id
    shown_at: AwareDatetime
    buyer_id: Id | None = None
    count: Annotated[int, Field(ge=1, le=10**9)] = 1
    is_reward: bool = False
    reward_plan: PlanName | None = None
    plan_version: Label | None = None


class ImpressionBatchIn(Shape):
    impressions: Annotated[list[ImpressionIn], Field(min_length=1, max_length=10_000)]


class ImpressionBatchOut(Shape):
    logged: int


class ImpressionOut(Shape):
    id: int
    surface: Surface
    item_kind: ItemKind
    item_id: int
    buyer_id: int | None
    shown_at: datetime
    count: int
    is_reward: bool
    reward_plan: str | None
    plan_version: str | None
