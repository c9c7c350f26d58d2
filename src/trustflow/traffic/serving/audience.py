"""Who a buyer is to the plan: the precise audience of the promised rooms (精准人群), and the
hosts a buyer follows, read from the store and indexed against the live rooms in NumPy.

A host is a shop or a creator, one integer each (:func:`host_key`), so a follow and a live
room meet on one key.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from trustflow.accounts.models import Follow
from trustflow.bulk import IntArray, int_rows, sorted_lookup
from trustflow.orders.models import Order
from trustflow.vocabulary import Channel

__all__ = [
    "FOLLOW_PAIRS",
    "PRECISE_DAYS",
    "PRECISE_PAIRS",
    "followed_rooms",
    "follows_stamp",
    "host_key",
    "precise_audience",
    "read_follows",
    "read_hosts_followed",
]

#: days of distribution orders that define a promised owner's precise audience
PRECISE_DAYS = 30
#: most (buyer, room) pairs a server holds for precise targeting
PRECISE_PAIRS = 2_000_000
#: most follows a server holds for the follow page; beyond, it reads one buyer's follows at
#: a time (:func:`read_hosts_followed`)
FOLLOW_PAIRS = 5_000_000


def host_key(shop_id: IntArray, creator_id: IntArray) -> IntArray:
    """One integer per host: a shop (its rooms are shop rooms) or a creator (0: none)."""
    return np.where(shop_id > 0, 2 * shop_id + 1, 2 * creator_id)


def precise_audience(session: Session, rooms: dict[int, int], day: date) -> dict[int, list[int]]:
    """Buyers who bought a promised owner's goods through creators in the last
    :data:`PRECISE_DAYS` days before ``day``, and the fans of those creators (buyers like them:
    the customer group distribution found), each mapped to the owner's room (``rooms``: the
    promised owners' shop id → their room's candidate index). Reward traffic goes to them
    first (docs/traffic.md)."""
    if not rooms:
        return {}
    end = datetime.combine(day, time(), tzinfo=UTC)
    sold = (
        select(Order.shop_id, Order.buyer_id, Order.creator_id)
        .where(
            Order.channel == Channel.DISTRIBUTION,
            Order.paid_at >= end - timedelta(days=PRECISE_DAYS),
            Order.paid_at < end,
            Order.shop_id.in_(list(rooms)),
        )
        .subquery()
    )
    buyers = select(sold.c.buyer_id, sold.c.shop_id).distinct()
    fans = (
        select(Follow.buyer_id, sold.c.shop_id)
        .join(sold, Follow.creator_id == sold.c.creator_id)
        .distinct()
    )
    audience: dict[int, list[int]] = {}
    pairs = 0
    for query in (buyers, fans):  # buyers first: they are kept if the cap bites
        for buyer, shop in session.execute(query.limit(PRECISE_PAIRS - pairs)):
            rooms_of = audience.setdefault(int(buyer), [])
            if rooms[int(shop)] not in rooms_of:
                rooms_of.append(rooms[int(shop)])
                pairs += 1
        if pairs >= PRECISE_PAIRS:
            break
    return audience


def follows_stamp(session: Session) -> tuple[Any, ...]:
    """What changes with every change to the follows: follows are only ever added (with a new
    id) or deleted, so their count and the sum of their ids do."""
    stamp = tuple(session.execute(select(func.count(), func.sum(Follow.id))).one())
    session.rollback()
    return stamp


def read_follows(session: Session) -> tuple[IntArray, IntArray] | None:
    """Every follow as (buyer, host key), sorted by buyer: a sequential read, with no join, so
    it costs the store little however many rooms are live. ``None`` when there are more than
    :data:`FOLLOW_PAIRS`."""
    rows = int_rows(
        session,
        select(Follow.buyer_id, Follow.shop_id, Follow.creator_id).limit(FOLLOW_PAIRS + 1),
    )
    session.rollback()
    if len(rows) > FOLLOW_PAIRS:
        return None
    by_buyer = np.argsort(rows[:, 0], kind="stable")
    rows = rows[by_buyer]
    return rows[:, 0], host_key(rows[:, 1], rows[:, 2])


def read_hosts_followed(session: Session, user_id: int) -> IntArray:
    """The host keys of the hosts one buyer follows (for the follow page when the follows are
    too many to hold, :data:`FOLLOW_PAIRS`)."""
    followed = session.execute(
        select(Follow.creator_id, Follow.shop_id).where(Follow.buyer_id == user_id)
    ).all()
    hosts = np.array([[sh or 0, c or 0] for c, sh in followed], dtype=np.int64).reshape(-1, 2)
    return host_key(hosts[:, 0], hosts[:, 1])


def followed_rooms(
    follows: tuple[IntArray, IntArray], room_host: IntArray
) -> tuple[IntArray, IntArray]:
    """The follow index of a live pool: buyers (sorted) beside the position of a room they
    follow, for the follows whose host is live in the pool (``room_host``: each room's host
    key; a host live in two rooms at once is found in one)."""
    buyer, host = follows
    order = np.argsort(room_host, kind="stable")
    at = sorted_lookup(room_host[order], host, order)
    live = at >= 0
    return buyer[live], at[live]
