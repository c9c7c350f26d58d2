"""Bounded input types shared by every API shape: nothing unbounded reaches the store.

Numbers in a body are strict: money and counts are JSON integers, never ``"1"``, ``1.0`` or
``true`` (a client that sends a string or a float has a bug worth hearing about, and a
coerced amount is an amount nobody wrote). Path and query parameters are strings on the wire
and stay parsed from them.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated

from fastapi import Path, Query
from pydantic import AfterValidator, Field, StrictInt, StringConstraints
from pydantic_core import PydanticCustomError

from trustflow import names
from trustflow.types import MAX_ID

MAX_FEN = 10**12
MAX_NAME = 120


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
Tag = Annotated[
    str, StringConstraints(min_length=1, max_length=40), AfterValidator(_no_control_chars)
]
IdempotencyKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_\-:.]{1,80}$")]

Id = Annotated[StrictInt, Field(ge=1, le=MAX_ID)]
"""An id in a body: a JSON integer."""
Fen = Annotated[StrictInt, Field(ge=0, le=MAX_FEN)]
"""An amount of money in a body, in integer fen: a JSON integer."""
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
IdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]
Limit = Annotated[int, Query(ge=1, le=200)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]
