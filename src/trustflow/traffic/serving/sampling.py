"""What a request can be shown and how its items are drawn: the pools of a surface family, the
weighted shortlist each pool draws, and the picks of one request -- pure NumPy on the memory
a server holds; nothing here reads the store.

Within a node the plan shares impressions by ``exp(score / temperature)``; a pool draws a
shortlist by that softmax times each candidate's pacing factor, and a request picks from the
shortlist uniformly (two-stage sampling: the same distribution).
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field, replace
from datetime import datetime

import numpy as np

from trustflow.bulk import IntArray
from trustflow.traffic.serving.audience import host_key
from trustflow.traffic.serving.snapshot import PlanSnapshot

__all__ = [
    "SHORTLIST",
    "Draws",
    "Pool",
    "draw",
    "follow_page",
    "pool_items",
    "precise_first",
    "redrawn",
    "rooms_followed",
]

#: draws per pool refresh from which requests pick uniformly (two-stage sampling)
SHORTLIST = 1024


class Draws:
    """Uniform picks, with replacement, from a pool's shortlist, drawn many at a time: a
    request takes the next ``k`` (each pick is used once), so it pays for no random number
    generation of its own."""

    BATCH = 16_384

    def __init__(self, shortlist: IntArray, rng: np.random.Generator) -> None:
        self._shortlist = shortlist
        self._rng = rng
        self._lock = threading.Lock()
        self._stream: list[int] = []
        self._at = 0

    def take(self, k: int) -> list[int]:
        with self._lock:
            if self._at + k > len(self._stream):
                drawn = self._rng.integers(0, len(self._shortlist), max(self.BATCH, k))
                self._stream = self._shortlist[drawn].tolist()
                self._at = 0
            at = self._at
            self._at = at + k
            return self._stream[at : at + k]


@dataclass(frozen=True)
class Pool:
    """What a surface family can show now, best score first: position ``p`` of the pool is
    candidate ``idx[p]`` showing item ``item_ids[p]``, so a set of positions sorted is
    ordered by score."""

    plan_id: int
    at: float  # when its shortlist was drawn (monotonic clock)
    idx: IntArray  # candidate index per poolable item
    item_ids: IntArray  # live session id or product id
    #: picks for the requests from the shortlist (positions drawn by weight, with replacement)
    draws: Draws
    position: IntArray  # candidate index -> position in idx (-1: not in the pool)
    #: the same per position as Python objects, for the request path: candidate index, item
    #: id, and the item's JSON as the feed shows it, up to its reward flag
    idx_list: list[int] = field(default_factory=list)
    item_list: list[int] = field(default_factory=list)
    fragments: list[bytes] = field(default_factory=list)
    #: what each item's attribution token vouches for (``PlanSnapshot.item_vouches``)
    vouches: list[bytes] = field(default_factory=list)
    #: positions whose candidate has a reward promise (their reward flag is looked up)
    promised: frozenset[int] = frozenset()
    #: rooms: the live rooms as read (session id, shop, creator), and each item's host key
    live: IntArray | None = None
    host: IntArray | None = None
    #: the follow page's index: buyers (sorted) and the position of a live room each follows;
    #: None when the follows were too many to hold (each buyer's are then read on their own)
    follow_buyer: IntArray | None = None
    follow_pos: IntArray | None = None

    def followed(self, user_id: int) -> IntArray:
        """Positions of the live rooms ``user_id`` follows (from the follow index)."""
        assert self.follow_buyer is not None and self.follow_pos is not None
        lo, hi = np.searchsorted(self.follow_buyer, [user_id, user_id + 1])
        return self.follow_pos[lo:hi]  # a (buyer, room) pair is one follow: no repeats


def pool_items(
    snap: PlanSnapshot,
    shelf: bool,
    live: IntArray | None,
    cached: Pool | None,
    rng: np.random.Generator,
) -> Pool:
    """A pool's items, best score first, with what requests read of them, and no shortlist
    yet (:func:`redrawn` draws it): the cards of the plan, or the rooms of ``live`` (the live
    rooms as read: session id, shop, creator). The cached pool's items when the plan and, for
    rooms, the live rooms are as they were, so a refresh that finds nothing new only redraws
    the shortlist."""
    same_plan = cached is not None and cached.plan_id == snap.plan_id
    if shelf:
        if same_plan:
            assert cached is not None
            return cached
        idx = snap.cards  # best score first
        item_ids = snap.entity_id[idx]
        host = None
        position = np.zeros(0, dtype=np.int64)
        fragments = snap.item_fragments(idx, item_ids, shelf=True)
        vouches = snap.item_vouches(idx, item_ids, shelf=True)
    else:
        assert live is not None, "a pool of rooms is built from the live rooms"
        if (
            same_plan
            and cached is not None
            and cached.live is not None
            and np.array_equal(cached.live, live)
        ):
            return cached
        item_ids, host = live[:, 0], host_key(live[:, 1], live[:, 2])
        idx = snap.rooms_of(host)
        keep = np.flatnonzero(idx >= 0)
        # best score first (stable), as the cards: positions sorted are in score order
        by_score = np.argsort(-snap.score[idx[keep]], kind="stable")
        item_ids, idx, host = (a[keep][by_score] for a in (item_ids, idx, host))
        position = np.full(len(snap.kind), -1, dtype=np.int64)
        position[idx] = np.arange(len(idx))
        fragments = snap.item_fragments(idx, item_ids, shelf=False)
        vouches = snap.item_vouches(idx, item_ids, shelf=False)
    return Pool(
        snap.plan_id,
        0.0,  # drawn by redrawn
        idx,
        item_ids,
        Draws(np.zeros(0, dtype=np.int64), rng),  # drawn by redrawn
        position,
        idx_list=idx.tolist(),
        item_list=item_ids.tolist(),
        fragments=fragments,
        vouches=vouches,
        promised=frozenset(np.flatnonzero(snap.promised[idx] > 0).tolist()),
        live=live,
        host=host,
    )


def redrawn(
    items: Pool,
    snap: PlanSnapshot,
    shelf: bool,
    now: datetime,
    rng: np.random.Generator,
    lock: threading.Lock,
    *,
    at: float,
    follow_buyer: IntArray | None,
    follow_pos: IntArray | None,
) -> Pool:
    """``items`` with a new shortlist, drawn by the plan's softmax × pacing at ``now`` (the
    counts read under ``lock``, the server's), stamped ``at``, and the follow index given."""
    idx = items.idx
    shortlist = np.zeros(0, dtype=np.int64)
    if len(idx):
        with lock:
            log_pace, _ = snap.pace(idx, now, shelf)
        logits = snap.score[idx] / snap.temperature + log_pace
        p = np.exp(logits - logits.max())
        p /= p.sum()
        shortlist = rng.choice(len(idx), size=SHORTLIST, p=p)
    return replace(
        items,
        at=at,
        draws=Draws(shortlist, rng),
        follow_buyer=follow_buyer,
        follow_pos=follow_pos,
    )


