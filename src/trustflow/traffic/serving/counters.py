"""What serving writes and reads back: the impressions served and not flushed yet
(:class:`Served`), their rows in the impressions log, and the shared pacing counters.

Every server adds its counts to ``traffic_pacing_counters`` with atomic increments
(``delivered = delivered + n``), in one sorted statement per flush, and reads back the rows
changed since its last read: pacing state is shared by every worker and host.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import select, text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from trustflow.bulk import IntArray, Labels, copy_columns, int_rows, table
from trustflow.campaigns.boosts import reward_plan as festival_plan
from trustflow.db import utcnow
from trustflow.traffic.chuanliu.rules import PLAN as CHUANLIU
from trustflow.traffic.models import Impression
from trustflow.traffic.plan.models import PacingCounter
from trustflow.traffic.plan.service import SURFACES
from trustflow.traffic.serving.snapshot import CHUANLIU_CODE, ITEM_KINDS, PlanSnapshot
from trustflow.vocabulary import SHELF_SURFACES

__all__ = [
    "Served",
    "add_counts",
    "apply_counters",
    "log_served",
    "read_counters",
    "served_counts",
]

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
_COUNTERS = table(PacingCounter)
_IMPRESSIONS = table(Impression)
_SURFACE_VALUES = [s.value for s in SURFACES]
_SHELF_CODES = np.array([i for i, s in enumerate(SURFACES) if s in SHELF_SURFACES])


class Served:
    """Impressions served and not flushed yet: a request adds one row of its own (plan,
    surface, buyer, time, how many items) and its items to a few lists; :meth:`view` lays
    the lot out as columns, one row per impression, for the flush's one COPY."""

    def __init__(self) -> None:
        self.size = 0
        self._requests: list[tuple[int, int, int, int, int]] = []
        self._idx: list[int] = []  # candidate index in the plan
        self._item_id: list[int] = []
        self._reward: list[int] = []

    def add(
        self,
        plan_id: int,
        surface: int,
        buyer_id: int,
        shown_at_us: int,
        idx: list[int],
        item_ids: list[int],
        reward: list[int],
    ) -> None:
        """``reward``: per item, 0 (not a reward impression), the Chuanliu plan's
        (:data:`~.snapshot.CHUANLIU_CODE`) or a festival's (its campaign id)."""
        self._requests.append((plan_id, surface, buyer_id, shown_at_us, len(idx)))
        self._idx += idx
        self._item_id += item_ids
        self._reward += reward
        self.size += len(idx)

    def view(self) -> dict[str, npt.NDArray[Any]]:
        """One entry per impression: ``plan_id``, ``idx``, ``surface`` (index into
        SURFACES), ``item_id``, ``buyer_id``, ``shown_at`` (UTC, microseconds), ``reward``
        (whether it is reward traffic) and ``reward_plan`` (whose: as :meth:`add` codes it)."""
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
            "reward": np.array(self._reward, dtype=np.int64) != 0,
            "reward_plan": np.array(self._reward, dtype=np.int64),
        }

    def extend(self, other: Served) -> None:
        self._requests += other._requests
        self._idx += other._idx
        self._item_id += other._item_id
        self._reward += other._reward
        self.size += other.size


def log_served(
    session: Session, rows: dict[str, npt.NDArray[Any]], versions: dict[int, str]
) -> None:
    """Append served impressions to the log (one binary COPY on PostgreSQL)."""
    plans, plan_code = np.unique(rows["plan_id"], return_inverse=True)
    reward = rows["reward"]
    # each reward plan's label: the Chuanliu plan's, or a festival's (``festival:<id>``)
    codes, reward_code = np.unique(rows["reward_plan"], return_inverse=True)
    labels = [
        None if c == 0 else CHUANLIU if c == CHUANLIU_CODE else festival_plan(c)
        for c in codes.tolist()
    ]
    copy_columns(
        session,
        _IMPRESSIONS,
        {
            "surface": Labels(rows["surface"], _SURFACE_VALUES),
            "item_kind": Labels(
                np.isin(rows["surface"], _SHELF_CODES).astype(np.int64), ITEM_KINDS
            ),
            "item_id": rows["item_id"],
            "buyer_id": rows["buyer_id"],
            "shown_at": rows["shown_at"],
            "count": 1,
            "is_reward": reward,
            "reward_plan": Labels(reward_code.astype(np.int64), labels),
            "plan_version": Labels(
                plan_code.astype(np.int64), [versions[p] for p in plans.tolist()]
            ),
        },
        rows=len(reward),
    )


def served_counts(
    rows: dict[str, npt.NDArray[Any]],
) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """Served impressions summed per (plan, candidate), sorted: (plan, idx, delivered,
    reward delivered)."""
    key = rows["plan_id"] << 32 | rows["idx"]
    keys, inverse = np.unique(key, return_inverse=True)
    delivered = np.bincount(inverse, minlength=len(keys)).astype(np.int64)
    reward = np.bincount(inverse, weights=rows["reward"], minlength=len(keys)).astype(np.int64)
    return keys >> 32, keys & 0xFFFFFFFF, delivered, reward


def add_counts(
    session: Session, plan: IntArray, idx: IntArray, delivered: IntArray, reward: IntArray
) -> None:
    """Atomic increments of the shared counters, in (plan, idx) order: every server takes the
    row locks in one order."""
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
                "reward_delivered": _COUNTERS.c.reward_delivered + ins.excluded.reward_delivered,
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


def read_counters(session: Session, plan_id: int, since: datetime) -> tuple[IntArray, datetime]:
    """The plan's counters changed since ``since``, as rows (idx, delivered, reward
    delivered), and the ``since`` of the next read: a little before this one began, as rows
    stamped by transactions still open now may carry an earlier stamp."""
    started = utcnow()
    rows = int_rows(
        session,
        select(_COUNTERS.c.idx, _COUNTERS.c.delivered, _COUNTERS.c.reward_delivered).where(
            _COUNTERS.c.plan_id == plan_id, _COUNTERS.c.updated_at >= since
        ),
    )
    session.rollback()
    return rows, started - _READ_OVERLAP


def apply_counters(snap: PlanSnapshot, rows: IntArray, pending: Served) -> None:
    """Set the snapshot's counts of the candidates read (``rows``, from :func:`read_counters`)
    to the store's totals, plus what this server served of them and has not flushed yet
    (``pending``). Under the server's lock: requests count on the same arrays."""
    idx = rows[:, 0]
    snap.delivered[idx] = rows[:, 1]
    snap.reward_delivered[idx] = rows[:, 2]
    read = np.zeros(len(snap.delivered), dtype=bool)
    read[idx] = True
    served = pending.view()
    mine = served["plan_id"] == snap.plan_id
    mine[mine] = read[served["idx"][mine]]
    np.add.at(snap.delivered, served["idx"][mine], 1)
    np.add.at(snap.reward_delivered, served["idx"][mine], served["reward"][mine])
