"""Feed serving: one request (user, surface, n) → ranked items, under the active plan.

The plan (:mod:`trustflow.traffic.plan`) gives each candidate a score in value units
(``value × trust + potential``: the potential lifts promised candidates and holds back capped
ones) and each node (surface, hour, segment) a price. Within a node the plan shares
impressions by ``exp(score / temperature)``, so serving draws its ``n`` items by that softmax
(Gumbel top-k, without replacement), times a **pacing** factor that keeps each candidate on
its planned schedule through the day: ``(planned so far + c) / (delivered + c)``, where
"planned so far" follows the day's supply curve minute by minute. Promised candidates also
pace on their reward schedule, and their impressions count as reward traffic until the
promise is met.

Pacing state is shared by every worker and host: served counts are added to
``traffic_pacing_counters`` with atomic increments (``delivered = delivered + n``), and each
server reads back the rows changed since its last read. Servers batch their increments and
their impression log rows for at most ``traffic_flush_seconds`` (0: flush within the request),
so the shared state is at most that stale, and a process holds no pacing state of its own
beyond counts not yet flushed. The same background loop refreshes what a warm server holds
(the plan, the live rooms, the follow list), so requests are computed from memory.
"""

from __future__ import annotations

import gc
import itertools
import json
import threading
import time as clock
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import func, select, text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from trustflow.accounts.models import Buyer, Follow
from trustflow.bulk import Labels, copy_columns, int_rows, sorted_lookup, table
from trustflow.content.models import LiveSession, LiveStatus
from trustflow.db import utcnow
from trustflow.errors import InvalidInput, NotFound
from trustflow.orders.models import Order
from trustflow.traffic.chuanliu.rules import PLAN as CHUANLIU
from trustflow.traffic.models import Impression
from trustflow.traffic.plan.models import (
    CandidateKind,
    PacingCounter,
    PlanCandidate,
    PlanNode,
    PlanStatus,
    TrafficPlan,
)
from trustflow.traffic.plan.service import HOURS, KINDS, SURFACES
from trustflow.types import EARLIEST
from trustflow.vocabulary import SHELF_SURFACES, Channel, ItemKind, Surface

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

MAX_ITEMS = 50
#: pseudo-impressions that keep pacing calm while counts are small
PACE_DAMPING = 20.0
PACE_RANGE = (0.1, 10.0)
#: draws per pool refresh from which requests pick uniformly (two-stage sampling)
SHORTLIST = 1024
#: counters stamped by transactions that were still open at a read may carry an earlier stamp
_READ_OVERLAP = timedelta(seconds=2)
#: the served counts added to the shared counters in one statement (arrays in, sorted)
_ADD_COUNTS_PG = text(
    """
    INSERT INTO traffic_pacing_counters (plan_id, idx, delivered, reward_delivered, updated_at)
    SELECT plan_id, idx, delivered, reward_delivered, :now
    FROM unnest(
        CAST(:plan AS bigint[]), CAST(:idx AS int[]),
        CAST(:delivered AS bigint[]), CAST(:reward AS bigint[])
    ) AS served (plan_id, idx, delivered, reward_delivered)
    ON CONFLICT (plan_id, idx) DO UPDATE SET
        delivered = traffic_pacing_counters.delivered + excluded.delivered,
        reward_delivered = traffic_pacing_counters.reward_delivered + excluded.reward_delivered,
        updated_at = excluded.updated_at
    """
)
_SHOP_ROOM = KINDS.index(CandidateKind.SHOP_ROOM)
_CREATOR_ROOM = KINDS.index(CandidateKind.CREATOR_ROOM)
_CARD = KINDS.index(CandidateKind.PRODUCT_CARD)


_COUNTERS = table(PacingCounter)
_IMPRESSIONS = table(Impression)
_SURFACE_VALUES = [s.value for s in SURFACES]
_SHELF_CODES = np.array([i for i, s in enumerate(SURFACES) if s in SHELF_SURFACES])
_ITEM_KINDS = [ItemKind.LIVE_SESSION.value, ItemKind.PRODUCT_CARD.value]  # rooms, cards
#: how an item's JSON fragment ends, by its reward flag
_TRUE, _FALSE = b"true}", b"false}"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


