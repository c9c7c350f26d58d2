"""The FastAPI application: ``/api/v1`` for the marketplace, OpenAPI at ``/openapi.json``."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import Engine
from starlette.types import Receive, Scope, Send

from trustflow import __version__
from trustflow.api.errors import install_error_handlers
from trustflow.api.fast_feed import FastFeed
from trustflow.api.routers import (
    accounts,
    aftersales,
    analytics,
    catalog,
    content,
    distribution,
    orders,
    scores,
    traffic,
)
from trustflow.db import default_engine, session_factory
from trustflow.web import pages

API_PREFIX = "/api/v1"


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    server = getattr(app.state, "feed_server", None)
    if server is not None:  # write the impressions and pacing counts still buffered
        server.close()


class _App(FastAPI):
    """FastAPI with the feed's fast path in front of its whole middleware stack: a warm
    server's plain feed request is answered before the framework's error, telemetry and
    body-limit layers (each wraps every message sent), everything else goes through them."""

    fast_feed: FastFeed | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.fast_feed is None:
            await super().__call__(scope, receive, send)
        else:
            scope["app"] = self  # as Starlette sets it, for the fast path's request.app
            await self.fast_feed(scope, receive, send)


def create_app(engine: Engine | None = None) -> FastAPI:
    app = _App(
        lifespan=_lifespan,
        title="trustflow",
        version=__version__,
        description="A trust-driven live-commerce marketplace engine.",
    )
    app.state.session_factory = session_factory(engine or default_engine())
    install_error_handlers(app)

    @app.get(f"{API_PREFIX}/health", tags=["meta"])
    async def health() -> dict[str, str]:
        """Liveness: the framework's cheapest answer (matched first, no thread pool)."""
        return {"status": "ok"}

    for module in (
        traffic,  # first: the feed is the hottest route, and routes are matched in order
        accounts,
        catalog,
        distribution,
        content,
        orders,
        aftersales,
        analytics,
        scores,
    ):
        app.include_router(module.router, prefix=API_PREFIX)
    app.include_router(pages.router)
    # a warm server's plain feed requests, before anything else
    app.fast_feed = FastFeed(
        functools.partial(FastAPI.__call__, app), path=API_PREFIX + traffic.FEED_ROUTE
    )
    return app
