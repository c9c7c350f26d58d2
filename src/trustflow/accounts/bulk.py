"""Set-based account actions: create many participants, record many follows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np
from sqlalchemy import Table
from sqlalchemy.orm import Session

from trustflow.accounts.models import Buyer, Creator, Follow, Merchant
from trustflow.bulk import (
    IntArray,
    existing_pairs,
    insert_columns,
    insert_returning_ids,
    require_all_exist,
    table,
)
from trustflow.catalog.models import Shop
from trustflow.errors import InvalidInput

__all__ = [
    "create_buyers",
    "create_creators",
    "create_merchants",
    "follow_creators",
    "follow_shops",
]


def create_merchants(session: Session, names: Sequence[str], *, at: datetime) -> IntArray:
    return insert_returning_ids(
        session, table(Merchant), [{"name": n, "created_at": at} for n in names]
    )


def create_creators(
    session: Session, names: Sequence[str], fans: Sequence[int] | IntArray, *, at: datetime
) -> IntArray:
    if any(f < 0 for f in fans):
        raise InvalidInput("fans cannot be negative")
    return insert_returning_ids(
        session,
        table(Creator),
        [{"name": n, "fans": int(f), "created_at": at} for n, f in zip(names, fans, strict=True)],
    )


def create_buyers(session: Session, names: Sequence[str], *, at: datetime) -> IntArray:
    return insert_returning_ids(
        session, table(Buyer), [{"name": n, "created_at": at} for n in names]
    )


def follow_creators(
    session: Session, buyer_ids: IntArray, creator_ids: IntArray, *, at: datetime
) -> int:
    """Record follows of creators; ones that already exist (or repeat) are skipped."""
    return _follow(session, buyer_ids, creator_ids, "creator_id", table(Creator), at)


def follow_shops(session: Session, buyer_ids: IntArray, shop_ids: IntArray, *, at: datetime) -> int:
    return _follow(session, buyer_ids, shop_ids, "shop_id", table(Shop), at)


def _follow(
    session: Session,
    buyer_ids: IntArray,
    target_ids: IntArray,
    column: str,
    target_table: Table,
    at: datetime,
) -> int:
    follows = table(Follow)
    pairs = sorted(
        set(zip(np.asarray(buyer_ids).tolist(), np.asarray(target_ids).tolist(), strict=True))
    )
    if not pairs:
        return 0
    require_all_exist(session, table(Buyer), [b for b, _ in pairs], "buyer")
    require_all_exist(session, target_table, [t for _, t in pairs], column[:-3])
    present = existing_pairs(session, follows.c.buyer_id, follows.c[column], pairs)
    new = [(b, t) for b, t in pairs if (b, t) not in present]
    insert_columns(
        session,
        follows,
        {
            "buyer_id": [b for b, _ in new],
            "creator_id": [t for _, t in new] if column == "creator_id" else None,
            "shop_id": [t for _, t in new] if column == "shop_id" else None,
            "created_at": at,
        },
        rows=len(new),
    )
    return len(new)
