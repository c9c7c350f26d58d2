"""Feed serving: one request (user, surface, n) → ranked items, under the active plan.

The plan (:mod:`trustflow.traffic.plan`) gives each candidate a score in value units
(``value × trust + potential``: the potential lifts promised candidates and holds back capped
ones) and each node (surface, hour, segment) a price. Within a node the plan shares
impressions by ``exp(score / temperature)``, so serving draws its ``n`` items by that softmax
(:mod:`.sampling`), times a **pacing** factor that keeps each candidate on its planned
schedule through the day (:meth:`.snapshot.PlanSnapshot.pace`). Promised candidates also pace
on their reward schedule, and their impressions count as reward traffic until the promise is
met.

A :class:`FeedServer` holds, per process, what requests are computed from, and its three
steps keep the store apart from the requests:

* :meth:`FeedServer.refresh` does every store read: the active plan and its snapshot, the
  shared counters read back, the live rooms and the follows, new buyer ids, and one buyer's
  follows when the follows are too many to index;
* :meth:`FeedServer.serve` and :meth:`FeedServer.serve_json` are pure computation on that
  memory (:meth:`FeedServer.needs_store` tells beforehand whether a request needs a refresh
  first);
* :meth:`FeedServer.flush` is the only store write: the buffered impression rows and
  counter increments (:mod:`.counters`).

Pacing state is shared by every worker and host through the counters; a server batches its
increments and impression rows for at most ``flush_seconds`` (0: the caller flushes within
the request), so the shared state is at most that stale, and a process holds no pacing state
of its own beyond counts not yet flushed. With ``flush_seconds`` > 0 a background loop flushes
on that beat and refreshes every ``refresh_seconds``, so warm requests never wait for the
store.
"""

from __future__ import annotations

import gc
import threading
import time as clock
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from trustflow.accounts.models import Buyer
from trustflow.bulk import IntArray, int_rows
from trustflow.content.models import LiveSession, LiveStatus
from trustflow.db import utcnow
from trustflow.errors import InvalidInput, NotFound
from trustflow.orders.attribution import SHELF_CHANNEL, TokenSigner, channel_field, token_head
from trustflow.traffic.plan.models import CandidateKind, PlanStatus, TrafficPlan
from trustflow.traffic.plan.service import KINDS, SURFACES
from trustflow.traffic.serving.audience import followed_rooms, read_follows, read_hosts_followed
from trustflow.traffic.serving.audience import follows_stamp as read_follows_stamp
from trustflow.traffic.serving.counters import (
    Served,
    add_counts,
    apply_counters,
    log_served,
    read_counters,
    served_counts,
)
from trustflow.traffic.serving.sampling import (
    Pool,
    draw,
    follow_page,
    pool_items,
    precise_first,
    redrawn,
    rooms_followed,
)
from trustflow.traffic.serving.snapshot import PlanSnapshot, segment_of
from trustflow.types import EARLIEST
from trustflow.vocabulary import SHELF_SURFACES, ItemKind, Surface

__all__ = [
    "FOLLOW_LISTS_HELD",
    "FOLLOW_REFRESH_SECONDS",
    "MAX_ITEMS",
    "Feed",
    "FeedItem",
    "FeedServer",
    "FeedStateMissing",
]

MAX_ITEMS = 50
#: seconds a server serves the follows it read: the follow list (checked for a change this
#: often) and each buyer's follows read on their own (a follow, or an unfollow, shows within
#: this)
FOLLOW_REFRESH_SECONDS = 10.0
#: most buyers whose follows a server holds one by one, when the follows are too many to hold
#: whole (:data:`.audience.FOLLOW_PAIRS`): the longest held go first
FOLLOW_LISTS_HELD = 4_096
#: how an item's JSON fragment ends, by its reward flag
_TRUE, _FALSE = b"true", b"false"
_TOKEN, _NO_TOKEN = b',"attribution_token":"', b',"attribution_token":null}'
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


class FeedStateMissing(RuntimeError):
    """A request needs state the server does not hold: call :meth:`FeedServer.refresh` with
    a session first (:meth:`FeedServer.needs_store` tells when). A caller's bug, not the
    request's."""


@dataclass(frozen=True)
class FeedItem:
    item_kind: ItemKind
    item_id: int
    candidate_kind: CandidateKind
    entity_id: int
    shop_id: int | None
    score: float
    reward: bool
    #: the signed token an order of this item hands back (None: the server signs none)
    attribution_token: str | None = None


