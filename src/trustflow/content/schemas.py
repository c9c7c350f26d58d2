from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field

from trustflow.content.models import LiveStatus
from trustflow.content.rules import MAX_LINKED_PRODUCTS
from trustflow.schemas_base import Shape
from trustflow.types import Id, Instant, ShortText

ProductIds = Annotated[list[Id], Field(max_length=MAX_LINKED_PRODUCTS)]


class LiveIn(Shape):
    creator_id: Id | None = None
    shop_id: Id | None = None
    title: ShortText = ""
    product_ids: ProductIds = []
    scheduled_at: Instant | None = None


class LiveOut(Shape):
    id: int
    creator_id: int | None
    shop_id: int | None
    title: str
    status: LiveStatus
    scheduled_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    product_ids: list[int] = []


class VideoIn(Shape):
    creator_id: Id | None = None
    shop_id: Id | None = None
    title: ShortText = ""
    product_ids: ProductIds = []
    clipped_from_live_id: Id | None = None


class VideoOut(Shape):
    id: int
    creator_id: int | None
    shop_id: int | None
    title: str
    clipped_from_live_id: int | None
    posted_at: datetime
    product_ids: list[int] = []
