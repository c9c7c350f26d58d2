"""Set-based content actions: many live sessions go on air or off it, many videos are posted."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np
from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from trustflow.accounts.models import Creator
from trustflow.bulk import (
    IntArray,
    execute_columns,
    fetch_by_ids,
    insert_many,
    insert_returning_ids,
    require_all_exist,
    table,
)
from trustflow.catalog.models import ListingStatus, Product, Shop
from trustflow.content.models import (
    LiveSession,
    LiveSessionProduct,
    LiveStatus,
    ShortVideo,
    ShortVideoProduct,
)
from trustflow.content.rules import LIVE_TRANSITIONS, MAX_LINKED_PRODUCTS, link_refusals
from trustflow.errors import ErrorCode, InvalidInput, NotFound

__all__ = [
    "end_lives",
    "go_live",
    "post_videos",
]

_lives = table(LiveSession)
_products = table(Product)


def _check_hosts(session: Session, creator_ids: IntArray, shop_ids: IntArray) -> None:
    creators, shops = np.asarray(creator_ids), np.asarray(shop_ids)
    if ((creators > 0) == (shops > 0)).any():
        raise InvalidInput("content has exactly one host: creator_id or shop_id")
    require_all_exist(session, table(Creator), creators[creators > 0], "creator")
    require_all_exist(session, table(Shop), shops[shops > 0], "shop")


def _check_links(
    session: Session, shop_ids: IntArray, product_ids: Sequence[Sequence[int]]
) -> None:
    """Refuse the whole batch if one piece of content links what its host may not
    (``trustflow.content.rules``, as the service does)."""
    if any(len(set(ps)) > MAX_LINKED_PRODUCTS for ps in product_ids):
        raise InvalidInput(f"at most {MAX_LINKED_PRODUCTS} linked products")
    linked = np.array([p for ps in product_ids for p in ps], dtype=np.int64)
    if linked.size == 0:
        return
    require_all_exist(session, table(Product), linked, "product")
    facts = {
        row.id: row
        for row in fetch_by_ids(
            session,
            select(_products.c.id, _products.c.shop_id, _products.c.status),
            _products.c.id,
            linked,
        )
    }
    host = np.repeat(np.asarray(shop_ids, dtype=np.int64), [len(ps) for ps in product_ids])
    unseen, foreign = link_refusals(
        host,
        [facts[int(p)].shop_id for p in linked],
        [facts[int(p)].status == ListingStatus.LISTED for p in linked],
    )
    if unseen.any():
        raise NotFound(f"product {int(linked[unseen][0])} not found")
    if foreign.any():
        i = int(np.flatnonzero(foreign)[0])
        raise InvalidInput(
            f"product {int(linked[i])} is not sold by shop {int(host[i])}: a shop's content"
            " links only its own products",
            code=ErrorCode.PRODUCT_NOT_IN_SHOP,
            product_id=int(linked[i]),
            shop_id=int(host[i]),
        )


def _publish(
    session: Session,
    target: Table,
    links: Table,
    link_column: str,
    creator_ids: IntArray,
    shop_ids: IntArray,
    product_ids: Sequence[Sequence[int]],
    fields: dict[str, object],
) -> IntArray:
    """Insert content hosted by creators or shops, and the products each one links."""
    _check_hosts(session, creator_ids, shop_ids)
    _check_links(session, shop_ids, product_ids)
    ids = insert_returning_ids(
        session,
        target,
        [
            {"creator_id": int(c) or None, "shop_id": int(s) or None, "title": "", **fields}
            for c, s in zip(creator_ids, shop_ids, strict=True)
        ],
    )
    insert_many(
        session,
        links,
        [
            {link_column: int(i), "product_id": int(p)}
            for i, ps in zip(ids, product_ids, strict=True)
            for p in dict.fromkeys(ps)
        ],
    )
    return ids


def go_live(
    session: Session,
    creator_ids: IntArray,
    shop_ids: IntArray,
    product_ids: Sequence[Sequence[int]],
    *,
    at: datetime,
) -> IntArray:
    """Open many live rooms at ``at`` (0 in a host column means "not this kind of host")."""
    return _publish(
        session,
        _lives,
        table(LiveSessionProduct),
        "live_session_id",
        creator_ids,
        shop_ids,
        product_ids,
        {"status": LiveStatus.LIVE, "scheduled_at": at, "started_at": at},
    )


def end_lives(session: Session, live_ids: IntArray, *, at: datetime) -> int:
    """Close live rooms that are on air; others are left as they are."""
    on_air = [
        r[0]
        for r in fetch_by_ids(session, select(_lives.c.id, _lives.c.status), _lives.c.id, live_ids)
        if LIVE_TRANSITIONS.allows("end", r[1])
    ]
    execute_columns(
        session,
        update(_lives)
        .where(_lives.c.id == bindparam("lid"), _lives.c.status == LiveStatus.LIVE)
        .values(status=LiveStatus.ENDED, ended_at=bindparam("at")),
        {"lid": on_air, "at": at},
        rows=len(on_air),
    )
    return len(on_air)


def post_videos(
    session: Session,
    creator_ids: IntArray,
    shop_ids: IntArray,
    product_ids: Sequence[Sequence[int]],
    *,
    at: datetime,
) -> IntArray:
    """Post many short videos at ``at``, each linking its products."""
    return _publish(
        session,
        table(ShortVideo),
        table(ShortVideoProduct),
        "short_video_id",
        creator_ids,
        shop_ids,
        product_ids,
        {"posted_at": at},
    )
