"""The impressions log."""

from __future__ import annotations

from fastapi import APIRouter, status
from sqlalchemy import select

from trustflow.accounts import access
from trustflow.api.deps import PrincipalDep, SessionDep
from trustflow.api.types import Limit, Offset
from trustflow.pagination import paginate
from trustflow.schemas_base import PageOut
from trustflow.traffic import service as traffic_service
from trustflow.traffic.models import Impression, Surface
from trustflow.traffic.schemas import ImpressionBatchIn, ImpressionBatchOut, ImpressionOut

router = APIRouter(tags=["traffic"])


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
