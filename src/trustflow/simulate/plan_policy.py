"""The traffic plan as a feed policy, so the simulator runs the marketplace on it.

Each day :meth:`PlanPolicy.refresh` runs the flow ``trustflow traffic plan`` runs
(:func:`~trustflow.traffic.flows.run_daily_plan`): export the day's history to the warehouse,
promise the day's Chuanliu reward traffic, build and solve the plan, store it and switch it in.
A surface then shows its candidates in proportion to the impressions the plan allotted them;
candidates the plan does not know yet (a host's first live, a new card) get a floor, so they
are seen and can earn a value. A Chuanliu promise is part of
what the plan allots a room, but it is delivered as reward traffic by the pacer on top
(:class:`~trustflow.simulate.policies.ChuanliuPolicy`), so the organic weight is the planned
impressions beyond the promise. On the first days, with no history to plan from, the policy
falls back to the baseline.
"""

from __future__ import annotations

import shutil
import tempfile
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
from sqlalchemy.orm import Session

from trustflow.simulate.policies import (
    Allocation,
    BaselinePolicy,
    Candidates,
    ChuanliuPolicy,
    FeedPolicy,
    UniformPolicy,
)
from trustflow.traffic.flows import NoHistory, run_daily_plan
from trustflow.traffic.plan import service as tp
from trustflow.traffic.plan.models import CandidateKind
from trustflow.traffic.serving.snapshot import PlanSnapshot
from trustflow.vocabulary import ItemKind

__all__ = ["FLOOR_QUANTILE", "POLICIES", "PlanPolicy", "plan_policy"]

_SHOP_ROOM = tp.KINDS.index(CandidateKind.SHOP_ROOM)
_CREATOR_ROOM = tp.KINDS.index(CandidateKind.CREATOR_ROOM)
_CARD = tp.KINDS.index(CandidateKind.PRODUCT_CARD)
#: an unplanned candidate's weight, as a quantile of the planned candidates' of its kind
FLOOR_QUANTILE = 0.1


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
        if self.warehouse is None:  # a scratch warehouse, removed with the policy
            self.warehouse = Path(tempfile.mkdtemp(prefix="trustflow-plan-warehouse-"))
            weakref.finalize(self, shutil.rmtree, self.warehouse, True)
        self.fallback.refresh(session, at=at)
        # inside the day's transaction: the flow exports through the session's connection
        try:
            daily = run_daily_plan(session, self.warehouse, at.date(), solver=self.solver)
        except NoHistory:  # no history yet: the baseline runs the day
            self.snapshot = None
            return
        self.snapshot = PlanSnapshot.load(session, daily.plan)
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
#: module that knows every policy, so :mod:`trustflow.simulate.policies` needs no lazy import.
POLICIES: dict[str, Callable[[], FeedPolicy]] = {
    "baseline": BaselinePolicy,
    "uniform": UniformPolicy,
    "chuanliu": ChuanliuPolicy,
    "plan": plan_policy,
}
