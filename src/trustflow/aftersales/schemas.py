from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, StrictInt

from trustflow.aftersales.models import (
    ActorRole,
    AfterSalesKind,
    AfterSalesReason,
    AfterSalesStatus,
    DisputeOutcome,
    ResponsibleParty,
)
from trustflow.aftersales.service import MAX_TAGS
from trustflow.orders.rules import MAX_QUANTITY
from trustflow.schemas_base import Shape
from trustflow.types import Fen, Id, LongText, Tag


class AfterSalesIn(Shape):
    """A request about one line of the order (``line_id``; may be left out when the order has
    one line), for ``quantity`` of its units (all of them if left out). ``refund_fen``: less
    than the units cost, if the buyer asks for less."""

    kind: AfterSalesKind
    reason: AfterSalesReason
    line_id: Id | None = None
    quantity: Annotated[StrictInt, Field(ge=1, le=MAX_QUANTITY)] | None = None
    refund_fen: Fen | None = None
    note: LongText = ""


class RejectIn(Shape):
    note: LongText = ""


class ArbitrateIn(Shape):
    outcome: DisputeOutcome
    responsible_party: ResponsibleParty


class AfterSalesOut(Shape):
    id: int
    order_id: int
    line_id: int | None
    quantity: int | None
    shop_id: int
    buyer_id: int
    kind: AfterSalesKind
    reason: AfterSalesReason
    responsible_party: ResponsibleParty
    status: AfterSalesStatus
    refund_fen: int
    note: str
    dispute_outcome: DisputeOutcome | None
    created_at: datetime
    handled_at: datetime | None
    resolved_at: datetime | None


class AfterSalesEventOut(Shape):
    action: str
    from_status: AfterSalesStatus | None
    to_status: AfterSalesStatus
    actor_role: ActorRole
    actor_id: int | None
    at: datetime


class ReviewIn(Shape):
    """A review of one line of the order (``line_id``; may be left out when it has one)."""

    stars: Annotated[StrictInt, Field(ge=1, le=5)]
    line_id: Id | None = None
    text: LongText = ""
    tags: Annotated[list[Tag], Field(max_length=MAX_TAGS)] = []


class ReviewOut(Shape):
    id: int
    order_id: int
    line_id: int
    product_id: int
    shop_id: int
    creator_id: int | None
    stars: int
    text: str
    tags: list[str]
    created_at: datetime


class ChatIn(Shape):
    shop_id: Id
    order_id: Id | None = None
    buyer_id: Id | None = None


class ChatOut(Shape):
    id: int
    buyer_id: int
    shop_id: int
    order_id: int | None
    first_message_at: datetime
    first_response_at: datetime | None
    first_response_seconds: int | None


class GuaranteeOut(Shape):
    """One guarantee on an order line (docs/guarantees.md): whether the buyer may have it,
    because …, and what it pays when it pays something."""

    rule: str
    eligible: bool
    reason: str
    reason_zh: str
    amount_fen: int | None
