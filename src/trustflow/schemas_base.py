"""The base every API shape derives from."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict

T = TypeVar("T")


class Shape(BaseModel):
    model_config = ConfigDict(from_attributes=True, extra="forbid")


class PageOut(BaseModel, Generic[T]):
    items: list[T]
    offset: int
    limit: int
    next_offset: int | None