class _Served:
    """Impressions served and not flushed yet: a request adds one row of its own (plan,
    surface, buyer, time, how many items) and its items to a few lists; :meth:`view` lays
    the lot out as columns, one row per impression, for the flush's one COPY."""

    def __init__(self) -> None:
        self.size = 0
        self._requests: list[tuple[int, int, int, int, int]] = []
        self._idx: list[int] = []  # candidate index in the plan
        self._item_id: list[int] = []
        self._reward: list[bool] = []

    def add(
        self,
        plan_id: int,
        surface: int,
        buyer_id: int,
        shown_at_us: int,
        idx: list[int],
        item_ids: list[int],
        reward: list[bool],
    ) -> None:
        self._requests.append((plan_id, surface, buyer_id, shown_at_us, len(idx)))
        self._idx += idx
        self._item_id += item_ids
        self._reward += reward
        self.size += len(idx)

    def view(self) -> dict[str, npt.NDArray[Any]]:
        """One entry per impression: ``plan_id``, ``idx``, ``surface`` (index into
        SURFACES), ``item_id``, ``buyer_id``, ``shown_at`` (UTC, microseconds), ``reward``."""
        requests = np.array(self._requests, dtype=np.int64).reshape(-1, 5)
        per_request = {
            name: np.repeat(requests[:, col], requests[:, 4])
            for col, name in enumerate(("plan_id", "surface", "buyer_id", "shown_at"))
        }
        return {
            "plan_id": per_request["plan_id"],
            "idx": np.array(self._idx, dtype=np.int64),
            "surface": per_request["surface"],
            "item_id": np.array(self._item_id, dtype=np.int64),
            "buyer_id": per_request["buyer_id"],
            "shown_at": per_request["shown_at"].astype("datetime64[us]"),
            "reward": np.array(self._reward, dtype=np.bool_),
        }

    def extend(self, other: _Served) -> None:
        self._requests += other._requests
        self._idx += other._idx
        self._item_id += other._item_id
        self._reward += other._reward
        self.size += other.size


def _log_served(
    session: Session, rows: dict[str, npt.NDArray[Any]], versions: dict[int, str]
) -> None:
    """Append served impressions to the log (one binary COPY on PostgreSQL)."""
    plans, plan_code = np.unique(rows["plan_id"], return_inverse=True)
    reward = rows["reward"]
    copy_columns(
        session,
        _IMPRESSIONS,
        {
            "surface": Labels(rows["surface"], _SURFACE_VALUES),
            "item_kind": Labels(
                np.isin(rows["surface"], _SHELF_CODES).astype(np.int64), _ITEM_KINDS
            ),
            "item_id": rows["item_id"],
            "buyer_id": rows["buyer_id"],
            "shown_at": rows["shown_at"],
            "count": 1,
            "is_reward": reward,
            "reward_plan": Labels(reward.astype(np.int64), [None, CHUANLIU]),
            "plan_version": Labels(
                plan_code.astype(np.int64), [versions[p] for p in plans.tolist()]
            ),
        },
        rows=len(reward),
    )


def _served_counts(
    rows: dict[str, npt.NDArray[Any]],
) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """Served impressions summed per (plan, candidate), sorted: (plan, idx, delivered,
    reward delivered)."""
    key = rows["plan_id"] << 32 | rows["idx"]
    keys, inverse = np.unique(key, return_inverse=True)
    delivered = np.bincount(inverse, minlength=len(keys)).astype(np.int64)
    reward = np.bincount(inverse, weights=rows["reward"], minlength=len(keys)).astype(np.int64)
    return keys >> 32, keys & 0xFFFFFFFF, delivered, reward


#: days of distribution orders that define a promised owner's precise audience
PRECISE_DAYS = 30
#: most (buyer, room) pairs a server holds for precise targeting
PRECISE_PAIRS = 2_000_000
#: most follows a server holds for the follow page; beyond, it reads each request's follow
#: list from the store
FOLLOW_PAIRS = 5_000_000
#: seconds between reads of the follows (a new follow, or an unfollow, shows within this)
FOLLOW_REFRESH_SECONDS = 10.0


def _precise_audience(session: Session, snap: PlanSnapshot, day: date) -> dict[int, list[int]]:
    """Buyers who bought a promised owner's goods through creators in the last
    :data:`PRECISE_DAYS` days, and the fans of those creators (buyers like them: the customer
    group distribution found), each mapped to the owner's room. Reward traffic goes to them
    first (docs/traffic.md)."""
    rooms = {
        int(e): i
        for i, (k, e) in enumerate(zip(snap.kind.tolist(), snap.entity_id.tolist(), strict=True))
        if k == _SHOP_ROOM and snap.promised[i] > 0
    }
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


