"""Content: live sessions (scheduled → live → ended) and short videos, with linked products."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from trustflow.accounts import service as accounts_service
from trustflow.catalog import service as catalog_service
from trustflow.catalog.models import ListingStatus
from trustflow.content.models import (
    LiveSession,
    LiveSessionProduct,
    ShortVideo,
    ShortVideoProduct,
)
from trustflow.content.rules import LIVE_TRANSITIONS, MAX_LINKED_PRODUCTS, link_refusals
from trustflow.db import get_or_raise, utcnow
from trustflow.errors import ErrorCode, InvalidInput, NotFound
from trustflow.governance import reports as governance_reports
from trustflow.governance.models import LiveReport, ReportReason, ReportStatus

__all__ = [
    "decide_live_report",
    "end_live",
    "get_live",
    "get_video",
    "live_product_ids",
    "post_short_video",
    "report_live",
    "schedule_live",
    "start_live",
    "video_product_ids",
]


def _check_host(session: Session, creator_id: int | None, shop_id: int | None) -> None:
    from trustflow.accounts import service as accounts_service

    if (creator_id is None) == (shop_id is None):
        raise InvalidInput("content has exactly one host: creator_id or shop_id")
    if creator_id is not None:
        accounts_service.get_creator(session, creator_id)
    if shop_id is not None:
        catalog_service.get_shop(session, shop_id)


def _check_products(session: Session, product_ids: Sequence[int], shop_id: int | None) -> list[int]:
    """The distinct products content hosted by ``shop_id`` (None: by a creator) may link
    (``trustflow.content.rules``)."""
    unique = list(dict.fromkeys(product_ids))
    if len(unique) > MAX_LINKED_PRODUCTS:
        raise InvalidInput(f"at most {MAX_LINKED_PRODUCTS} linked products")
    products = [catalog_service.get_product(session, product_id) for product_id in unique]
    unseen, foreign = link_refusals(
        shop_id or 0,
        [p.shop_id for p in products],
        [p.status is ListingStatus.LISTED for p in products],
    )
    for product_id, hidden, elsewhere in zip(unique, unseen, foreign, strict=True):
        if hidden:
            raise NotFound(f"product {product_id} not found")
        if elsewhere:
            raise InvalidInput(
                f"product {product_id} is not sold by shop {shop_id}: a shop's content links"
                " only its own products",
                code=ErrorCode.PRODUCT_NOT_IN_SHOP,
                product_id=product_id,
                shop_id=shop_id,
            )
    return unique


def schedule_live(
    session: Session,
    *,
    creator_id: int | None = None,
    shop_id: int | None = None,
    title: str = "",
    product_ids: Sequence[int] = (),
    scheduled_at: datetime | None = None,
) -> LiveSession:
    _check_host(session, creator_id, shop_id)
    products = _check_products(session, product_ids, shop_id)
    live = LiveSession(
        creator_id=creator_id,
        shop_id=shop_id,
        title=title,
        scheduled_at=scheduled_at or utcnow(),
    )
    session.add(live)
    session.flush()
    session.add_all(LiveSessionProduct(live_session_id=live.id, product_id=p) for p in products)
    session.flush()
    return live


def get_live(session: Session, live_id: int) -> LiveSession:
    return get_or_raise(session, LiveSession, live_id, "live session")


def start_live(session: Session, *, live_id: int, at: datetime | None = None) -> LiveSession:
    live = get_live(session, live_id)
    LIVE_TRANSITIONS.require("start", live.status)
    live.status = LIVE_TRANSITIONS.target("start")
    live.started_at = at or utcnow()
    session.flush()
    return live


def end_live(session: Session, *, live_id: int, at: datetime | None = None) -> LiveSession:
    live = get_live(session, live_id)
    LIVE_TRANSITIONS.require("end", live.status)
    live.status = LIVE_TRANSITIONS.target("end")
    live.ended_at = at or utcnow()
    session.flush()
    return live


def live_product_ids(session: Session, live_id: int) -> list[int]:
    return list(
        session.scalars(
            select(LiveSessionProduct.product_id).where(
                LiveSessionProduct.live_session_id == live_id
            )
        )
    )


def post_short_video(
    session: Session,
    *,
    creator_id: int | None = None,
    shop_id: int | None = None,
    title: str = "",
    product_ids: Sequence[int] = (),
    clipped_from_live_id: int | None = None,
    at: datetime | None = None,
) -> ShortVideo:
    _check_host(session, creator_id, shop_id)
    products = _check_products(session, product_ids, shop_id)
    if clipped_from_live_id is not None:
        get_live(session, clipped_from_live_id)
    video = ShortVideo(
        creator_id=creator_id,
        shop_id=shop_id,
        title=title,
        clipped_from_live_id=clipped_from_live_id,
        posted_at=at or utcnow(),
    )
    session.add(video)
    session.flush()
    session.add_all(ShortVideoProduct(short_video_id=video.id, product_id=p) for p in products)
    session.flush()
    return video


def get_video(session: Session, video_id: int) -> ShortVideo:
    return get_or_raise(session, ShortVideo, video_id, "short video")


def video_product_ids(session: Session, video_id: int) -> list[int]:
    return list(
        session.scalars(
            select(ShortVideoProduct.product_id).where(ShortVideoProduct.short_video_id == video_id)
        )
    )


def report_live(
    session: Session,
    *,
    buyer_id: int,
    live_id: int,
    reason: ReportReason,
    text: str = "",
    at: datetime | None = None,
) -> LiveReport:
    """A buyer reports a live room (直播间举报): into the operators' review queue, against the
    room's host (``governance/reports.py``). A room never started cannot be reported."""
    live = get_live(session, live_id)
    if live.started_at is None:
        raise InvalidInput(f"live session {live_id} has not started: there is nothing to report")
    accounts_service.get_buyer(session, buyer_id)
    return governance_reports.file_report(
        session,
        buyer_id=buyer_id,
        live_session_id=live_id,
        shop_id=live.shop_id,
        creator_id=live.creator_id,
        reason=reason,
        text=text,
        at=at or utcnow(),
    )


def decide_live_report(
    session: Session,
    *,
    report_id: int,
    uphold: bool,
    reason: str,
    actor: str,
    rule: str = "live_room_misconduct",
    at: datetime | None = None,
) -> LiveReport:
    """An operator decides a report: upheld, the room's shop gets the violation ``rule``
    names (``catalog.service.record_violation``; a creator's room: the report is upheld,
    and the creator's reputation score reads it); dismissed, nothing more."""
    at = at or utcnow()
    report = get_or_raise(session, LiveReport, report_id, "report")
    violation_id = None
    if uphold and report.shop_id is not None and report.status is ReportStatus.OPEN:
        violation, _ = catalog_service.record_violation(
            session,
            shop_id=report.shop_id,
            rule=rule,
            reason=f"live room report {report_id} upheld: {reason.strip()}"[:500],
            actor=actor,
            at=at,
        )
        violation_id = violation.id
    return governance_reports.decide_report(
        session,
        report_id=report_id,
        uphold=uphold,
        reason=reason,
        actor=actor,
        at=at,
        violation_id=violation_id,
    )
