"""Bounded input types shared by every API shape: nothing unbounded reaches the store.

Numbers in a body are strict: money and counts are JSON integers, never ``"1"``, ``1.0`` or
``true`` (a client that sends a string or a float has a bug worth hearing about, and a
coerced amount is an amount nobody wrote). Path and query parameters are strings on the wire
and stay parsed from them.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from pydantic import AfterValidator, Field, StrictInt, StringConstraints
from pydantic_core import PydanticCustomError

from trustflow import names

MAX_ID = 2**53
MAX_FEN = 10**12
MAX_NAME = 120


def _no_control_chars(value: str) -> str:
    if any(ord(ch) < 32 and ch not in "\t\n\r" for ch in value):
        raise ValueError("control characters are not allowed")
    return value


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


Name = Annotated[str, StringConstraints(min_length=1, max_length=MAX_NAME), _readable(MAX_NAME)]
"""A name people read (shop, creator, merchant, buyer, key label): NFKC, trimmed, with no
bidi control, zero-width, control or format character (see :mod:`trustflow.names`)."""
Title = Annotated[str, StringConstraints(min_length=1, max_length=200), _readable(200)]
"""A product's title: a name, as :data:`Name`."""
CategoryName = Annotated[str, StringConstraints(min_length=1, max_length=80), _readable(80)]
Brand = Annotated[str, StringConstraints(max_length=80), _readable(80, optional=True)]
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