def draw(pool: Pool, n: int) -> list[int]:
    """``n`` distinct positions of the pool: uniform over the shortlist, which was drawn by
    the plan's weights (two-stage sampling), in score order."""
    if len(pool.idx_list) <= n:
        return list(range(len(pool.idx_list)))
    distinct = list(dict.fromkeys(pool.draws.take(8 * n)))[:n]
    if len(distinct) < n:  # a shortlist dominated by a few: fill by score
        taken = set(distinct)
        best = (p for p in range(len(pool.idx_list)) if p not in taken)
        distinct += itertools.islice(best, n - len(distinct))
    distinct.sort()
    return distinct


def precise_first(
    snap: PlanSnapshot,
    pool: Pool,
    user_id: int,
    picked: list[int],
    n: int,
    lock: threading.Lock,
) -> list[int]:
    """Promised rooms still owed reward traffic (their counts read under ``lock``), live now
    and with this buyer in their precise audience, go first."""
    rooms = np.array(snap.precise[user_id], dtype=np.int64)
    at = pool.position[rooms]
    with lock:
        owed = snap.reward_delivered[rooms] < snap.promised[rooms]
    first: list[int] = at[(at >= 0) & owed].tolist()
    if not first:
        return picked
    rest = [p for p in picked if p not in first]
    return (first + rest)[:n]


def rooms_followed(snap: PlanSnapshot, pool: Pool, hosts: IntArray) -> IntArray:
    """Positions of the pool's rooms whose host is among ``hosts`` (host keys: one buyer's
    follows, when there is no follow index)."""
    return np.flatnonzero(np.isin(pool.idx, snap.rooms_of(hosts)))


def follow_page(
    snap: PlanSnapshot,
    pool: Pool,
    followed: IntArray,
    now: datetime,
    n: int,
    rng: np.random.Generator,
    lock: threading.Lock,
) -> list[int]:
    """The follow page: of the live rooms followed (pool positions), ``n`` at most by the
    plan's weights × pacing at ``now`` (the counts read under ``lock``), in score order."""
    picked = followed
    if len(picked) > n:
        with lock:
            log_pace, _ = snap.pace(pool.idx[picked], now, False)
        logits = snap.score[pool.idx[picked]] / snap.temperature + log_pace
        logits += rng.gumbel(size=len(picked))
        picked = picked[np.argsort(-logits)[:n]]
    positions: list[int] = picked.tolist()
    return sorted(positions)
