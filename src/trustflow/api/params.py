"""FastAPI's path and query parameters: strings on the wire, parsed from them and bounded.

The bounded types of request bodies are :mod:`trustflow.types`, below every context.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Header, Path, Query

from trustflow.types import MAX_ID, IdempotencyKey

IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
IdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]
Limit = Annotated[int, Query(ge=1, le=200)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]
IdempotencyHeader = Annotated[
    IdempotencyKey,
    Header(
        alias="Idempotency-Key",
        description="A unique string per intended action; a retry returns the first result.",
    ),
]
OptionalIdempotencyHeader = Annotated[
    IdempotencyKey | None,
    Header(
        alias="Idempotency-Key",
        description="Optional: a unique string per intended action; a retry with it returns"
        " the first result instead of making a second.",
    ),
]
