from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import Field, StrictBool, StrictInt

from trustflow.schemas_base import Shape
from trustflow.traffic.plan.models import CandidateKind, PlanStatus
from trustflow.types import Id, Instant, Label
from trustflow.vocabulary import ItemKind, Surface

PlanName = Annotated[str, Field(pattern=r"^[a-z0-9_\-]{1,40}$")]


class ImpressionIn(Shape):
    surface: Surface
    item_kind: ItemKind
    item_id: Id
    shown_at: Instant
    buyer_id: Id | None = None
    count: Annotated[StrictInt, Field(ge=1, le=10**9)] = 1
    is_reward: StrictBool = False
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


class FeedItemOut(Shape):
    item_kind: ItemKind
    item_id: int
    candidate_kind: CandidateKind
    entity_id: int
    shop_id: int | None
    #: the plan's score: expected GMV of one impression × trust + the plan's potential (fen)
    score: float
    #: a reward impression (Chuanliu) counted against the owner's promise
    reward: bool
    #: hand it back with an order of this item (``POST /orders``): it vouches, for this buyer
    #: and until it expires, for the channel, surface, host and content the item was shown as
    attribution_token: str | None


class FeedOut(Shape):
    plan_version: str
    surface: Surface
    user_id: int
    segment: int
    #: the plan's price of one impression in this surface, hour and segment (fen)
    price: float
    items: list[FeedItemOut]


class PlanOut(Shape):
    id: int
    version: str
    plan_day: date
    status: PlanStatus
    solver: str
    segments: int
    candidates: int
    nodes: int
    objective_fen: int
    max_shortfall: float
    solve_seconds: float
    created_at: datetime
    activated_at: datetime | None
