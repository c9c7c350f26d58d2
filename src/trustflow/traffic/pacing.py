"""Pacing promised reward traffic: how much reward weight each party gets in the next batch of
traffic, so that the impressions it receives land on what it was promised.

A feed serves a day in batches (the simulator: three, at 10:00, 15:00 and 20:30; a live feed:
every period it re-plans), and each batch carries a known share of the day's supply (the
hour-of-day profile). Before each batch the pacer turns, for every party p,

- its **target** for the day: today's promise, plus the **balance** carried from earlier days
  (promised − delivered: positive after a shortfall, negative after an overshoot), plus a
  **lead** (below), never below zero;
- what it was **delivered** today so far;
- ``S``, the share of the day's supply already served, and ``s``, the next batch's share;
- ``κ[p]``, the impressions a unit of reward weight is expected to bring it in this batch: the
  caller's model of the batch (what the party has on offer, on how much supply), or ``s`` when
  the caller has none;
- ``ρ[p, slot]``, its measured **rate**: impressions received per impression expected
  (per unit of ``κ``), from earlier batches at the same time of day (below),

into the batch's reward weight::

    remaining[p] = max(target[p] − delivered[p], 0)
    plan[p]      = remaining[p] × s / (1 − S)
    weight[p]    = min(plan[p] / (ρ[p, slot] × κ[p]), max_weight)

What is left is spread over the rest of the day in proportion to supply, and all of it goes
into the day's last batch (``s = 1 − S``). Each batch re-plans from what was actually
delivered, so an error of one batch is corrected by the next. A party with nothing on offer
(``κ = 0``) gets no weight, and its plan moves to later batches. A party that has been
delivered its target gets no weight: a finished promise is never topped up, and it is
overshot only by the noise of its last batch, which the next day's target gives back.

**Rate.** After a batch, each party that was exposed adds its impressions ``d`` and its
expected impressions ``w·κ`` to sums discounted by ``λ`` per batch in that slot::

    num ← λ·num + d,    den ← λ·den + w·κ,    ρ = (num + n₀) / (den + n₀ / ĝ)

A ratio of sums rather than a mean of ratios, shrunk towards a guess ``ĝ`` by ``n₀``
pseudo-impressions, so that a batch with few impressions (or none, by chance) does not swing
the estimate. The guess is the median measured rate of the party's group (shops, creators) in
the slot, else of all parties there, else ``default_rate``. Slots (times of day) keep separate
rates because what is on offer, and how crowded it is, differs by hour.

**Days.** When a day closes, ``balance += promised − delivered``. Over many days the totals
land on the sum of the promises, up to the error of the final batch. Parties without a promise
on a day get no reward traffic that day (delivery is reconciled against the day's promises),
and keep their balance for the next day they are promised.

**Lead.** A party can only be shown on days it has something on offer (a creator who neither
posts nor goes live cannot be), so a shortfall that builds up on such days waits for the next
day it shows up, and on the last day of any reckoning it is simply missed. The pacer therefore
lets a party run ahead by what it expects to miss: with ``a[p]`` the smoothed share of its
promised days on which it had nothing on offer,

    lead[p] = lead_days × a[p] × promised today

A party that always has something on offer gets no lead, and one that is absent on half its
days may end a day up to half a day's promise ahead. That lead is the tolerance: at any day's
end a party has been delivered at most its promises so far plus one lead, plus the noise of
its last batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

__all__ = ["Pacer", "reward_weights"]


def reward_weights(
    remaining: npt.ArrayLike,
    expected_per_weight: npt.ArrayLike,
    *,
    supply_served: float,
    supply_share: float,
    max_weight: float = np.inf,
) -> FloatArray:
    """The control law: the reward weight of each party for a batch carrying
    ``supply_share`` of the day's supply after ``supply_served`` was served, given the
    impressions it still needs today (``remaining``) and what a unit of weight is expected to
    bring it in this batch (``ρ × κ``). Zero where nothing remains or nothing can be delivered;
    at most ``max_weight``."""
    need = np.maximum(np.asarray(remaining, dtype=np.float64), 0.0)
    per_weight = np.asarray(expected_per_weight, dtype=np.float64)
    plan = need * supply_share / max(1.0 - supply_served, supply_share, 1e-9)
    usable = (plan > 0) & (per_weight > 0)
    weight = np.divide(plan, per_weight, out=np.zeros_like(plan), where=usable)
    return np.minimum(weight, max_weight)


def _empty() -> FloatArray:
    return np.zeros(0, dtype=np.float64)


@dataclass
class Pacer:
    """Closed-loop pacing state for parties indexed 0..n−1 (see the module docstring).

    Per day: :meth:`start_day` with the promises, then per batch :meth:`weights` and, once the
    batch was served, :meth:`record` with what each party received. ``group`` labels parties
    whose rates resemble each other (shops, creators); it is only used for a first guess.
    """

    default_rate: float = 1.0
    max_weight: float = np.inf
    discount: float = 0.6
    prior_impressions: float = 3.0
    #: Days of expected absence a party may be delivered ahead (the lead, module docstring).
    lead_days: float = 1.0
    #: Weight of the latest day in each party's absence rate.
    absence_smoothing: float = 0.2
    group: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    balance: FloatArray = field(default_factory=_empty)
    promised: FloatArray = field(default_factory=_empty)
    target: FloatArray = field(default_factory=_empty)
    delivered: FloatArray = field(default_factory=_empty)
    active: BoolArray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    #: Share of its promised days on which a party had nothing on offer (smoothed).
    absence: FloatArray = field(default_factory=_empty)
    _present: BoolArray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    _num: FloatArray = field(default_factory=lambda: np.zeros((0, 0)))
    _den: FloatArray = field(default_factory=lambda: np.zeros((0, 0)))
    _weight: FloatArray = field(default_factory=_empty)
    _exposure: FloatArray = field(default_factory=_empty)
    _slot: int | None = None
    _day_open: bool = False

    @property
    def parties(self) -> int:
        return len(self.balance)

    def add_parties(self, group: npt.ArrayLike) -> None:
        """Register new parties at the end of the index, with their groups."""
        new = np.asarray(group, dtype=np.int64).reshape(-1)
        k = len(new)
        self.group = np.concatenate([self.group, new])
        for name in (
            "balance",
            "promised",
            "target",
            "delivered",
            "absence",
            "_weight",
            "_exposure",
        ):
            setattr(self, name, np.concatenate([getattr(self, name), np.zeros(k)]))
        self.active = np.concatenate([self.active, np.zeros(k, dtype=bool)])
        self._present = np.concatenate([self._present, np.zeros(k, dtype=bool)])
        slots = self._num.shape[1]
        self._num = np.vstack([self._num, np.zeros((k, slots))])
        self._den = np.vstack([self._den, np.zeros((k, slots))])

    def start_day(self, promised: npt.ArrayLike, active: npt.ArrayLike | None = None) -> None:
        """Close the day in progress (its shortfall or excess goes into the balance) and open
        a new one: each party's target is its promise plus its balance, never below zero.
        ``active`` marks the parties with a promise today (default: promised > 0); the others
        get no reward traffic today."""
        self.end_day()
        promised_now = np.asarray(promised, dtype=np.float64)
        if promised_now.shape != self.balance.shape:
            raise ValueError(f"expected {self.parties} promises, got {promised_now.shape}")
        self.active = promised_now > 0 if active is None else np.asarray(active, dtype=bool).copy()
        self.promised = np.where(self.active, promised_now, 0.0)
        lead = self.lead_days * self.absence * self.promised
        self.target = np.where(
            self.active, np.maximum(self.promised + self.balance + lead, 0.0), 0.0
        )
        self.delivered = np.zeros(self.parties)
        self._present = np.zeros(self.parties, dtype=bool)
        self._weight = np.zeros(self.parties)
        self._exposure = np.zeros(self.parties)
        self._slot = None
        self._day_open = True

    def end_day(self) -> None:
        """Carry the open day's shortfall (or excess) of each promised party into its balance."""
        if not self._day_open:
            return
        self.balance = self.balance + np.where(self.active, self.promised - self.delivered, 0.0)
        beta = self.absence_smoothing
        absent = (~self._present).astype(np.float64)
        self.absence = np.where(
            self.active, (1 - beta) * self.absence + beta * absent, self.absence
        )
        self._day_open = False

    def rate(self, slot: int) -> FloatArray:
        """Each party's estimated rate in ``slot``: its measurements, shrunk towards a guess
        by ``prior_impressions`` pseudo-impressions. The guess is the median measured rate of
        the party's group in the slot, else of all parties there, else ``default_rate``."""
        self._ensure_slot(slot)
        num, den = self._num[:, slot], self._den[:, slot]
        known = den > 0
        own = np.divide(num, den, out=np.zeros(self.parties), where=known)
        guess = np.full(self.parties, self.default_rate)
        measured = known & (num > 0)
        if measured.any():
            guess[:] = float(np.median(own[measured]))
            for g in np.unique(self.group[measured]):
                mine = self.group == g
                guess[mine] = float(np.median(own[measured & mine]))
        n0 = self.prior_impressions
        return (num + n0) / (den + n0 / guess)

    def weights(
        self,
        slot: int,
        *,
        supply_served: float,
        supply_share: float,
        capacity: npt.ArrayLike | None = None,
    ) -> FloatArray:
        """The reward weight of each party for the next batch, in time-of-day ``slot``, which
        serves ``supply_share`` of the day's supply after ``supply_served`` was served.

        ``capacity``, when the caller knows it, is each party's expected impressions per unit
        of weight in this batch (0 for a party with nothing on offer); the rate then corrects
        that expectation. Without it, a unit of weight is expected to bring ``rate × share``.
        """
        if not self._day_open:
            raise RuntimeError("start_day before asking for weights")
        remaining = np.where(self.active, self.target - self.delivered, 0.0)
        exposure = (
            np.full(self.parties, supply_share)
            if capacity is None
            else np.asarray(capacity, dtype=np.float64)
        )
        weight = reward_weights(
            remaining,
            self.rate(slot) * exposure,
            supply_served=supply_served,
            supply_share=supply_share,
            max_weight=self.max_weight,
        )
        self._weight, self._exposure, self._slot = weight, exposure, slot
        self._present |= exposure > 0
        return weight

    def record(self, delivered: npt.ArrayLike) -> None:
        """What each party received in the batch just served. Parties that had weight and
        something on offer update their rate in the batch's slot."""
        got = np.asarray(delivered, dtype=np.float64)
        self.delivered = self.delivered + got
        if self._slot is None:
            return
        shown = (self._weight > 0) & (self._exposure > 0)
        slot, lam = self._slot, self.discount
        self._num[shown, slot] = lam * self._num[shown, slot] + got[shown]
        self._den[shown, slot] = (
            lam * self._den[shown, slot] + self._weight[shown] * self._exposure[shown]
        )
        self._slot = None

    def _ensure_slot(self, slot: int) -> None:
        missing = slot + 1 - self._num.shape[1]
        if missing > 0:
            self._num = np.hstack([self._num, np.zeros((self.parties, missing))])
            self._den = np.hstack([self._den, np.zeros((self.parties, missing))])
