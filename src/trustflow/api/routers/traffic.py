"""The impressions log, the active traffic plan, and feed serving."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from trustflow.accounts import access
from trustflow.accounts.models import Role
from trustflow.api.deps import CachedPrincipalDep, PrincipalDep, SessionDep
from trustflow.api.error_responses import ERROR_RESPONSES
from trustflow.api.params import Limit, Offset
from trustflow.errors import Forbidden, NotFound
from trustflow.pagination import paginate
from trustflow.schemas_base import PageOut
from trustflow.traffic import access as traffic_access
from trustflow.traffic import service as traffic_service
from trustflow.traffic.models import Impression
from trustflow.traffic.plan import service as traffic_plan
from trustflow.traffic.schemas import (
    FeedOut,
    ImpressionBatchIn,
    ImpressionBatchOut,
    ImpressionOut,
    PlanOut,
)
from trustflow.traffic.serving.server import MAX_ITEMS, FeedServer
from trustflow.vocabulary import Surface

router = APIRouter(tags=["traffic"], responses=ERROR_RESPONSES)
#: the feed's path under the API prefix, and the largest user id a feed request may name
FEED_ROUTE = "/feed"
MAX_USER_ID = 2**62
#: the feed's answer is JSON (``FeedOut``), written by the feed server itself
FEED_MEDIA_TYPE = "application/json"


@router.post("/impressions", response_model=ImpressionBatchOut, status_code=status.HTTP_201_CREATED)
def log_impressions(
    body: ImpressionBatchIn, session: SessionDep, principal: PrincipalDep
) -> ImpressionBatchOut:
    """Append served impressions (operators: the feed servers and replays)."""
    access.require_operator(principal)
    logged = traffic_service.log_impressions(
        session, [traffic_service.ImpressionRecord(**i.model_dump()) for i in body.impressions]
    )
    session.commit()
    return ImpressionBatchOut(logged=logged)


@router.get("/impressions", response_model=PageOut[ImpressionOut])
def list_impressions(
    session: SessionDep,
    principal: PrincipalDep,
    surface: Surface | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> object:
    access.require_operator(principal)
    stmt = select(Impression).order_by(Impression.id.desc())
    if surface is not None:
        stmt = stmt.where(Impression.surface == surface)
    return paginate(session, stmt, limit=limit, offset=offset)


@router.get(FEED_ROUTE, response_model=FeedOut)
async def feed(
    request: Request,
    principal: CachedPrincipalDep,
    user_id: Annotated[int, Query(ge=1, le=MAX_USER_ID)],
    surface: Surface,
    n: Annotated[int, Query(ge=1, le=MAX_ITEMS)] = 10,
) -> Response:
    """What ``user_id`` sees on ``surface`` now: live rooms (the follow page: rooms the user
    follows that are live) or product cards, drawn under the active traffic plan and paced.
    Buyers ask for their own feed; operators (feed front ends) for anyone's.

    The hot path. Once the process's feed server holds what a request needs, the answer is
    pure computation on memory (``serve_json``) and runs on the event loop. A request that
    needs the store first (a cold server, an unknown buyer id: ``needs_store``), or a server
    that flushes within the request (``flush_seconds`` 0), runs in the thread pool on a
    session of its own: ``refresh``, then ``serve_json``, then ``flush``. The answer is
    written directly (its shape is ``FeedOut``). A warm server's plain requests are answered
    the same way before routing (:mod:`trustflow.api.fast_feed`); this route defines the feed
    and answers every other request."""
    if not traffic_access.may_read_feed(principal, user_id):
        raise Forbidden("a buyer may only fetch their own feed")
    server: FeedServer = request.app.state.feed_server  # built with the app (create_app)
    inline = server.flush_seconds <= 0
    if inline or server.needs_store(user_id, surface):
        factory: sessionmaker[Session] = request.app.state.session_factory

        def with_store() -> bytes:
            with factory() as session:
                if server.needs_store(user_id, surface):
                    server.refresh(session, user_id=user_id, surface=surface)
                body = server.serve_json(user_id=user_id, surface=surface, n=n)
                if inline:
                    server.flush(session)
                return body

        body = await run_in_threadpool(with_store)
    else:
        body = server.serve_json(user_id=user_id, surface=surface, n=n)
    return Response(body, media_type=FEED_MEDIA_TYPE)


@router.get("/traffic/plan", response_model=PlanOut)
def active_plan(session: SessionDep, principal: PrincipalDep) -> object:
    """The traffic plan in force."""
    access.require_role(principal, Role.OPERATOR, Role.MERCHANT, Role.CREATOR)
    plan = traffic_plan.active_plan(session)
    if plan is None:
        raise NotFound("no traffic plan is active")
    return plan
