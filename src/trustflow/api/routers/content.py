"""Live sessions and short videos."""

from __future__ import annotations

from fastapi import APIRouter, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from trustflow.accounts.models import Role
from trustflow.accounts.principal import Principal
from trustflow.api.deps import PrincipalDep, SessionDep
from trustflow.api.error_responses import ERROR_RESPONSES
from trustflow.api.params import IdPath, IdQuery, Limit, Offset
from trustflow.catalog import access as catalog_access
from trustflow.catalog import service as catalog_service
from trustflow.content import service as content_service
from trustflow.content.models import LiveSession, LiveStatus, ShortVideo
from trustflow.content.schemas import LiveIn, LiveOut, VideoIn, VideoOut
from trustflow.errors import Forbidden, InvalidInput
from trustflow.pagination import paginate
from trustflow.schemas_base import PageOut

router = APIRouter(tags=["content"], responses=ERROR_RESPONSES)


def _require_host(
    session: Session, principal: Principal, creator_id: int | None, shop_id: int | None
) -> None:
    """Creators host their own content; shops' managers host self-broadcast content."""
    if (creator_id is None) == (shop_id is None):
        raise InvalidInput("content has exactly one host: creator_id or shop_id")
    if creator_id is not None:
        if not (principal.is_operator or principal.is_(Role.CREATOR, creator_id)):
            raise Forbidden("you can only host content as yourself")
    else:
        assert shop_id is not None
        catalog_access.require_shop_manager(
            session, principal, catalog_service.get_shop(session, shop_id)
        )


def _live_out(session: Session, live: LiveSession) -> LiveOut:
    out = LiveOut.model_validate(live)
    out.product_ids = content_service.live_product_ids(session, live.id)
    return out


def _video_out(session: Session, video: ShortVideo) -> VideoOut:
    out = VideoOut.model_validate(video)
    out.product_ids = content_service.video_product_ids(session, video.id)
    return out


@router.post("/live-sessions", response_model=LiveOut, status_code=status.HTTP_201_CREATED)
def schedule_live(body: LiveIn, session: SessionDep, principal: PrincipalDep) -> LiveOut:
    if body.creator_id is None and body.shop_id is None and principal.role is Role.CREATOR:
        body.creator_id = principal.subject_id
    _require_host(session, principal, body.creator_id, body.shop_id)
    live = content_service.schedule_live(
        session,
        creator_id=body.creator_id,
        shop_id=body.shop_id,
        title=body.title,
        product_ids=body.product_ids,
        scheduled_at=body.scheduled_at,
    )
    session.commit()
    return _live_out(session, live)


@router.get("/live-sessions", response_model=PageOut[LiveOut])
def list_live(
    session: SessionDep,
    principal: PrincipalDep,
    live_status: LiveStatus | None = None,
    creator_id: IdQuery = None,
    shop_id: IdQuery = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> object:
    """Live rooms are public: anyone may see what is on air."""
    stmt = select(LiveSession).order_by(LiveSession.id.desc())
    if live_status is not None:
        stmt = stmt.where(LiveSession.status == live_status)
    if creator_id is not None:
        stmt = stmt.where(LiveSession.creator_id == creator_id)
    if shop_id is not None:
        stmt = stmt.where(LiveSession.shop_id == shop_id)
    page = paginate(session, stmt, limit=limit, offset=offset)
    return PageOut[LiveOut](
        items=[_live_out(session, live) for live in page.items],
        offset=page.offset,
        limit=page.limit,
        next_offset=page.next_offset,
    )


@router.get("/live-sessions/{live_id}", response_model=LiveOut)
def get_live(live_id: IdPath, session: SessionDep, principal: PrincipalDep) -> LiveOut:
    return _live_out(session, content_service.get_live(session, live_id))


@router.post("/live-sessions/{live_id}/start", response_model=LiveOut)
def start_live(live_id: IdPath, session: SessionDep, principal: PrincipalDep) -> LiveOut:
    live = content_service.get_live(session, live_id)
    _require_host(session, principal, live.creator_id, live.shop_id)
    content_service.start_live(session, live_id=live_id)
    session.commit()
    return _live_out(session, live)


@router.post("/live-sessions/{live_id}/end", response_model=LiveOut)
def end_live(live_id: IdPath, session: SessionDep, principal: PrincipalDep) -> LiveOut:
    live = content_service.get_live(session, live_id)
    _require_host(session, principal, live.creator_id, live.shop_id)
    content_service.end_live(session, live_id=live_id)
    session.commit()
    return _live_out(session, live)


@router.post("/short-videos", response_model=VideoOut, status_code=status.HTTP_201_CREATED)
def post_video(body: VideoIn, session: SessionDep, principal: PrincipalDep) -> VideoOut:
    if body.creator_id is None and body.shop_id is None and principal.role is Role.CREATOR:
        body.creator_id = principal.subject_id
    _require_host(session, principal, body.creator_id, body.shop_id)
    video = content_service.post_short_video(
        session,
        creator_id=body.creator_id,
        shop_id=body.shop_id,
        title=body.title,
        product_ids=body.product_ids,
        clipped_from_live_id=body.clipped_from_live_id,
    )
    session.commit()
    return _video_out(session, video)


@router.get("/short-videos/{video_id}", response_model=VideoOut)
def get_video(video_id: IdPath, session: SessionDep, principal: PrincipalDep) -> VideoOut:
    return _video_out(session, content_service.get_video(session, video_id))