def _host_key(shop_id: IntArray, creator_id: IntArray) -> IntArray:
    """One integer per host: a shop (its rooms are shop rooms) or a creator (0: none)."""
    return np.where(shop_id > 0, 2 * shop_id + 1, 2 * creator_id)


def _read_follows(session: Session) -> tuple[IntArray, IntArray] | None:
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
    return rows[:, 0], _host_key(rows[:, 1], rows[:, 2])


def _followed_rooms(
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


def segment_of(user_id: int, segments: int) -> int:
    """A buyer's audience segment: a stable hash bucket (Fibonacci hashing)."""
    return (((user_id * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF) >> 40) % segments


@dataclass
class PlanSnapshot:
    """One plan, loaded once per process (plans never change once stored)."""

    plan_id: int
    version: str
    segments: int
    temperature: float
    kind: IntArray
    entity_id: IntArray
    shop_id: IntArray
    score: FloatArray
    planned: FloatArray
    promised: FloatArray
    price: FloatArray  # (surfaces, hours, segments)
    #: cumulative share of the day's supply by minute, for rooms and for cards
    day_curve: dict[bool, FloatArray]
    index: dict[tuple[int, int], int]
    cards: IntArray  # the product cards, best score first
    #: the Chuanliu plan's precise audience (精准人群): buyer → promised rooms it goes to first
    precise: dict[int, list[int]] = field(default_factory=dict)
    delivered: FloatArray = field(init=False)
    reward_delivered: FloatArray = field(init=False)

    def __post_init__(self) -> None:
        self.delivered = np.zeros(len(self.kind))
        self.reward_delivered = np.zeros(len(self.kind))
        # rooms by host key, for looking up many live rooms at once (cards: no host, -1)
        shop_room, creator_room = self.kind == _SHOP_ROOM, self.kind == _CREATOR_ROOM
        host = np.where(
            shop_room | creator_room,
            _host_key(self.entity_id * shop_room, self.entity_id * creator_room),
            -1,
        )
        self._host_order = np.argsort(host, kind="stable")
        self._host_sorted = host[self._host_order]
        # the feed's JSON up to the user id, by surface, and its prices, by surface, hour
        # and segment (floats as JSON writes them: their shortest repr)
        version = json.dumps(self.version)
        self.json_head = [
            f'{{"plan_version":{version},"surface":{json.dumps(s.value)},"user_id":'.encode()
            for s in SURFACES
        ]
        self.price_json = [
            [[repr(p).encode() for p in hour] for hour in surface]
            for surface in self.price.tolist()
        ]

    def item_fragments(self, idx: IntArray, item_ids: IntArray, *, shelf: bool) -> list[bytes]:
        """Each item's JSON as the feed shows it (``FeedItemOut``), up to its reward flag."""
        head = '{"item_kind":' + json.dumps(_ITEM_KINDS[int(shelf)]) + ',"item_id":'
        kinds = [json.dumps(k.value) for k in KINDS]
        return [
            f'{head}{item},"candidate_kind":{kinds[kind]},"entity_id":{entity},'
            f'"shop_id":{shop or "null"},"score":{score!r},"reward":'.encode()
            for item, kind, entity, shop, score in zip(
                item_ids.tolist(),
                self.kind[idx].tolist(),
                self.entity_id[idx].tolist(),
                self.shop_id[idx].tolist(),
                self.score[idx].tolist(),
                strict=True,
            )
        ]

    def rooms_of(self, host: IntArray) -> IntArray:
        """The candidate index of each host's room (see :func:`_host_key`), -1 if none."""
        return sorted_lookup(self._host_sorted, host, self._host_order)

    @classmethod
    def load(cls, session: Session, plan: TrafficPlan) -> PlanSnapshot:
        rows = session.execute(
            select(
                PlanCandidate.idx,
                PlanCandidate.kind,
                PlanCandidate.entity_id,
                PlanCandidate.shop_id,
                PlanCandidate.value_fen,
                PlanCandidate.multiplier,
                PlanCandidate.potential,
                PlanCandidate.planned_impressions,
                PlanCandidate.promised_impressions,
            )
            .where(PlanCandidate.plan_id == plan.id)
            .order_by(PlanCandidate.idx)
        ).all()
        codes = {k: i for i, k in enumerate(KINDS)}
        kind = np.array([codes[r[1]] for r in rows], dtype=np.int64)
        entity = np.array([r[2] for r in rows], dtype=np.int64)
        shop = np.array([r[3] or 0 for r in rows], dtype=np.int64)
        score = np.array([r[4] * r[5] + r[6] for r in rows], dtype=np.float64)
        price = np.zeros((len(SURFACES), HOURS, plan.segments))
        supply = np.zeros((len(SURFACES), HOURS))
        order = {s: i for i, s in enumerate(SURFACES)}
        for surface, hour, segment, sup, pr in session.execute(
            select(
                PlanNode.surface, PlanNode.hour, PlanNode.segment, PlanNode.supply, PlanNode.price
            ).where(PlanNode.plan_id == plan.id)
        ):
            price[order[surface], hour, segment] = pr
            supply[order[surface], hour] += sup
        shelf = np.array([s in SHELF_SURFACES for s in SURFACES])
        curves = {}
        for is_shelf in (False, True):
            per_hour = supply[shelf == is_shelf].sum(axis=0)
            per_minute = np.repeat(per_hour / 60.0, 60)
            total = per_minute.sum()
            curves[is_shelf] = (
                np.cumsum(per_minute) / total if total > 0 else np.linspace(0, 1, 24 * 60)
            )
        cards = np.flatnonzero(kind == _CARD)
        snapshot = cls(
            plan_id=plan.id,
            version=plan.version,
            segments=plan.segments,
            temperature=max(plan.temperature, 1e-9),
            kind=kind,
            entity_id=entity,
            shop_id=shop,
            score=score,
            planned=np.array([r[7] for r in rows], dtype=np.float64),
            promised=np.array([r[8] for r in rows], dtype=np.float64),
            price=price,
            day_curve=curves,
            index={(int(k), int(e)): i for i, (k, e) in enumerate(zip(kind, entity, strict=True))},
            cards=cards[np.argsort(-score[cards], kind="stable")],
        )
        snapshot.precise = _precise_audience(session, snapshot, plan.plan_day)
        return snapshot

    def pace(
        self, idx: IntArray, now: datetime, shelf: bool
    ) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
        """Log pacing factor per candidate, and whether each is still owed reward traffic."""
        minute = now.hour * 60 + now.minute
        share = float(self.day_curve[shelf][minute])
        planned = self.planned[idx] * share
        pace = (planned + PACE_DAMPING) / (self.delivered[idx] + PACE_DAMPING)
        promised = self.promised[idx]
        owed = self.reward_delivered[idx] < promised
        reward_pace = (promised * share + PACE_DAMPING) / (
            self.reward_delivered[idx] + PACE_DAMPING
        )
        pace = np.where(owed, np.maximum(pace, reward_pace), pace)
        return np.log(np.clip(pace, *PACE_RANGE)), owed


class _Draws:
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
class _Pool:
    """What a surface family can show now, best score first: position ``p`` of the pool is
    candidate ``idx[p]`` showing item ``item_ids[p]``, so a set of positions sorted is
    ordered by score."""

    plan_id: int
    at: float
    idx: IntArray  # candidate index per poolable item
    item_ids: IntArray  # live session id or product id
    #: picks for the requests from the shortlist (positions drawn by weight, with replacement)
    draws: _Draws
    position: IntArray  # candidate index -> position in idx (-1: not in the pool)
    #: the same per position as Python objects, for the request path: candidate index, item
    #: id, and the item's JSON as the feed shows it, up to its reward flag
    idx_list: list[int] = field(default_factory=list)
    item_list: list[int] = field(default_factory=list)
    fragments: list[bytes] = field(default_factory=list)
    #: positions whose candidate has a reward promise (their reward flag is looked up)
    promised: frozenset[int] = frozenset()
    #: rooms: the live rooms as read (session id, shop, creator), and each item's host key
    live: IntArray | None = None
    host: IntArray | None = None
    #: the follow page's index: buyers (sorted) and the position of a live room each follows;
    #: None when the follows were too many to hold (the page then reads the store)
    follow_buyer: IntArray | None = None
    follow_pos: IntArray | None = None

    def followed(self, user_id: int) -> IntArray:
        """Positions of the live rooms ``user_id`` follows (from the follow index)."""
        assert self.follow_buyer is not None and self.follow_pos is not None
        lo, hi = np.searchsorted(self.follow_buyer, [user_id, user_id + 1])
        return self.follow_pos[lo:hi]  # a (buyer, room) pair is one follow: no repeats


@dataclass(frozen=True)
class FeedItem:
    item_kind: ItemKind
    item_id: int
    candidate_kind: CandidateKind
    entity_id: int
    shop_id: int | None
    score: float
    reward: bool


@dataclass(frozen=True)
class Feed:
    plan_version: str
    surface: Surface
    user_id: int
    segment: int
    price: float
    items: list[FeedItem]


class FeedServer:
    """Serves feeds from the active plan; one per process, shared by its request threads."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        *,
        flush_seconds: float = 0.0,
        refresh_seconds: float = 1.0,
        seed: int | None = None,
        freeze_gc: bool = False,
    ) -> None:
        self.factory = factory
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
        self._pools: dict[bool, _Pool] = {}
        #: which buyer ids exist (buyers are never deleted; new ones get higher ids)
        self._buyer_ids = np.zeros(0, dtype=bool)
        self._served = _Served()
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

    # -- state --------------------------------------------------------------------------

    def needs_store(self, user_id: int, surface: Surface) -> bool:
        """Would serving this request read the store (the follow list, a new buyer id, state
        not loaded yet)? If not, it is pure computation on this process's state. A server
        that flushes in the background also refreshes its plan and pools there, so only a
        synchronous one (``flush_seconds`` 0) reads the store for a refresh that is due."""
        pool = self._pools.get(surface in SHELF_SURFACES)
        if (
            user_id >= len(self._buyer_ids)
            or self._snapshot is None
            or pool is None
            or pool.plan_id != self._snapshot.plan_id
            or (surface is Surface.FOLLOW and pool.follow_buyer is None)
        ):
            return True
        if self.flush_seconds > 0:
            return False
        tick = clock.monotonic()
        return tick - self._checked > self.refresh_seconds or tick - pool.at > self.refresh_seconds

    def snapshot(self, session: Session | None, *, due: bool = True) -> PlanSnapshot:
        """The plan in force, as this process holds it. With a session it is loaded if it
        was not, and (``due``) checked for a switch every ``refresh_seconds``."""
        now = clock.monotonic()
        if session is not None and (
            self._snapshot is None or (due and now - self._checked > self.refresh_seconds)
        ):
            active = session.scalars(
                select(TrafficPlan).where(TrafficPlan.status == PlanStatus.ACTIVE)
            ).first()
            self._checked = now
            if active is None:
                raise NotFound("no traffic plan is active: run `trustflow traffic plan`")
            if self._snapshot is None or self._snapshot.plan_id != active.id:
                snapshot = PlanSnapshot.load(session, active)
                with self._lock:
                    self._snapshot = snapshot
                    self._versions[snapshot.plan_id] = snapshot.version
                    self._read_since = EARLIEST  # before anything the store can hold: read it all
                self._read_counters(session)
                if self.freeze_gc:
                    gc.collect()
                    gc.freeze()
        assert self._snapshot is not None
        return self._snapshot

    def _pool(
        self,
        session: Session | None,
        snap: PlanSnapshot,
        shelf: bool,
        now: datetime,
        *,
        due: bool = True,
    ) -> _Pool:
        """What a surface family can show now (live rooms, or cards), and a shortlist drawn
        from it by the plan's softmax × pacing. Built with a session when missing, and
        rebuilt (``due``) every ``refresh_seconds``."""
        tick = clock.monotonic()
        cached = self._pools.get(shelf)
        if (
            cached is not None
            and cached.plan_id == snap.plan_id
            and (session is None or not due or tick - cached.at <= self.refresh_seconds)
        ):
            return cached
        assert session is not None, "a pool is built from the store"
        base = self._items(session, snap, shelf, cached)
        follow_buyer: IntArray | None = None
        follow_pos: IntArray | None = None
        if not shelf:
            follows = self._follows(session)
            if follows is not None and base.host is not None:
                follow_buyer, follow_pos = self._follow_index(follows, base.host)
        idx = base.idx
        shortlist = np.zeros(0, dtype=np.int64)
        if len(idx):
            with self._lock:
                log_pace, _ = snap.pace(idx, now, shelf)
            logits = snap.score[idx] / snap.temperature + log_pace
            p = np.exp(logits - logits.max())
            p /= p.sum()
            shortlist = self.rng.choice(len(idx), size=SHORTLIST, p=p)
        pool = replace(
            base,
            at=tick,
            draws=_Draws(shortlist, self.rng),
            follow_buyer=follow_buyer,
            follow_pos=follow_pos,
        )
        self._pools[shelf] = pool
        return pool

    def _items(
        self, session: Session, snap: PlanSnapshot, shelf: bool, cached: _Pool | None
    ) -> _Pool:
        """A pool's items, best score first, with what requests read of them (no shortlist
        yet): the cached pool's when the plan and, for rooms, the live rooms are as they
        were, so a refresh that finds nothing new only redraws the shortlist."""
        same_plan = cached is not None and cached.plan_id == snap.plan_id
        if shelf:
            if same_plan:
                assert cached is not None
                return cached
            idx = snap.cards  # best score first
            item_ids = snap.entity_id[idx]
            live = host = None
            position = np.zeros(0, dtype=np.int64)
            fragments = snap.item_fragments(idx, item_ids, shelf=True)
        else:
            live = int_rows(
                session,
                select(LiveSession.id, LiveSession.shop_id, LiveSession.creator_id)
                .where(LiveSession.status == LiveStatus.LIVE)
                .order_by(LiveSession.id),
            )
            session.rollback()
            if (
                same_plan
                and cached is not None
                and cached.live is not None
                and np.array_equal(cached.live, live)
            ):
                return cached
            item_ids, host = live[:, 0], _host_key(live[:, 1], live[:, 2])
            idx = snap.rooms_of(host)
            keep = np.flatnonzero(idx >= 0)
            # best score first (stable), as the cards: positions sorted are in score order
            by_score = np.argsort(-snap.score[idx[keep]], kind="stable")
            item_ids, idx, host = (a[keep][by_score] for a in (item_ids, idx, host))
            position = np.full(len(snap.kind), -1, dtype=np.int64)
            position[idx] = np.arange(len(idx))
            fragments = snap.item_fragments(idx, item_ids, shelf=False)
        return _Pool(
            snap.plan_id,
            clock.monotonic(),
            idx,
            item_ids,
            _Draws(np.zeros(0, dtype=np.int64), self.rng),  # drawn by the caller
            position,
            idx_list=idx.tolist(),
            item_list=item_ids.tolist(),
            fragments=fragments,
            promised=frozenset(np.flatnonzero(snap.promised[idx] > 0).tolist()),
            live=live,
            host=host,
        )

    def _draw(self, pool: _Pool, n: int) -> list[int]:
        """``n`` distinct positions of the pool: uniform over the shortlist, which was drawn
        by the plan's weights (two-stage sampling), in score order."""
        if len(pool.idx_list) <= n:
            return list(range(len(pool.idx_list)))
        distinct = list(dict.fromkeys(pool.draws.take(8 * n)))[:n]
        if len(distinct) < n:  # a shortlist dominated by a few: fill by score
            taken = set(distinct)
            best = (p for p in range(len(pool.idx_list)) if p not in taken)
            distinct += itertools.islice(best, n - len(distinct))
        distinct.sort()
        return distinct

    def _precise_first(
        self, snap: PlanSnapshot, pool: _Pool, user_id: int, picked: list[int], n: int
    ) -> list[int]:
        """Promised rooms still owed reward traffic, live now and with this buyer in their
        precise audience, go first."""
        rooms = np.array(snap.precise[user_id], dtype=np.int64)
        at = pool.position[rooms]
        with self._lock:
            owed = snap.reward_delivered[rooms] < snap.promised[rooms]
        first: list[int] = at[(at >= 0) & owed].tolist()
        if not first:
            return picked
        rest = [p for p in picked if p not in first]
        return (first + rest)[:n]

    def _followed(
        self,
        session: Session | None,
        snap: PlanSnapshot,
        pool: _Pool,
        user_id: int,
        now: datetime,
        n: int,
    ) -> list[int]:
        """The follow page: live rooms of hosts the user follows, by the plan's weights, in
        score order. The rooms come from the pool's follow index, else from the user's
        follow list."""
        if pool.follow_buyer is not None:
            picked = pool.followed(user_id)
        else:
            assert session is not None, "without a follow index the page reads the follow list"
            followed = session.execute(
                select(Follow.creator_id, Follow.shop_id).where(Follow.buyer_id == user_id)
            ).all()
            hosts = np.array([[sh or 0, c or 0] for c, sh in followed], dtype=np.int64)
            hosts = hosts.reshape(-1, 2)
            wanted = snap.rooms_of(_host_key(hosts[:, 0], hosts[:, 1]))
            picked = np.flatnonzero(np.isin(pool.idx, wanted))
        if len(picked) > n:
            with self._lock:
                log_pace, _ = snap.pace(pool.idx[picked], now, False)
            logits = snap.score[pool.idx[picked]] / snap.temperature + log_pace
            logits += self.rng.gumbel(size=len(picked))
            picked = picked[np.argsort(-logits)[:n]]
        positions: list[int] = picked.tolist()
        return sorted(positions)

    def _known_buyer(self, session: Session | None, user_id: int) -> bool:
        """Does this buyer exist? Answered from a bitmap of buyer ids, extended with the ids
        created since it was last read when a larger id turns up."""
        if session is not None and user_id >= len(self._buyer_ids):
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

    # -- serving ------------------------------------------------------------------------

    def serve(
        self,
        session: Session | None,
        *,
        user_id: int,
        surface: Surface,
        n: int,
        at: datetime | None = None,
    ) -> Feed:
        """What ``user_id`` sees on ``surface`` now (``at``, default the clock): ``n`` items
        at most, drawn under the plan and paced, counted and logged as served. With a
        session, whatever the server does not hold yet is read from the store."""
        snap, pool, segment, hour, picked, reward = self._select(session, user_id, surface, n, at)
        item_kind = ItemKind.PRODUCT_CARD if surface in SHELF_SURFACES else ItemKind.LIVE_SESSION
        chosen = pool.idx[picked]
        items = [
            FeedItem(
                item_kind=item_kind,
                item_id=item_id,
                candidate_kind=KINDS[kind],
                entity_id=entity,
                shop_id=shop or None,
                score=score,
                reward=owed,
            )
            for item_id, kind, entity, shop, score, owed in zip(
                pool.item_ids[picked].tolist(),
                snap.kind[chosen].tolist(),
                snap.entity_id[chosen].tolist(),
                snap.shop_id[chosen].tolist(),
                snap.score[chosen].tolist(),
                reward,
                strict=True,
            )
        ]
        price = float(snap.price[SURFACES.index(surface), hour, segment])
        return Feed(snap.version, surface, user_id, segment, price, items)

    def serve_json(
        self,
        session: Session | None,
        *,
        user_id: int,
        surface: Surface,
        n: int,
        at: datetime | None = None,
    ) -> bytes:
        """:meth:`serve`, answered as the feed's JSON (``FeedOut``): the items' JSON is kept
        with the pool, so a request only joins it with the reward flags."""
        snap, pool, segment, hour, picked, reward = self._select(session, user_id, surface, n, at)
        fragments = pool.fragments
        items = b",".join(
            [fragments[p] + (_TRUE if r else _FALSE) for p, r in zip(picked, reward, strict=True)]
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

    def _select(
        self,
        session: Session | None,
        user_id: int,
        surface: Surface,
        n: int,
        at: datetime | None,
    ) -> tuple[PlanSnapshot, _Pool, int, int, list[int], list[bool]]:
        """The request path shared by both answers: the buyer's segment, the hour (UTC) of
        the plan's price, the items picked (pool positions, in the order shown) and their
        reward flags, counted and buffered for the log."""
        if not 1 <= n <= MAX_ITEMS:
            raise InvalidInput(f"n must be between 1 and {MAX_ITEMS}")
        if not self._known_buyer(session, user_id):
            raise NotFound(f"buyer {user_id} not found")
        now = at or utcnow()
        inline = self.flush_seconds <= 0  # else the background loop refreshes
        snap = self.snapshot(session, due=inline)
        segment = segment_of(user_id, snap.segments)
        shelf = surface in SHELF_SURFACES
        pool = self._pool(session, snap, shelf, now, due=inline)
        if surface is Surface.FOLLOW:
            picked = self._followed(session, snap, pool, user_id, now, n)
        else:
            picked = self._draw(pool, n)
        if not shelf and user_id in snap.precise:
            picked = self._precise_first(snap, pool, user_id, picked, n)
        idx_of = pool.idx_list
        chosen = [idx_of[p] for p in picked]
        item_of = pool.item_list
        promised = pool.promised
        with self._lock:
            reward = [False] * len(picked)
            for i, p in enumerate(picked):
                if p in promised:  # owed while its reward count is below its promise
                    c = chosen[i]
                    if snap.reward_delivered[c] < snap.promised[c]:
                        reward[i] = True
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
                reward,
            )
        if inline:
            self.flush(session or None)
        else:
            self._ensure_flusher()
        return snap, pool, segment, now.hour, picked, reward

    # -- shared state -------------------------------------------------------------------

    def flush(self, session: Session | None = None, *, read: bool = True) -> int:
        """Write buffered impressions and add their counts to the shared counters, in one
        transaction; then (``read``) read back every counter changed since the last read."""
        with self._lock:
            served, self._served = self._served, _Served()
            versions = dict(self._versions)
        own = session is None
        s = session or self.factory()
        try:
            if served.size:
                try:
                    rows = served.view()
                    _log_served(s, rows, versions)
                    self._add_counts(s, *_served_counts(rows))
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

    @staticmethod
    def _add_counts(
        session: Session, plan: IntArray, idx: IntArray, delivered: IntArray, reward: IntArray
    ) -> None:
        """Atomic increments of the shared counters, in (plan, idx) order: every server
        takes the row locks in one order."""
        now = utcnow()
        if session.get_bind().dialect.name == "postgresql":
            session.execute(
                _ADD_COUNTS_PG,
                {
                    "plan": plan.tolist(),
                    "idx": idx.tolist(),
                    "delivered": delivered.tolist(),
                    "reward": reward.tolist(),
                    "now": now,
                },
            )
            return
        ins = sqlite_insert(_COUNTERS)
        session.connection().execute(
            ins.on_conflict_do_update(
                index_elements=["plan_id", "idx"],
                set_={
                    "delivered": _COUNTERS.c.delivered + ins.excluded.delivered,
                    "reward_delivered": _COUNTERS.c.reward_delivered
                    + ins.excluded.reward_delivered,
                    "updated_at": ins.excluded.updated_at,
                },
            ),
            [
                {"plan_id": p, "idx": i, "delivered": d, "reward_delivered": r, "updated_at": now}
                for p, i, d, r in zip(
                    plan.tolist(), idx.tolist(), delivered.tolist(), reward.tolist(), strict=True
                )
            ],
        )

    def _read_counters(self, session: Session) -> None:
        snap = self._snapshot
        if snap is None:
            return
        since = self._read_since
        started = utcnow()
        rows = int_rows(
            session,
            select(_COUNTERS.c.idx, _COUNTERS.c.delivered, _COUNTERS.c.reward_delivered).where(
                _COUNTERS.c.plan_id == snap.plan_id, _COUNTERS.c.updated_at >= since
            ),
        )
        session.rollback()
        idx = rows[:, 0]
        with self._lock:
            # the store's totals, plus what this server served and has not flushed yet
            snap.delivered[idx] = rows[:, 1]
            snap.reward_delivered[idx] = rows[:, 2]
            read = np.zeros(len(snap.delivered), dtype=bool)
            read[idx] = True
            pending = self._served.view()
            mine = pending["plan_id"] == snap.plan_id
            mine[mine] = read[pending["idx"][mine]]
            np.add.at(snap.delivered, pending["idx"][mine], 1)
            np.add.at(snap.reward_delivered, pending["idx"][mine], pending["reward"][mine])
            # rows stamped by transactions still open now may carry an earlier stamp
            self._read_since = started - _READ_OVERLAP

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
                    self.refresh()
            except Exception:  # kept buffered, retried next tick
                continue

    def refresh(self) -> None:
        """Read back the shared counters, and bring the plan and the pools served so far up
        to date if they are due (the background loop's second job, every
        ``refresh_seconds``: requests then never wait for a refresh)."""
        if self._snapshot is None:
            return
        with self.factory() as session:
            self._read_counters(session)
            snap = self.snapshot(session)
            now = utcnow()
            for shelf in list(self._pools):
                self._pool(session, snap, shelf, now)

    def _follow_index(
        self, follows: tuple[IntArray, IntArray], host: IntArray
    ) -> tuple[IntArray, IntArray]:
        """:func:`_followed_rooms`, computed again only when the follows or the live rooms
        changed since the last pool."""
        cached = self._follow_index_of
        if cached is not None and cached[0] is follows and np.array_equal(cached[1], host):
            return cached[2]
        index = _followed_rooms(follows, host)
        self._follow_index_of = (follows, host, index)
        return index

    def _follows(self, session: Session) -> tuple[IntArray, IntArray] | None:
        """:func:`_read_follows`, checked every :data:`FOLLOW_REFRESH_SECONDS` and read
        again if the follows changed: follows are only ever added (with a new id) or
        deleted, so their count and the sum of their ids change with every change."""
        tick = clock.monotonic()
        if tick - self._follows_at > FOLLOW_REFRESH_SECONDS:
            self._follows_at = tick
            stamp = tuple(session.execute(select(func.count(), func.sum(Follow.id))).one())
            session.rollback()
            if stamp != self._follows_stamp:
                self._follow_list, self._follows_stamp = _read_follows(session), stamp
        return self._follow_list

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._snapshot is not None:
            self.flush()
