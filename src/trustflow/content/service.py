"""Content: live sessions (scheduled → live → ended) and short videos, with linked products."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

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

__all__ = [
    "end_live",
    "get_live",
    "get_video",
    "live_product_ids",
    "post_short_video",
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
