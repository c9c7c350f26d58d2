"""The impressions log: written in bulk by feed serving and the simulator."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import and_, case, func, insert, select
from sqlalchemy.orm import Session

from trustflow.accounts.models import Buyer
from trustflow.bulk import insert_columns, require_all_exist, table
from trustflow.catalog.models import Product
from trustflow.content.models import LiveSession, ShortVideo
from trustflow.errors import InvalidInput
from trustflow.traffic.models import Impression
from trustflow.vocabulary import ItemKind, Surface

__all__ = [
    "ImpressionRecord",
    "impressions_by_owner",
    "log_impression_counts",
    "log_impressions",
]

_impressions = table(Impression)
_live, _videos, _products = table(LiveSession), table(ShortVideo), table(Product)

MAX_BATCH = 10_000
MAX_COUNT = 10**9


@dataclass(frozen=True)
class ImpressionRecord:
    surface: Surface
    item_kind: ItemKind
    item_id: int
    shown_at: datetime
    buyer_id: int | None = None
    count: int = 1
    is_reward: bool = False
    reward_plan: str | None = None
    plan_version: str | None = None


def log_impressions(session: Session, records: Sequence[ImpressionRecord]) -> int:
    """Append impressions in one statement. A reward impression must name its plan, and a
    viewer must be a buyer (checked here: the log has no foreign key)."""
    if len(records) > MAX_BATCH:
        raise InvalidInput(f"at most {MAX_BATCH} rows per batch")
    for record in records:
        if record.is_reward != (record.reward_plan is not None):
            raise InvalidInput("reward impressions name their plan, and only they do")
        if not 1 <= record.count <= MAX_COUNT:
            raise InvalidInput(f"count must be in 1..{MAX_COUNT}")
    viewers = [r.buyer_id for r in records if r.buyer_id is not None]
    if viewers:
        require_all_exist(session, table(Buyer), viewers, "buyer")
    if records:
        session.execute(insert(Impression), [record.__dict__ for record in records])
    return len(records)


def log_impression_counts(
    session: Session,
    surface: Sequence[Surface],
    item_kind: Sequence[ItemKind],
    item_id: Sequence[int],
    count: Sequence[int],
    *,
    shown_at: datetime,
    reward_plan: Sequence[str | None] | None = None,
    plan_version: str | None = None,
) -> int:
    """Bulk path for simulators and replays: counted impressions, no viewer, any batch size."""
    counts = np.asarray(count, dtype=np.int64)
    if (counts < 1).any() or (counts > MAX_COUNT).any():
        raise InvalidInput(f"count must be in 1..{MAX_COUNT}")
    plans = list(reward_plan) if reward_plan is not None else None
    insert_columns(
        session,
        table(Impression),
        {
            "surface": list(surface),
            "item_kind": list(item_kind),
            "item_id": np.asarray(item_id, dtype=np.int64),
            "buyer_id": None,
            "shown_at": shown_at,
            "count": counts,
            "is_reward": [p is not None for p in plans] if plans is not None else False,
            "reward_plan": plans,
            "plan_version": plan_version,
        },
        rows=len(counts),
    )
    return int(counts.sum())


def impressions_by_owner(start: datetime, end: datetime, *, reward_plan: str | None) -> Any:
    """A subquery of the impressions shown in ``[start, end)``, summed per owning party
    (``party_kind`` 'shop' or 'creator', ``party_id``, ``impressions``): a live room or short
    video belongs to its host, a product card to its product's shop. With ``reward_plan``,
    the reward impressions of that plan (what a reward ledger, Chuanliu's or a festival's,
    reconciles its promises against); with None, the organic impressions."""
    is_live = _impressions.c.item_kind == ItemKind.LIVE_SESSION
    is_video = _impressions.c.item_kind == ItemKind.SHORT_VIDEO
    is_card = _impressions.c.item_kind == ItemKind.PRODUCT_CARD
    shop_host = func.coalesce(_live.c.shop_id, _videos.c.shop_id, _products.c.shop_id)
    owned = (
        select(
            case((shop_host.is_not(None), "shop"), else_="creator").label("party_kind"),
            func.coalesce(shop_host, _live.c.creator_id, _videos.c.creator_id).label("party_id"),
            _impressions.c.count.label("impressions"),
        )
        .select_from(_impressions)
        .outerjoin(_live, and_(is_live, _live.c.id == _impressions.c.item_id))
        .outerjoin(_videos, and_(is_video, _videos.c.id == _impressions.c.item_id))
        .outerjoin(_products, and_(is_card, _products.c.id == _impressions.c.item_id))
        .where(
            _impressions.c.reward_plan == reward_plan
            if reward_plan is not None
            else _impressions.c.is_reward.is_(False),
            _impressions.c.shown_at >= start,
            _impressions.c.shown_at < end,
        )
        .subquery()
    )
    return (
        select(
            owned.c.party_kind,
            owned.c.party_id,
            func.sum(owned.c.impressions).label("impressions"),
        )
        .where(owned.c.party_id.is_not(None))
        .group_by(owned.c.party_kind, owned.c.party_id)
        .subquery()
    )
