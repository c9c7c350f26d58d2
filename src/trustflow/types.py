"""Pure types below every context: the span of time trustflow accepts, the largest id, and the
bounded input types every API shape is built of (nothing unbounded reaches the store).

Every time that comes from outside (an API body or query, a CLI option) and every time the
store writes lies in ``[EARLIEST, LATEST)``, in UTC. Times at the edge of what Python can hold
(year 1 with an offset, year 9999) would overflow the first subtraction or zone conversion;
inside this span every window arithmetic the services do (30 days back, a week ahead) stays
representable. A time outside it is refused with the stable code ``time_out_of_range``.

Numbers in a body are strict: money and counts are JSON integers, never ``"1"``, ``1.0`` or
``true`` (a client that sends a string or a float has a bug worth hearing about, and a
coerced amount is an amount nobody wrote). FastAPI's path and query parameters, strings on the
wire parsed from them, are :mod:`trustflow.api.params`.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, Field, StrictInt, StringConstraints
from pydantic_core import PydanticCustomError

from trustflow import names
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

MAX_FEN = 10**12
MAX_NAME = 120


#: the longest reason an operator or a merchant gives for a decision
MAX_REASON = 500


def stated_reason(text: str, what: str, *, most: int = MAX_REASON) -> str:
    """``text`` trimmed, when it is 1..``most`` characters with no control character; else
    ``invalid_input``: "{what} needs a reason of 1..{most} characters". Every decision that
    must give its reason (an operator's review, a ban, a violation …) checks it here."""
    text = text.strip()
    if not 1 <= len(text) <= most or any(unicodedata.category(ch) == "Cc" for ch in text):
        raise InvalidInput(f"{what} needs a reason of 1..{most} characters, no control characters")
    return text


def _no_control_chars(value: str) -> str:
    if any(ord(ch) < 32 and ch not in "\t\n\r" for ch in value):
        raise ValueError("control characters are not allowed")
    return value


def _refused_in_the_bmp() -> str:
    """A regex class body of the characters a name refuses, for the schema: ranges of
    :data:`trustflow.names.REFUSED_CATEGORIES` in the Basic Multilingual Plane (what JSON
    Schema's regex dialect can name; the few refused beyond it are refused all the same)."""
    ranges: list[tuple[int, int]] = []
    for code in range(0x10000):
        category = unicodedata.category(chr(code))
        if category not in names.REFUSED_CATEGORIES or category == "Cs":
            continue  # a surrogate in a JSON Schema regex would refuse every emoji
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1] = (ranges[-1][0], code)
        else:
            ranges.append((code, code))
    return "".join(f"\\u{a:04x}" if a == b else f"\\u{a:04x}-\\u{b:04x}" for a, b in ranges)


_REFUSED = _refused_in_the_bmp()
#: What the schema tells clients (and the fuzzer) a name looks like: something to read,
#: nothing invisible. The server's own check (``_readable``) is the authority.
_NAME_PATTERN = f"^[^{_REFUSED}]*[^\\s{_REFUSED}][^{_REFUSED}]*$"


def _readable(max_length: int, *, optional: bool = False) -> AfterValidator:
    """The check of a name people read (:func:`trustflow.names.normalise_name`), answering
    each refusal with its own error type (``name_bidi_control``, ``name_zero_width`` …).
    ``optional``: the empty string stays allowed (no brand)."""

    def check(value: str) -> str:
        if optional and not value:
            return value
        try:
            name = names.normalise_name(value)
        except names.NameRefused as exc:
            raise PydanticCustomError(exc.reason, exc.message) from None
        if len(name) > max_length:  # NFKC may lengthen a name (a ligature, several letters)
            raise PydanticCustomError(
                "name_too_long", "the name is longer than {max} characters", {"max": max_length}
            )
        return name

    return AfterValidator(check)


_NAME_SCHEMA = Field(json_schema_extra={"pattern": _NAME_PATTERN})
_OPTIONAL_NAME_SCHEMA = Field(json_schema_extra={"pattern": f"^$|{_NAME_PATTERN}"})

Name = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_NAME),
    _readable(MAX_NAME),
    _NAME_SCHEMA,
]
"""A name people read (shop, creator, merchant, buyer, key label): NFKC, trimmed, with no
bidi control, zero-width, control or format character (see :mod:`trustflow.names`)."""
Title = Annotated[
    str, StringConstraints(min_length=1, max_length=200), _readable(200), _NAME_SCHEMA
]
"""A product's title: a name, as :data:`Name`."""
CategoryName = Annotated[
    str, StringConstraints(min_length=1, max_length=80), _readable(80), _NAME_SCHEMA
]
Brand = Annotated[
    str,
    StringConstraints(max_length=80),
    _readable(80, optional=True),
    _OPTIONAL_NAME_SCHEMA,
]
Label = Annotated[str, StringConstraints(max_length=40), AfterValidator(_no_control_chars)]
ShortText = Annotated[str, StringConstraints(max_length=120), AfterValidator(_no_control_chars)]
LongText = Annotated[str, StringConstraints(max_length=2000), AfterValidator(_no_control_chars)]
Statement = Annotated[
    str,
    StringConstraints(min_length=1, max_length=2000, strip_whitespace=True),
    AfterValidator(_no_control_chars),
]
Code = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_\-]{1,40}$")]
#: a delivery region's code (a province's or a city's, as the platform numbers them); ``*``
#: stands for every region a shop names no transit time for
RegionCode = Annotated[str, StringConstraints(pattern=r"^(\*|[A-Za-z0-9_\-]{1,32})$")]
Tag = Annotated[
    str, StringConstraints(min_length=1, max_length=40), AfterValidator(_no_control_chars)
]
IdempotencyKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_\-:.]{1,80}$")]

Id = Annotated[StrictInt, Field(ge=1, le=MAX_ID)]
"""An id in a body: a JSON integer."""
Fen = Annotated[StrictInt, Field(ge=0, le=MAX_FEN)]
"""An amount of money in a body, in integer fen: a JSON integer."""
