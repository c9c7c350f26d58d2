"""The traffic plan as a feed policy, so the simulator runs the marketplace on it.

Each day :meth:`PlanPolicy.refresh` does what ``trustflow traffic plan`` does: export the day's
history to the warehouse, promise the day's Chuanliu reward traffic, build and solve the plan,
store it and switch it in. A surface then shows its candidates in proportion to the
impressions the plan allotted them; candidates the plan does not know yet (a host's first live,
a new card) get a floor, so they are seen and can earn a value. A Chuanliu promise is part of
what the plan allots a room, but it is delivered as reward traffic by the pacer on top
(:class:`~trustflow.traffic.policy.ChuanliuPolicy`), so the organic weight is the planned
impressions beyond the promise. On the first days, with no history to plan from, the policy
falls back to the baseline.
"""

from __future__ import annotations

import shutil
import tempfile
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import cast

import numpy as np
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from trustflow.errors import InvalidInput
from trustflow.traffic import plan as tp
from trustflow.traffic.plan_models import CandidateKind
from trustflow.traffic.policy import (
    Allocation,
    BaselinePolicy,
    Candidates,
    ChuanliuPolicy,
    FeedPolicy,
    UniformPolicy,
)
from trustflow.traffic.serving import PlanSnapshot
from trustflow.vocabulary import ItemKind

_SHOP_ROOM = tp.KINDS.index(CandidateKind.SHOP_ROOM)
_CREATOR_ROOM = tp.KINDS.index(CandidateKind.CREATOR_ROOM)
_CARD = tp.KINDS.index(CandidateKind.PRODUCT_CARD)
#: an unplanned candidate's weight, as a quantile of the planned candidates' of its kind
FLOOR_QUANTILE = 0.1


class _Borrowed:
    """An engine look-alike whose connections are one already open (the export only asks an
    engine for connections, and for the store's identity in a transaction: the open one)."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        yield self._connection

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        yield self._connection


@dataclass
class PlanPolicy:
    warehouse: Path | None = None
    solver: str = "dual"
    name: str = "plan"
    fallback: BaselinePolicy = field(default_factory=BaselinePolicy)
    snapshot: PlanSnapshot | None = None
    plans: int = 0
    _floor: dict[int, float] = field(default_factory=dict)

    def refresh(self, session: Session, *, at: datetime) -> None:
        from trustflow.warehouse.export import export

        if self.warehouse is None:  # a scratch warehouse, removed with the policy
            self.warehouse = Path(tempfile.mkdtemp(prefix="trustflow-plan-warehouse-"))
            weakref.finalize(self, shutil.rmtree, self.warehouse, True)
        self.fallback.refresh(session, at=at)
        # the day's transaction holds the store (SQLite): export through its own connection
        export(cast(Engine, _Borrowed(session.connection())), self.warehouse)
        try:
            inputs = tp.gather_inputs(session, self.warehouse, at.date())
        except InvalidInput:  # no history yet: the baseline runs the day
            self.snapshot = None
            return
        plan = tp.store(session, tp.solve(inputs, solver=self.solver))
        tp.activate(session, plan.id)
        session.flush()
        self.snapshot = PlanSnapshot.load(session, plan)
        self.plans += 1
        planned = self.snapshot.planned
        self._floor = {
            k: float(np.quantile(planned[self.snapshot.kind == k], FLOOR_QUANTILE))
            if np.any(self.snapshot.kind == k)
            else 1.0
            for k in (_SHOP_ROOM, _CREATOR_ROOM, _CARD)
        }

    def allocate(self, candidates: Candidates) -> Allocation:
        snap = self.snapshot
        if snap is None:
            return self.fallback.allocate(candidates)
        if candidates.item_kind is ItemKind.PRODUCT_CARD:
            keys = [(_CARD, int(i)) for i in candidates.item_id]
        else:
            keys = [
                (_SHOP_ROOM, int(s)) if s else (_CREATOR_ROOM, int(c))
                for s, c in zip(candidates.shop_id, candidates.creator_id, strict=True)
            ]
        idx = np.array([snap.index.get(k, -1) for k in keys], dtype=np.int64)
        floors = np.array([self._floor.get(k[0], 1.0) for k in keys])
        # a promise is delivered as reward traffic (paced on top by ChuanliuPolicy): the plan's
        # organic share is what it planned beyond the promise
        found = np.maximum(idx, 0)
        organic = snap.planned[found] - snap.promised[found]
        weights = np.where(idx >= 0, organic, floors)
        return Allocation(weights=np.maximum(weights, 1.0))


def plan_policy() -> FeedPolicy:
    """The whole traffic engine: the daily plan (:class:`PlanPolicy`) with Chuanliu reward
    traffic paced on top."""
    return ChuanliuPolicy(base=PlanPolicy(), name="plan")


#: Policies the command line can name (``trustflow demo --policy``). They live here, in the
#: module that knows every policy, so :mod:`trustflow.traffic.policy` needs no lazy import.
POLICIES: dict[str, Callable[[], FeedPolicy]] = {
    "baseline": BaselinePolicy,
    "uniform": UniformPolicy,
    "chuanliu": ChuanliuPolicy,
    "plan": plan_policy,
}
