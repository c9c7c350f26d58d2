"""The FastAPI application: ``/api/v1`` for the marketplace, OpenAPI at ``/openapi.json``."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI
from sqlalchemy import Engine
from starlette.types import ASGIApp, Receive, Scope, Send

from trustflow import __version__
from trustflow.api import docs
from trustflow.api.errors import install_error_handlers
from trustflow.api.fast_feed import FastFeed
from trustflow.api.limits import BodyLimit, RateLimit
from trustflow.api.routers import (
    accounts,
    aftersales,
    analytics,
    campaigns,
    catalog,
    content,
    distribution,
    governance,
    orders,
    scores,
    traffic,
)
from trustflow.api.strict_json import StrictJsonBodies
from trustflow.config import Settings, get_settings
from trustflow.db import default_engine, session_factory
from trustflow.orders.attribution import TokenSigner
from trustflow.traffic.serving.server import FeedServer
from trustflow.web import pages

API_PREFIX = "/api/v1"
HEALTH_ROUTE = f"{API_PREFIX}/health"


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    app.state.feed_server.close()  # write the impressions and pacing counts still buffered


class _App(FastAPI):
    """FastAPI behind its own ASGI edge (``create_app`` builds it): pure ASGI layers in front
    of the framework's whole middleware stack, so a warm server's plain feed request is
    answered before the framework's error and telemetry layers (each wraps every message
    sent), and an oversized or over-rate request is refused before anything reads it."""

    edge: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.edge is None:
            await super().__call__(scope, receive, send)
        else:
            scope["app"] = self  # as Starlette sets it, for the fast path's request.app
            await self.edge(scope, receive, send)


def create_app(engine: Engine | None = None, settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = _App(
        lifespan=_lifespan,
        title="trustflow",
        version=__version__,
        description="A trust-driven live-commerce marketplace engine.",
        docs_url=None,  # served offline by trustflow.api.docs
        redoc_url=None,
    )
    app.state.session_factory = session_factory(engine or default_engine())
    #: signs the attribution tokens feed items, rooms and shop pages hand out
    app.state.token_signer = TokenSigner(
        settings.secret_bytes(), lifetime=timedelta(minutes=settings.attribution_token_minutes)
    )
    # one per worker; it reads the store only when refreshed, so building it reads nothing
    app.state.feed_server = FeedServer(
        app.state.session_factory,
        flush_seconds=settings.traffic_flush_seconds,
        freeze_gc=True,
        signer=app.state.token_signer,
    )
    install_error_handlers(app)
    app.add_middleware(StrictJsonBodies)  # a JSON body that repeats a key: 422, before routing

    @app.get(HEALTH_ROUTE, tags=["meta"])
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
        campaigns,
        aftersales,
        governance,
        analytics,
        scores,
    ):
        app.include_router(module.router, prefix=API_PREFIX)
    app.include_router(pages.router)
    app.include_router(docs.router)
    # The ASGI edge, outermost first: every body is held to its limit; a warm server's plain
    # feed request is answered next; the rest are counted against their key or address, and
    # routed. A layer added here wraps the ones after it.
    feed_path = API_PREFIX + traffic.FEED_ROUTE
    framework: ASGIApp = functools.partial(FastAPI.__call__, app)
    rate_limit = RateLimit(
        framework, settings=settings, unmetered={HEALTH_ROUTE}, key_exempt={feed_path}
    )
    app.state.rate_limit = rate_limit
    fast_feed = FastFeed(rate_limit, path=feed_path)
    app.edge = BodyLimit(fast_feed, max_bytes=settings.max_body_bytes)
    return app
