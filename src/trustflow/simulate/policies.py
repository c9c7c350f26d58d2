"""Feed policies: how much of a surface's traffic each candidate gets.

A policy sees the candidates of one surface (live rooms, short videos or product cards) and
returns a non-negative weight per candidate; the surface then shows candidates in proportion
to their weights. This is the narrow interface between traffic and whoever serves it (the
API's feed, the simulator): a smarter policy replaces the baseline without either changing.

A policy that pays for reward traffic says which part of each weight is reward
(:attr:`Allocation.reward_weights`); the server logs that share of the impressions as reward,
under the policy's ``reward_plan``. A policy that paces promised traffic needs to hear back
from the server, through two optional methods (:class:`PacedPolicy`): ``begin_batch`` before
each batch of traffic, with the batch's share of the day's supply, and ``observe`` with what
each surface showed. Servers call them only when the policy has them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

import numpy as np
import numpy.typing as npt
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from trustflow.bulk import IntArray, sorted_lookup, table
from trustflow.config import Settings
from trustflow.orders.models import Order, OrderStatus
from trustflow.simulate.pacing import Pacer
from trustflow.traffic.chuanliu import ledger, rules
from trustflow.traffic.chuanliu.models import PartyKind
from trustflow.vocabulary import ItemKind, Surface

__all__ = [
    "REWARD_SURFACES",
    "Allocation",
    "BaselinePolicy",
    "Candidates",
    "ChuanliuPolicy",
    "FeedPolicy",
    "PacedPolicy",
    "Shown",
    "UniformPolicy",
]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Candidates:
    """What a surface could show now. ``shop_id`` is the goods owner (0 for a creator's room
    selling many owners' goods); ``creator_id`` is the host creator (0 for a shop's own)."""

    surface: Surface
    item_kind: ItemKind
    item_id: IntArray
    shop_id: IntArray
    creator_id: IntArray
    product_id: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.item_id)


@dataclass(frozen=True)
class Allocation:
    """Weights per candidate, and which of their traffic is reward traffic (and whose plan
    pays for it).

    ``reward_weights`` is the part of each weight that is reward traffic
    (0 ≤ reward_weights ≤ weights): a candidate's impressions are reward impressions with
    probability ``reward_weights / weights``. ``reward_mask`` is the coarse form: all of a
    masked candidate's impressions are reward. Without either, all traffic is organic.
    """

    weights: FloatArray
    reward_plan: str | None = None
    reward_mask: npt.NDArray[np.bool_] | None = None
    reward_weights: FloatArray | None = None

    def reward_part(self) -> FloatArray:
        """The reward part of each weight, from ``reward_weights`` or ``reward_mask``."""
        weights = np.asarray(self.weights, dtype=np.float64)
        if self.reward_weights is not None:
            return np.clip(np.asarray(self.reward_weights, dtype=np.float64), 0.0, weights)
        if self.reward_mask is not None:
            return np.where(self.reward_mask, weights, 0.0)
        return np.zeros(len(weights), dtype=np.float64)


@dataclass(frozen=True)
class Shown:
    """What one surface showed in one batch, per candidate: all impressions and the reward
    impressions among them. ``shop_id`` and ``creator_id`` as in :class:`Candidates`."""

    surface: Surface
    shop_id: IntArray
    creator_id: IntArray
    impressions: IntArray
    reward_impressions: IntArray


class FeedPolicy(Protocol):
    name: str

    def refresh(self, session: Session, *, at: datetime) -> None:
        """Read what the policy needs from the store, once per planning period."""

    def allocate(self, candidates: Candidates) -> Allocation:
        """Weights for one surface's candidates."""


class PacedPolicy(FeedPolicy, Protocol):
    """A policy that paces traffic during the day: its server tells it when each batch of
    traffic begins and what was shown. Both methods are optional for a :class:`FeedPolicy`."""

    def begin_batch(
        self,
        *,
        at: datetime,
        supply_share: float,
        supply_served: float,
        on_offer: Sequence[Candidates],
    ) -> None:
        """A batch carrying ``supply_share`` of the day's supply starts at ``at``, after
        ``supply_served`` of it was served (both shares of the day's traffic, 0..1), with
        ``on_offer`` on its surfaces (one :class:`Candidates` per surface and item kind)."""

    def observe(self, shown: Shown) -> None:
        """What a surface showed in the current batch."""


