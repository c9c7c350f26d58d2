"""Bounded input types shared by every API shape: nothing unbounded reaches the store."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from pydantic import AfterValidator, Field, StringConstraints

MAX_ID = 2**53
MAX_FEN = 10**12


def _no_control_chars(value: str) -> str:
    if any(ord(ch) < 32 and ch not in "\t\n\r" for ch in value):
        raise ValueError("control characters are not allowed")
    return value


Name = Annotated[
    str,
    StringConstraints(min_length=1, max_length=120, strip_whitespace=True),
    AfterValidator(_no_control_chars),
]
Title = Annotated[
    str, StringConstraints(min_length=1, max_length=200), AfterValidator(_no_control_chars)
]
Label = Annotated[str, StringConstraints(max_length=40), AfterValidator(_no_control_chars)]
CategoryName = Annotated[
    str, StringConstraints(min_length=1, max_length=80), AfterValidator(_no_control_chars)
]
Brand = Annotated[str, StringConstraints(max_length=80), AfterValidator(_no_control_chars)]
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

Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Fen = Annotated[int, Field(ge=0, le=MAX_FEN)]
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
IdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]
Limit = Annotated[int, Query(ge=1, le=200)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]
