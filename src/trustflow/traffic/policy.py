"""Feed policies: how much of a surface's traffic each candidate gets.

A policy sees the candidates of one surface (live rooms, short videos or product cards) and
returns a non-negative weight per candidate; the surface then shows candidates in proportion
to their weights. This is the narrow interface between traffic and whoever serves it (the
API's feed, the simulator): a smarter policy replaces the baseline without either changing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

import numpy as np
import numpy.typing as npt
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from trustflow.bulk import IntArray, table
from trustflow.orders.models import Order, OrderStatus
from trustflow.traffic.models import ItemKind, Surface

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
    """Weights per candidate, and which candidates' impressions are reward traffic (and whose
    plan pays for them)."""

    weights: FloatArray
    reward_plan: str | None = None
    reward_mask: npt.NDArray[np.bool_] | None = None


class FeedPolicy(Protocol):
    name: str

    def refresh(self, session: Session, *, at: datetime) -> None:
        """Read what the policy needs from the store, once per planning period."""

    def allocate(self, candidates: Candidates) -> Allocation:
        """Weights for one surface's candidates."""


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


#: Policies the command line can name (``trustflow demo --policy``).
POLICIES: dict[str, type[BaselinePolicy] | type[UniformPolicy]] = {
    "baseline": BaselinePolicy,
    "uniform": UniformPolicy,
}