@dataclass
class BaselinePolicy:
    """Show what sold recently, with a floor so that new sellers are still seen.

    Weight = exploration floor + recent paid orders (7 days) of the candidate's seller: the
    shop for shop content and product cards, the creator for creator content. No scores, no
    guarantees: the reference point the traffic plan is measured against.
    """

    exploration_floor: float = 1.0
    window: timedelta = timedelta(days=7)
    name: str = "baseline"
    _shop_sales: dict[int, int] = field(default_factory=dict)
    _creator_sales: dict[int, int] = field(default_factory=dict)

    def refresh(self, session: Session, *, at: datetime) -> None:
        orders = table(Order)
        recent = (
            orders.c.created_at >= at - self.window,
            orders.c.created_at < at,
            orders.c.status != OrderStatus.CANCELLED,
            orders.c.status != OrderStatus.PENDING_PAYMENT,
        )
        self._shop_sales = dict(
            session.execute(  # type: ignore[arg-type]
                select(orders.c.shop_id, func.count()).where(*recent).group_by(orders.c.shop_id)
            ).all()
        )
        self._creator_sales = dict(
            session.execute(  # type: ignore[arg-type]
                select(orders.c.creator_id, func.count())
                .where(*recent, orders.c.creator_id.is_not(None))
                .group_by(orders.c.creator_id)
            ).all()
        )

    def allocate(self, candidates: Candidates) -> Allocation:
        sales = np.array(
            [
                self._creator_sales.get(int(c), 0) if c else self._shop_sales.get(int(s), 0)
                for s, c in zip(candidates.shop_id, candidates.creator_id, strict=True)
            ],
            dtype=np.float64,
        )
        return Allocation(weights=self.exploration_floor + np.sqrt(sales))


@dataclass
class UniformPolicy:
    """Every candidate of a surface gets the same share: no memory of sales, no scores.

    A control for experiments: what the marketplace does when traffic ignores performance.
    """

    name: str = "uniform"

    def refresh(self, session: Session, *, at: datetime) -> None:
        """Nothing to read: uniform traffic needs no history."""

    def allocate(self, candidates: Candidates) -> Allocation:
        return Allocation(weights=np.ones(len(candidates), dtype=np.float64))


#: Surfaces where the platform recommends, so reward traffic can be placed: every viewer may
#: be shown every candidate. Follow, search and the shop page answer what the viewer asked for.
REWARD_SURFACES = frozenset(
    {Surface.FEATURED, Surface.DISCOVER, Surface.SHORT_VIDEO_TO_LIVE, Surface.MALL}
)
_SHOP, _CREATOR = 0, 1


