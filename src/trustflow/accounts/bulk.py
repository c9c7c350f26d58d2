"""Set-based account actions: create many participants, record many follows.

Following shops names shops, so it is catalog's (:func:`trustflow.catalog.bulk.follow_shops`),
which records the follows through :func:`record_follows`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

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
from trustflow.errors import InvalidInput

__all__ = [
    "FollowTarget",
    "create_buyers",
    "create_creators",
    "create_merchants",
    "follow_creators",
    "record_follows",
]

#: The column of :class:`Follow` that names what is followed.
FollowTarget = Literal["creator_id", "shop_id"]


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
    return record_follows(session, buyer_ids, creator_ids, "creator_id", table(Creator), at=at)


def record_follows(
    session: Session,
    buyer_ids: IntArray,
    target_ids: IntArray,
    column: FollowTarget,
    target_table: Table,
    *,
    at: datetime,
) -> int:
    """Record follows of the creators or shops (``column``) whose ids are in ``target_table``;
    the whole batch is refused if a buyer or a target is missing, and follows that already
    exist (or repeat) are skipped. Returns how many were added."""
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
