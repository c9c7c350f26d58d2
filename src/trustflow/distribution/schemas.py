from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, StrictInt

from trustflow.distribution.service import MAX_COMMISSION_BPS
from trustflow.schemas_base import Shape
from trustflow.types import Id, Instant


class OfferIn(Shape):
    product_id: Id
    commission_bps: Annotated[StrictInt, Field(ge=0, le=MAX_COMMISSION_BPS)]
    valid_from: Instant | None = None
    valid_until: Instant | None = None


class OfferOut(Shape):
    id: int
    product_id: int
    commission_bps: int
    valid_from: datetime
    valid_until: datetime | None
    created_at: datetime


class SelectionIn(Shape):
    creator_id: Id | None = None


class SelectionOut(Shape):
    id: int
    creator_id: int
    offer_id: int
    created_at: datetime