@dataclass(frozen=True)
class Feed:
    plan_version: str
    surface: Surface
    user_id: int
    segment: int
    price: float
    items: list[FeedItem]


def _live_rooms(session: Session) -> IntArray:
    """The rooms live now: (session id, shop, creator), by session id."""
    live = int_rows(
        session,
        select(LiveSession.id, LiveSession.shop_id, LiveSession.creator_id)
        .where(LiveSession.status == LiveStatus.LIVE)
        .order_by(LiveSession.id),
    )
    session.rollback()
    return live


class FeedServer:
    """Serves feeds from the active plan; one per process, shared by its request threads.

    Its state (the plan's snapshot with the pacing counts, the pools, the buyer ids, the
    follows, the impressions not flushed yet) is read and changed under one lock where
    requests and refreshes meet."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        *,
        flush_seconds: float = 0.0,
        refresh_seconds: float = 1.0,
        seed: int | None = None,
        freeze_gc: bool = False,
        signer: TokenSigner | None = None,
    ) -> None:
        self.factory = factory
        #: signs each item's attribution token (None: items carry none)
        self.signer = signer
        #: after loading a plan, move everything alive into the collector's permanent
        #: generation (``gc.freeze``): a full collection of a warm server's ~200,000 objects
        #: otherwise stalls every request in the process for ~0.1 s (more under load). For
        #: serving processes only: it is process-wide.
        self.freeze_gc = freeze_gc
        self.flush_seconds = flush_seconds
        self.refresh_seconds = refresh_seconds
        self.rng = np.random.default_rng(seed)
        self._lock = threading.Lock()
        self._snapshot: PlanSnapshot | None = None
        self._checked = -1e9
        self._pools: dict[bool, Pool] = {}
        #: which buyer ids exist (buyers are never deleted; new ones get higher ids)
        self._buyer_ids = np.zeros(0, dtype=bool)
        self._served = Served()
        self._versions: dict[int, str] = {}  # plan id -> version, for the log
        self._read_since = EARLIEST  # before anything the store can hold: read it all
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._follow_list: tuple[IntArray, IntArray] | None = None
        self._follows_at = -1e9
        self._follows_stamp: tuple[Any, ...] = ()
        self._follow_index_of: (
            tuple[tuple[IntArray, IntArray], IntArray, tuple[IntArray, IntArray]] | None
        ) = None
        #: buyer -> (when read, the host keys they follow): the follow page's follows when
        #: there is no follow index, at most FOLLOW_LISTS_HELD buyers
        self._hosts_followed: dict[int, tuple[float, IntArray]] = {}

    # -- state --------------------------------------------------------------------------

    @property
    def snapshot(self) -> PlanSnapshot:
        """The plan in force, as this process holds it (loaded by :meth:`refresh`)."""
        if self._snapshot is None:
            raise FeedStateMissing("no plan loaded: refresh the feed server first")
        return self._snapshot

    def needs_store(self, user_id: int, surface: Surface) -> bool:
        """Must :meth:`refresh` read the store before this request is served (a new buyer
        id, state not loaded yet, the follows of a buyer not held)? If not, serving it is
        pure computation on this process's state. A server that flushes in the background
        also refreshes its plan and pools there, so only a synchronous one
        (``flush_seconds`` 0) needs a refresh that is due."""
        pool = self._pools.get(surface in SHELF_SURFACES)
        if (
            user_id >= len(self._buyer_ids)
            or self._snapshot is None
            or pool is None
            or pool.plan_id != self._snapshot.plan_id
            or (
                surface is Surface.FOLLOW
                and pool.follow_buyer is None
                and self._hosts_followed_due(user_id)
            )
        ):
            return True
        if self.flush_seconds > 0:
            return False
        tick = clock.monotonic()
        return tick - self._checked > self.refresh_seconds or tick - pool.at > self.refresh_seconds

    def refresh(
        self,
        session: Session,
        *,
        user_id: int | None = None,
        surface: Surface | None = None,
        at: datetime | None = None,
    ) -> None:
        """Read from the store what serving needs, so :meth:`serve` needs none of it.

        For a request (``user_id``, ``surface``): the buyer ids created since the last read if
        ``user_id`` is beyond them (a buyer the store does not hold reads nothing more:
        serving it is ``NotFound``); the plan, if none is loaded; the surface family's pool
        (live rooms or cards, and its shortlist, drawn at ``at``, default the clock), if
        missing; on the follow page without a follow index, the buyer's follows, if not held.
        A synchronous server (``flush_seconds`` 0) also reads what is due: the plan checked
        for a switch, and the pool rebuilt, every ``refresh_seconds``.

        Without a request (the background loop's job): the shared counters read back, the
        plan checked for a switch and every pool served so far rebuilt, when due.

        Raises ``NotFound`` when no plan is active."""
        request = user_id is not None or surface is not None
        due = not request or self.flush_seconds <= 0
        if user_id is not None and not self._known_buyer(session, user_id):
            return
        if not request and self._snapshot is not None:
            self._read_counters(session)
        snap = self._plan(session, due=due)
        now = at or utcnow()
        families = list(self._pools) if surface is None else [surface in SHELF_SURFACES]
        for shelf in families:
            pool = self._pool(session, snap, shelf, now, due=due)
            if (
                surface is Surface.FOLLOW
                and user_id is not None
                and pool.follow_buyer is None
                and self._hosts_followed_due(user_id)
            ):
                self._hold_hosts_followed(user_id, read_hosts_followed(session, user_id))
        if self.flush_seconds > 0:
            self._ensure_flusher()

    def _known_buyer(self, session: Session, user_id: int) -> bool:
        """Does this buyer exist? Answered from a bitmap of buyer ids, extended with the ids
        created since it was last read when a larger id turns up."""
        if user_id >= len(self._buyer_ids):
            newer = session.scalars(
                select(Buyer.id).where(Buyer.id >= len(self._buyer_ids)).order_by(Buyer.id)
            ).all()
            session.rollback()
            if newer:
                grown = np.zeros(max(newer[-1] + 1, len(self._buyer_ids)), dtype=bool)
                grown[: len(self._buyer_ids)] = self._buyer_ids
                grown[np.array(newer, dtype=np.int64)] = True
                self._buyer_ids = grown
        return user_id < len(self._buyer_ids) and bool(self._buyer_ids[user_id])

    def _plan(self, session: Session, *, due: bool) -> PlanSnapshot:
        """The plan in force: loaded if it was not, and (``due``) checked for a switch every
        ``refresh_seconds``."""
        now = clock.monotonic()
        snapshot = self._snapshot
        if snapshot is None or (due and now - self._checked > self.refresh_seconds):
            active = session.scalars(
                select(TrafficPlan).where(TrafficPlan.status == PlanStatus.ACTIVE)
            ).first()
            self._checked = now
            if active is None:
                raise NotFound("no traffic plan is active: run `trustflow traffic plan`")
            if snapshot is None or snapshot.plan_id != active.id:
                snapshot = PlanSnapshot.load(session, active)
                with self._lock:
                    self._snapshot = snapshot
                    self._versions[snapshot.plan_id] = snapshot.version
                    self._read_since = EARLIEST  # before anything the store can hold: read it all
                self._read_counters(session)
                if self.freeze_gc:
                    gc.collect()
                    gc.freeze()
        return snapshot

    def _pool(
        self, session: Session, snap: PlanSnapshot, shelf: bool, now: datetime, *, due: bool
    ) -> Pool:
        """What a surface family can show now (live rooms, or cards), and a shortlist drawn
        from it by the plan's softmax × pacing at ``now``. Built when missing, and rebuilt
        (``due``) every ``refresh_seconds``."""
        tick = clock.monotonic()
        cached = self._pools.get(shelf)
        if (
            cached is not None
            and cached.plan_id == snap.plan_id
            and (not due or tick - cached.at <= self.refresh_seconds)
        ):
            return cached
        items = pool_items(snap, shelf, None if shelf else _live_rooms(session), cached, self.rng)
        follow_buyer: IntArray | None = None
        follow_pos: IntArray | None = None
        if not shelf:
            follows = self._follows(session)
            if follows is not None and items.host is not None:
                follow_buyer, follow_pos = self._follow_index(follows, items.host)
        pool = redrawn(
            items,
            snap,
            shelf,
            now,
            self.rng,
            self._lock,
            at=tick,
            follow_buyer=follow_buyer,
            follow_pos=follow_pos,
        )
        self._pools[shelf] = pool
        return pool

    def _follows(self, session: Session) -> tuple[IntArray, IntArray] | None:
        """:func:`.audience.read_follows`, checked every :data:`FOLLOW_REFRESH_SECONDS` and
        read again if the follows changed (:func:`.audience.follows_stamp`)."""
        tick = clock.monotonic()
        if tick - self._follows_at > FOLLOW_REFRESH_SECONDS:
            self._follows_at = tick
            stamp = read_follows_stamp(session)
            if stamp != self._follows_stamp:
                self._follow_list, self._follows_stamp = read_follows(session), stamp
        return self._follow_list

    def _follow_index(
        self, follows: tuple[IntArray, IntArray], host: IntArray
    ) -> tuple[IntArray, IntArray]:
        """:func:`.audience.followed_rooms`, computed again only when the follows or the live
        rooms changed since the last pool."""
        cached = self._follow_index_of
        if cached is not None and cached[0] is follows and np.array_equal(cached[1], host):
            return cached[2]
        index = followed_rooms(follows, host)
        self._follow_index_of = (follows, host, index)
        return index

    def _hosts_followed_due(self, user_id: int) -> bool:
        """Are this buyer's follows, read on their own, not held or held too long?"""
        held = self._hosts_followed.get(user_id)
        return held is None or clock.monotonic() - held[0] > FOLLOW_REFRESH_SECONDS

    def _hold_hosts_followed(self, user_id: int, hosts: IntArray) -> None:
        with self._lock:
            self._hosts_followed.pop(user_id, None)
            if len(self._hosts_followed) >= FOLLOW_LISTS_HELD:
                del self._hosts_followed[next(iter(self._hosts_followed))]
            self._hosts_followed[user_id] = (clock.monotonic(), hosts)

    # -- serving ------------------------------------------------------------------------

    def serve(self, *, user_id: int, surface: Surface, n: int, at: datetime | None = None) -> Feed:
        """What ``user_id`` sees on ``surface`` now (``at``, default the clock): ``n`` items
        at most, drawn under the plan and paced, counted and buffered as served (written by
        :meth:`flush`). Pure computation on memory: the state a request needs is read by
        :meth:`refresh` (``FeedStateMissing`` if it was not)."""
        snap, pool, segment, hour, picked, reward = self._select(user_id, surface, n, at)
        item_kind = ItemKind.PRODUCT_CARD if surface in SHELF_SURFACES else ItemKind.LIVE_SESSION
        chosen = pool.idx[picked]
        tokens = self._tokens(pool, user_id, surface, picked, at)
        items = [
            FeedItem(
                item_kind=item_kind,
                item_id=item_id,
                candidate_kind=KINDS[kind],
                entity_id=entity,
                shop_id=shop or None,
                score=score,
                reward=owed,
                attribution_token=None if token is None else token.decode(),
            )
            for item_id, kind, entity, shop, score, owed, token in zip(
                pool.item_ids[picked].tolist(),
                snap.kind[chosen].tolist(),
                snap.entity_id[chosen].tolist(),
                snap.shop_id[chosen].tolist(),
                snap.score[chosen].tolist(),
                reward,
                tokens,
                strict=True,
            )
        ]
        price = float(snap.price[SURFACES.index(surface), hour, segment])
        return Feed(snap.version, surface, user_id, segment, price, items)

    def serve_json(
        self, *, user_id: int, surface: Surface, n: int, at: datetime | None = None
    ) -> bytes:
        """:meth:`serve`, answered as the feed's JSON (``FeedOut``): the items' JSON is kept
        with the pool, so a request only joins it with the reward flags."""
        snap, pool, segment, hour, picked, reward = self._select(user_id, surface, n, at)
        fragments = pool.fragments
        tokens = self._tokens(pool, user_id, surface, picked, at)
        items = b",".join(
            [
                fragments[p]
                + (_TRUE if r else _FALSE)
                + (_NO_TOKEN if t is None else _TOKEN + t + b'"}')
                for p, r, t in zip(picked, reward, tokens, strict=True)
            ]
        )
        code = SURFACES.index(surface)
        return b"".join(
            (
                snap.json_head[code],
                b"%d" % user_id,
                b',"segment":%d,"price":' % segment,
                snap.price_json[code][hour][segment],
                b',"items":[',
                items,
                b"]}",
            )
        )

    def _tokens(
        self, pool: Pool, user_id: int, surface: Surface, picked: list[int], at: datetime | None
    ) -> list[bytes | None]:
        """Each picked item's attribution token, for this buyer on this surface: what the
        item vouches for, signed, expiring ``signer.lifetime`` from now."""
        signer = self.signer
        if signer is None:
            return [None] * len(picked)
        head = token_head(user_id, surface, signer.expiry(at or utcnow()))
        if surface in SHELF_CHANNEL:
            head += channel_field(SHELF_CHANNEL[surface])
        vouches, sign = pool.vouches, signer.sign_token
        return [sign(head + vouches[p]) for p in picked]

    def _select(
        self, user_id: int, surface: Surface, n: int, at: datetime | None
    ) -> tuple[PlanSnapshot, Pool, int, int, list[int], list[bool]]:
        """The request path shared by both answers: the buyer's segment, the hour (UTC) of
        the plan's price, the items picked (pool positions, in the order shown) and their
        reward flags, counted and buffered for the log."""
        if not 1 <= n <= MAX_ITEMS:
            raise InvalidInput(f"n must be between 1 and {MAX_ITEMS}")
        buyer_ids = self._buyer_ids
        if not (user_id < len(buyer_ids) and buyer_ids[user_id]):
            raise NotFound(f"buyer {user_id} not found")
        snap = self._snapshot
        shelf = surface in SHELF_SURFACES
        pool = self._pools.get(shelf)
        if snap is None or pool is None or pool.plan_id != snap.plan_id:
            raise FeedStateMissing(f"no {surface.value} pool for the plan in force: refresh first")
        now = at or utcnow()
        if surface is Surface.FOLLOW:
            if pool.follow_buyer is not None:
                followed = pool.followed(user_id)
            else:
                held = self._hosts_followed.get(user_id)
                if held is None:
                    raise FeedStateMissing(f"buyer {user_id}'s follows not held: refresh first")
                followed = rooms_followed(snap, pool, held[1])
            picked = follow_page(snap, pool, followed, now, n, self.rng, self._lock)
        else:
            picked = draw(pool, n)
        if not shelf and user_id in snap.precise:
            picked = precise_first(snap, pool, user_id, picked, n, self._lock)
        idx_of = pool.idx_list
        chosen = [idx_of[p] for p in picked]
        item_of = pool.item_list
        promised = pool.promised
        with self._lock:
            reward = [False] * len(picked)
            # whose reward each is: 0 none, CHUANLIU_CODE, else the festival's campaign id
            plan_code = [0] * len(picked)
            for i, p in enumerate(picked):
                if p in promised:  # owed while its reward count is below its promise
                    c = chosen[i]
                    if snap.reward_delivered[c] < snap.promised[c]:
                        reward[i] = True
                        plan_code[i] = snap.reward_plan(c)
                        snap.reward_delivered[c] += 1
            # a host live in two rooms at once is one candidate: add.at counts both
            np.add.at(snap.delivered, chosen, 1)
            self._served.add(
                snap.plan_id,
                SURFACES.index(surface),
                user_id,
                (now - _EPOCH) // _MICROSECOND,
                chosen,
                [item_of[p] for p in picked],
                plan_code,
            )
        return snap, pool, segment_of(user_id, snap.segments), now.hour, picked, reward

    # -- shared state -------------------------------------------------------------------

    def flush(self, session: Session | None = None, *, read: bool = True) -> int:
        """Write buffered impressions and add their counts to the shared counters, in one
        transaction (on ``session``, else one of the server's own); then (``read``) read back
        every counter changed since the last read. The count of impressions written."""
        with self._lock:
            served, self._served = self._served, Served()
            versions = dict(self._versions)
        own = session is None
        s = session or self.factory()
        try:
            if served.size:
                try:
                    rows = served.view()
                    log_served(s, rows, versions)
                    add_counts(s, *served_counts(rows))
                    s.commit()
                except Exception:  # kept buffered, retried next tick
                    s.rollback()
                    with self._lock:
                        served.extend(self._served)
                        self._served = served
                    raise
            if read:
                self._read_counters(s)
        finally:
            if own:
                s.close()
        return served.size

    def _read_counters(self, session: Session) -> None:
        snap = self._snapshot
        if snap is None:
            return
        rows, since = read_counters(session, snap.plan_id, self._read_since)
        with self._lock:
            apply_counters(snap, rows, self._served)
            self._read_since = since

    def _ensure_flusher(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(target=self._flush_loop, daemon=True, name="feed-flush")
            self._thread.start()

    def _flush_loop(self) -> None:
        # each server flushes on its own jittered beat: servers that started together do
        # not keep writing at the same moment
        beat = np.random.default_rng()
        read_at = clock.monotonic()
        while not self._stop.wait(self.flush_seconds * beat.uniform(0.75, 1.25)):
            try:
                self.flush(read=False)
                if clock.monotonic() - read_at >= self.refresh_seconds:
                    read_at = clock.monotonic()
                    with self.factory() as session:
                        self.refresh(session)
            except Exception:  # kept buffered, retried next tick
                continue

    def close(self) -> None:
        """Stop the background loop and write what is still buffered."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._snapshot is not None:
            self.flush()
