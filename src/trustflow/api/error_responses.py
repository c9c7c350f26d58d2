"""The error answers every ``/api/v1`` route may give, as the OpenAPI document states them.

Every failure leaves the API as one JSON shape, ``{"error": {"code", "message", "details"}}``
(:mod:`trustflow.api.errors`); without these entries the document named only FastAPI's own
``{"detail": [...]}`` for 422, and no status a client meets daily (401, 403, 404, 409).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

__all__ = ["ERROR_RESPONSES", "ErrorOut"]


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: dict[str, Any]


class ErrorOut(BaseModel):
    """A refusal: clients branch on ``error.code``, never on the message."""

    error: ErrorDetail


def _error(description: str, **extra: Any) -> dict[str, Any]:
    return {"model": ErrorOut, "description": description, **extra}


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _error("The body could not be read as JSON"),
    401: _error("No key, or an unknown or revoked key (`unauthenticated`)"),
    403: _error("The key's role or owner may not do this (`forbidden`)"),
    404: _error("Not found, or not visible to this key (`not_found`)"),
    409: _error("Valid, but the current state refuses it (`conflict`, `out_of_stock`, …)"),
    413: _error("The request body is larger than the API accepts"),
    422: _error("The request itself is wrong (`invalid_input`)"),
    429: _error(
        "Too many requests for this key: retry after the given number of seconds",
        headers={
            "Retry-After": {
                "description": "Seconds to wait before the next request",
                "schema": {"type": "integer"},
            }
        },
    ),
}
