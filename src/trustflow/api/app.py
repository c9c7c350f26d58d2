"""The FastAPI application: ``/api/v1`` for the marketplace, OpenAPI at ``/openapi.json``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import Engine

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


def create_app(engine: Engine | None = None) -> FastAPI:
    app = FastAPI(
        lifespan=_lifespan,
        title="trustflow",
        version=__version__,
        description="A trust-driven live-commerce marketplace engine.",
    )
    app.state.session_factory = session_factory(engine or default_engine())
    install_error_handlers(app)
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
    # a warm server's plain feed requests, before routing
    app.add_middleware(FastFeed, path=API_PREFIX + traffic.FEED_ROUTE)

    @app.get(f"{API_PREFIX}/health", tags=["meta"])
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
