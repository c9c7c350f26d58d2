"""Request and response shapes of the governance routes (unknown fields refused, as
everywhere). Identity numbers come in and are never sent back."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import Field, StrictInt

from trustflow.governance.identity import MAX_REASON
from trustflow.governance.models import (
    AuthorisationStatus,
    InterceptionStatus,
    ReportReason,
    ReportStatus,
)
from trustflow.governance.penalties import PenaltyLevel
from trustflow.schemas_base import Shape
from trustflow.types import MAX_FEN, Id, LongText, Name, Title
from trustflow.types import CategoryName as BrandName

#: longer than any ID number or phone written with spaces and a prefix
_RAW_IDENTITY = Annotated[str, Field(min_length=1, max_length=40)]


class MerchantApplicationIn(Shape):
    """A new merchant's application (入驻申请): the business's name and the applicant's
    resident ID number and mobile phone, checked against the identity blocklist and stored
    only as keyed hashes."""

    name: Name
    id_number: _RAW_IDENTITY
    phone: _RAW_IDENTITY


class BanIn(Shape):
    """An operator's ban, with the reason for the record."""

    reason: Annotated[LongText, Field(min_length=1, max_length=MAX_REASON)]


class BanOut(Shape):
    merchant_id: int
    reason: str
    banned_by: str
    banned_at: datetime
    #: the merchant's shops this ban closed
    shops_closed: list[int]


class BrandIn(Shape):
    """A brand an operator adds to the registry, its other names (e.g. its Chinese name) and
    the reference price of its usual goods."""

    name: BrandName
    aliases: Annotated[list[BrandName], Field(max_length=20)] = []
    reference_price_fen: Annotated[StrictInt, Field(ge=1, le=MAX_FEN)] | None = None


class BrandOut(Shape):
    id: int
    name: str
    aliases: list[str]
    reference_price_fen: int | None


class AuthorisationIn(Shape):
    """A shop's brand authorisation: the brand and where its document is."""

    brand_id: Id
    document: Title


class AuthorisationOut(Shape):
    id: int
    shop_id: int
    brand_id: int
    document: str
    status: AuthorisationStatus
    submitted_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None


class ReasonIn(Shape):
    """An operator's decision, with the reason for the record."""

    reason: Annotated[LongText, Field(min_length=1, max_length=MAX_REASON)]


class AppealIn(Shape):
    """A merchant's appeal of an interception: why the listing is sound."""

    text: Annotated[LongText, Field(min_length=1, max_length=1_000)]


class InterceptionOut(Shape):
    id: int
    product_id: int
    shop_id: int
    rule: str
    message: str
    message_zh: str
    status: InterceptionStatus
    appeal: str | None
    decided_by: str | None
    decision_reason: str | None
    at: datetime


class ViolationIn(Shape):
    """An operator's violation record: the rule broken (its points come from the schedule,
    docs/governance.md) and the reason."""

    rule: Annotated[str, Field(min_length=1, max_length=40)]
    reason: Annotated[LongText, Field(min_length=1, max_length=MAX_REASON)]


class ViolationOut(Shape):
    id: int
    shop_id: int
    rule: str
    points: int
    reason: str
    interception_id: int | None
    recorded_by: str
    at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    revoke_reason: str | None


class StandingOut(Shape):
    """A shop's violation points valid now and the penalty level they reach."""

    shop_id: int
    points: int
    level: PenaltyLevel


class ShopViolationsOut(Shape):
    standing: StandingOut
    violations: list[ViolationOut]


class ReportIn(Shape):
    """A buyer's report of a live room: the reason, and what happened in their words."""

    reason: ReportReason
    text: Annotated[LongText, Field(max_length=1_000)] = ""
    #: operators only: the buyer the report is for
    buyer_id: Id | None = None


class ReportOut(Shape):
    id: int
    buyer_id: int
    live_session_id: int
    shop_id: int | None
    creator_id: int | None
    reason: ReportReason
    text: str
    status: ReportStatus
    decided_by: str | None
    decision_reason: str | None
    violation_id: int | None
    at: datetime
    decided_at: datetime | None


class UpholdReportIn(Shape):
    """An operator upholds a report: the violation the room's shop gets (its rule) and why."""

    reason: Annotated[LongText, Field(min_length=1, max_length=MAX_REASON)]
    rule: Annotated[str, Field(min_length=1, max_length=40)] = "live_room_misconduct"


class DailyStatsOut(Shape):
    day: date
    interceptions: int
    violations: int
    applications_refused: int
    reports_filed: int
    reports_handled: int
