"""Pure types below every context: the span of time trustflow accepts, the largest id.

Every time that comes from outside (an API body or query, a CLI option) and every time the
store writes lies in ``[EARLIEST, LATEST)``, in UTC. Times at the edge of what Python can hold
(year 1 with an offset, year 9999) would overflow the first subtraction or zone conversion;
inside this span every window arithmetic the services do (30 days back, a week ahead) stays
representable. A time outside it is refused with the stable code ``time_out_of_range``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, Field
from pydantic_core import PydanticCustomError

from trustflow.errors import ErrorCode, InvalidInput

MAX_ID = 2**53
"""The largest id any edge accepts: exact in a JSON number, and in every store's integer."""

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
"""The first instant trustflow accepts (inclusive)."""
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
"""The first instant after the accepted span (exclusive)."""
FIRST_DAY = EARLIEST.date()
LAST_DAY = (LATEST - timedelta(days=1)).date()

RANGE_TEXT = f"from {EARLIEST.isoformat()} (inclusive) to {LATEST.isoformat()} (exclusive)"
_RANGE_DETAILS = {"earliest": EARLIEST.isoformat(), "latest": LATEST.isoformat()}


def out_of_range(what: str, value: date) -> InvalidInput:
    """The refusal of a time or day outside the accepted span, naming the span."""
    span = RANGE_TEXT if isinstance(value, datetime) else f"a day from {FIRST_DAY} to {LAST_DAY}"
    return InvalidInput(
        f"{what} must be {span}, got {value.isoformat()}",
        code=ErrorCode.TIME_OUT_OF_RANGE,
        **_RANGE_DETAILS,
    )


def in_range(value: datetime) -> bool:
    """Whether an aware ``value`` lies in the accepted span. Aware comparisons never overflow,
    whatever the offset, so this is safe on any aware datetime and cheap enough per row."""
    return EARLIEST <= value < LATEST


def utc_instant(value: datetime, what: str = "time") -> datetime:
    """``value`` in UTC, refused as :class:`InvalidInput` (``time_out_of_range``) outside the
    accepted span, or (``invalid_input``) without a time zone."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(f"{what} needs a time zone, e.g. 2026-03-01T00:00:00+00:00")
    if not in_range(value):
        raise out_of_range(what, value)
    return value.astimezone(UTC)


def check_day(value: date, what: str = "day") -> date:
    """``value`` if it is a day of the accepted span, else ``time_out_of_range``."""
    if isinstance(value, datetime):
        raise InvalidInput(f"{what} is a date, not a datetime")
    if not FIRST_DAY <= value <= LAST_DAY:
        raise out_of_range(what, value)
    return value


def _instant(value: datetime) -> datetime:
    if not in_range(value):
        raise PydanticCustomError(
            "time_out_of_range",
            "the time must be {range}",
            {"range": RANGE_TEXT, **_RANGE_DETAILS},
        )
    return value.astimezone(UTC)


Instant = Annotated[
    AwareDatetime,
    AfterValidator(_instant),
    Field(description=f"An ISO 8601 time with a zone, {RANGE_TEXT}; answered in UTC."),
]
"""A time from outside: timezone-aware, converted to UTC, within ``[EARLIEST, LATEST)``."""
