"""Every failure leaves the API as JSON ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError, OperationalError, StatementError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from trustflow.errors import ErrorCode, TrustflowError

log = logging.getLogger("trustflow.api")

_HTTP_CODES = {
    401: ErrorCode.UNAUTHENTICATED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.INVALID_INPUT,
    409: ErrorCode.CONFLICT,
    422: ErrorCode.INVALID_INPUT,
}


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def _allowed_methods(request: Request) -> list[str]:
    """The methods some route fully matches on this path (included routers too)."""
    return [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL
            for route in request.app.router.routes
        )
    ]


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(TrustflowError)
    async def _domain(_: Request, exc: TrustflowError) -> JSONResponse:
        return JSONResponse(
            error_body(exc.code.value, exc.message, jsonable_encoder(exc.details)),
            status_code=exc.status_code,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type")}
            for e in exc.errors()
        ]
        return JSONResponse(
            error_body(ErrorCode.INVALID_INPUT.value, "the request is invalid", {"errors": errors}),
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, ErrorCode.INVALID_INPUT)
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:
            # Starlette names the methods of the first route that matched the path only; a
            # path served by several routes (GET and POST /shops) allows all of theirs.
            headers = {**(headers or {}), "Allow": ", ".join(_allowed_methods(request))}
        return JSONResponse(
            error_body(code.value, str(exc.detail)),
            status_code=exc.status_code,
            headers=headers,
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        # A bug: logged with its traceback, answered in the one error shape, nothing leaked.
        log.error("unexpected error", exc_info=exc)
        return JSONResponse(
            error_body(ErrorCode.INTERNAL.value, "an unexpected error occurred"),
            status_code=500,
        )

    @app.exception_handler(StatementError)
    async def _statement(request: Request, exc: StatementError) -> JSONResponse:
        # A column type's own check (a time outside the span) refused a value while the
        # statement was built: SQLAlchemy wraps it, the caller gets the domain error.
        if isinstance(exc.orig, TrustflowError):
            return await _domain(request, exc.orig)
        raise exc

    @app.exception_handler(IntegrityError)
    async def _integrity(_: Request, exc: IntegrityError) -> JSONResponse:
        # A constraint the services did not foresee: the store refused it, nothing was written.
        log.warning("integrity error reached the API edge: %s", exc.orig)
        return JSONResponse(
            error_body(ErrorCode.CONFLICT.value, "the store refused this change"),
            status_code=409,
        )

    @app.exception_handler(DataError)
    async def _data(_: Request, exc: DataError) -> JSONResponse:
        # A value the store cannot hold slipped past the API's bounds: refuse it, write nothing.
        log.warning("data error reached the API edge: %s", exc.orig)
        return JSONResponse(
            error_body(ErrorCode.INVALID_INPUT.value, "a value is out of range for the store"),
            status_code=422,
        )

    @app.exception_handler(OperationalError)
    async def _busy(_: Request, exc: OperationalError) -> JSONResponse:
        log.error("database unavailable: %s", exc.orig)
        return JSONResponse(
            error_body(ErrorCode.INTERNAL.value, "the store is busy, retry shortly"),
            status_code=503,
            headers={"Retry-After": "1"},
        )