@dataclass
class ChuanliuPolicy:
    """Deliver the Chuanliu plan's promised reward impressions (docs/chuanliu.md) on top of a
    base policy, paced through the day so that each party receives what it was promised.

    Each day it writes the day's promises to the ledger (:func:`ledger.promise`). A
    :class:`~trustflow.simulate.pacing.Pacer` plans each batch, and then each recommending
    surface (:data:`REWARD_SURFACES`) of the batch as a step of its own, re-planned from what
    the surfaces served before it delivered (``observe``). A step gives every promised party
    with something on the surface a **share** ``r`` of the surface's impressions: its items
    there get reward weight ``r × W / (1 − Σr)``, split evenly, where ``W`` is the surface's
    organic weight and ``Σr`` the shares of all parties on it. So each party's part of the
    surface's total weight, reward included, is its share ``r``. A shop is paid through its
    own live rooms, short videos and product cards (its products are always on the mall's
    shelf), a creator through its rooms and videos: the items :func:`ledger.reconcile`
    credits to them. The pacer expects ``r ×`` the surface's supply (learned from earlier days
    at the same time), corrects that by the rate it measures, and carries a shortfall into the
    next day's target.

    The tally of what was delivered lives in this process; a feed served by several processes
    would keep it in the store.
    """

    base: FeedPolicy = field(default_factory=BaselinePolicy)
    settings: Settings | None = None
    #: A party's share of a surface's impressions in one step is at most this.
    pacer: Pacer = field(default_factory=lambda: Pacer(max_weight=0.5))
    name: str = "chuanliu"
    reward_plan: str = rules.PLAN
    #: Reward traffic takes at most this share of a surface's impressions in one step.
    max_surface_share: float = 0.5
    _day: date | None = None
    _party: dict[tuple[PartyKind, int], int] = field(default_factory=dict)
    #: Today's promised shops and creators, by id (sorted), and their party indices.
    _shop_ids: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    _shop_party: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    _creator_ids: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    _creator_party: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    #: (time of day in minutes, surface) -> the pacer's slot; impressions per (minute,
    #: surface), from earlier days.
    _slots: dict[tuple[int, Surface], int] = field(default_factory=dict)
    _supply: dict[tuple[int, Surface], float] = field(default_factory=dict)
    #: The batch in progress: its time of day, each surface's organic weight and each party's
    #: number of items there, the surfaces still to serve, the reward weight per party and
    #: item of each surface planned, and what was shown.
    _minute: int | None = None
    _surface_weight: dict[Surface, float] = field(default_factory=dict)
    _items: dict[Surface, IntArray] = field(default_factory=dict)
    _unplanned: list[Surface] = field(default_factory=list)
    _reward: dict[Surface, FloatArray] = field(default_factory=dict)
    _stepping: bool = False
    _received: FloatArray = field(default_factory=lambda: np.zeros(0))
    _shown: dict[Surface, int] = field(default_factory=dict)

    def refresh(self, session: Session, *, at: datetime) -> None:
        self.base.refresh(session, at=at)
        day = at.astimezone(UTC).date()
        if day == self._day:
            return
        self._close_batch()
        rows = ledger.promise(session, day, settings=self.settings)
        keys = [(row.party_kind, int(row.party_id)) for row in rows]
        new = [k for k in keys if k not in self._party]
        for k in new:
            self._party[k] = len(self._party)
        self.pacer.add_parties([_SHOP if kind is PartyKind.SHOP else _CREATOR for kind, _ in new])
        promised = np.zeros(self.pacer.parties)
        active = np.zeros(self.pacer.parties, dtype=bool)
        for row, key in zip(rows, keys, strict=True):
            promised[self._party[key]] = row.promised_impressions
            active[self._party[key]] = True
        self.pacer.start_day(promised, active)
        self._shop_ids, self._shop_party = self._lookup(keys, PartyKind.SHOP)
        self._creator_ids, self._creator_party = self._lookup(keys, PartyKind.CREATOR)
        self._day = day

    def begin_batch(
        self,
        *,
        at: datetime,
        supply_share: float,
        supply_served: float,
        on_offer: Sequence[Candidates] = (),
    ) -> None:
        """Plan the batch: ``on_offer`` is every surface's candidates in it (one
        :class:`Candidates` per surface and item kind), in the order they will be served."""
        self._close_batch()
        n = self.pacer.parties
        minute = at.hour * 60 + at.minute
        self._surface_weight, self._items, self._reward = {}, {}, {}
        for candidates in on_offer:
            if candidates.surface not in REWARD_SURFACES:
                continue
            weight = float(np.sum(self.base.allocate(candidates).weights))
            surface = candidates.surface
            self._surface_weight[surface] = self._surface_weight.get(surface, 0.0) + weight
            party = self._party_of(candidates.shop_id, candidates.creator_id)
            items = np.bincount(party[party >= 0], minlength=n)
            self._items[surface] = self._items.get(surface, np.zeros(n, dtype=np.int64)) + items
        self._minute = minute
        self._unplanned = [s for s in self._items if self._expected_supply(minute, s) > 0]
        reachable = np.zeros(n, dtype=bool)
        for surface in self._unplanned:
            reachable |= self._items[surface] > 0
        self.pacer.open_batch(
            supply_served=supply_served, supply_share=supply_share, reachable=reachable
        )
        self._received = np.zeros(n)
        self._shown = {}

    def allocate(self, candidates: Candidates) -> Allocation:
        base = self.base.allocate(candidates)
        weights = np.asarray(base.weights, dtype=np.float64)
        surface = candidates.surface
        if surface in self._unplanned:
            self._plan_step(surface)
        per_party = self._reward.get(surface)
        if per_party is None or not per_party.any():
            return Allocation(weights=weights, reward_plan=self.reward_plan)
        party = self._party_of(candidates.shop_id, candidates.creator_id)
        mine = party >= 0
        reward = np.zeros(len(candidates))
        reward[mine] = per_party[party[mine]]
        return Allocation(
            weights=weights + reward, reward_plan=self.reward_plan, reward_weights=reward
        )

    def observe(self, shown: Shown) -> None:
        if self._minute is None:
            return
        self._shown[shown.surface] = self._shown.get(shown.surface, 0) + int(
            np.sum(shown.impressions)
        )
        party = self._party_of(shown.shop_id, shown.creator_id)
        got = (party >= 0) & (shown.reward_impressions > 0)
        self._received += np.bincount(
            party[got], weights=shown.reward_impressions[got], minlength=self.pacer.parties
        )

    def _plan_step(self, surface: Surface) -> None:
        """Plan ``surface`` as the batch's next step, after recording the step before it: each
        party's share of the surface, from what it still needs in the batch and what it can
        be shown on the surfaces still to serve; then the reward weight of each party's item
        there, so that its part of the surface's whole weight is its share."""
        assert self._minute is not None
        self._record_step()
        self._unplanned.remove(surface)
        minute = self._minute
        on = self._items[surface] > 0
        capacity = np.where(on, self._expected_supply(minute, surface), 0.0)
        later = np.zeros(self.pacer.parties)
        for other in self._unplanned:
            later += np.where(self._items[other] > 0, self._expected_supply(minute, other), 0.0)
        share = self.pacer.step(
            self._slot(minute, surface),
            capacity=capacity,
            later=later,
            max_total=self.max_surface_share,
        )
        self._stepping = True
        crowding = self._surface_weight[surface] / (1.0 - float(share.sum()))
        self._reward[surface] = share * crowding / np.maximum(self._items[surface], 1)

    def _record_step(self) -> None:
        if self._stepping:
            self.pacer.record(self._received)
            self._received = np.zeros(self.pacer.parties)
            self._stepping = False

    def _slot(self, minute: int, surface: Surface) -> int:
        return self._slots.setdefault((minute, surface), len(self._slots))

    def _expected_supply(self, minute: int, surface: Surface) -> float:
        """Impressions the surface is expected to serve in this batch: what it served at this
        time on earlier days. Without history nothing is expected, and no reward is placed
        until a batch at this time has been seen."""
        return self._supply.get((minute, surface), 0.0)

    def _close_batch(self) -> None:
        if self._minute is None:
            return
        self._record_step()
        for surface, impressions in self._shown.items():
            key = (self._minute, surface)
            before = self._supply.get(key)
            self._supply[key] = impressions if before is None else 0.5 * (before + impressions)
        self._minute = None
        self._unplanned, self._reward = [], {}

    def _lookup(
        self, keys: list[tuple[PartyKind, int]], kind: PartyKind
    ) -> tuple[IntArray, IntArray]:
        ids = np.array(sorted(i for k, i in keys if k is kind), dtype=np.int64)
        return ids, np.array([self._party[(kind, int(i))] for i in ids], dtype=np.int64)

    def _party_of(self, shop_id: IntArray, creator_id: IntArray) -> IntArray:
        """Today's promised party of each candidate, or -1: the shop for a shop's own items
        and product cards, the host creator for a creator's rooms and videos."""
        shop_id, creator_id = np.asarray(shop_id), np.asarray(creator_id)
        by_shop = sorted_lookup(self._shop_ids, shop_id, self._shop_party)
        by_creator = sorted_lookup(self._creator_ids, creator_id, self._creator_party)
        return np.where(shop_id > 0, by_shop, by_creator)
