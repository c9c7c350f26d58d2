"""Pacing promised reward traffic: how much reward weight each party gets in the next step of
traffic, so that the impressions it receives land on what it was promised.

A feed serves a day in **batches** (the simulator: three, at 10:00, 15:00 and 20:30; a live
feed: every period it re-plans), and each batch carries a known share of the day's supply (the
hour-of-day profile). A batch is served in one or more **steps** (the simulator serves the
surfaces of a batch one after the other, and reports each before the next is drawn), and the
pacer re-plans before each step from what was delivered so far. For every party p it keeps

- its **target** for the day: today's promise, plus the **balance** carried from earlier days
  (promised − delivered: positive after a shortfall, negative after an overshoot), plus a
  **lead** (below), never below zero;
- what it was **delivered** today so far, and in the open batch so far;
- ``κ[p]``, the impressions a unit of reward weight is expected to bring it in the step: the
  caller's model of the step (what the party has on offer, on how much supply);
- ``ρ[p, slot]``, its measured **rate**: impressions received per impression expected
  (per unit of ``κ``), from earlier steps at the same time of day and place (below).

**Batch.** When a batch opens, after ``S`` of the day's supply was served and carrying ``s``
of it, each party that can be shown in it (``reachable``) is given the batch's plan::

    remaining[p]  = max(target[p] − delivered[p], 0)
    batch[p]      = remaining[p] × s / (1 − S)

What is left is spread over the rest of the day in proportion to supply, and all of it goes
into the day's last batch (``s = 1 − S``). A party with nothing on offer in a batch is planned
nothing in it, and its remaining moves to later batches.

**Step.** Before each step the batch's plan still open is spread over the party's steps left in
the batch in proportion to what they are expected to bring it (``κ`` now, ``κ_later`` in the
batch's later steps), and turned into weight::

    left[p]   = max(min(batch[p] − delivered in the batch[p], remaining[p]), 0)
    plan[p]   = left[p] × κ[p] / (κ[p] + κ_later[p])
    weight[p] = min(plan[p] / (ρ[p, slot] × κ[p]), max_weight)

Each step re-plans from what was actually delivered, so an error of one step is corrected by
the next; only the last step of the day is uncorrected, and its error is the noise of its own
plan. A party that has been delivered its target gets no weight: a finished promise is never
topped up, and it is overshot only by the noise of its last step, which the next day's target
gives back. (A batch served in one step is the case ``κ_later = 0``: :meth:`Pacer.weights`.)

**Rate.** After a step, each party that was exposed adds its impressions ``d`` and its
expected impressions ``w·κ`` to sums discounted by ``λ`` per step in that slot, and so does
its group (shops, creators)::

    num ← λ·num + d,    den ← λ·den + w·κ,    ρ = (num + n₀) / (den + n₀ / ĝ)

A ratio of sums rather than a mean of ratios, shrunk towards the group's rate ``ĝ`` (its ratio
of sums in the slot, else that of all parties there, else ``default_rate``) by ``n₀``
pseudo-impressions. A party that receives a handful of impressions a step cannot measure its
own rate to better than tens of per cent, and an error in the rate is an error in the mean of
every step, which no later step can tell from noise; the group, which receives thousands,
can. So a party's own measurements only move its rate once they are many. Slots (times of day,
places) keep separate rates because what is on offer, and how crowded it is, differs by hour.

**Days.** When a day closes, ``balance += promised − delivered``. Over many days the totals
land on the sum of the promises, up to the error of the final step. Parties without a promise
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
its last step.
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
    """The control law of a batch served in one step: the reward weight of each party for a
    batch carrying ``supply_share`` of the day's supply after ``supply_served`` was served,
    given the impressions it still needs today (``remaining``) and what a unit of weight is
    expected to bring it in this batch (``ρ × κ``). Zero where nothing remains or nothing can
    be delivered; at most ``max_weight``."""
    need = np.maximum(np.asarray(remaining, dtype=np.float64), 0.0)
    plan = need * _batch_fraction(supply_served, supply_share)
    return _to_weight(plan, np.asarray(expected_per_weight, dtype=np.float64), max_weight)


def _batch_fraction(supply_served: float, supply_share: float) -> float:
    return supply_share / max(1.0 - supply_served, supply_share, 1e-9)


def _to_weight(plan: FloatArray, per_weight: FloatArray, max_weight: float) -> FloatArray:
    usable = (plan > 0) & (per_weight > 0)
    weight = np.divide(plan, per_weight, out=np.zeros_like(plan), where=usable)
    return np.minimum(weight, max_weight)


def _empty() -> FloatArray:
    return np.zeros(0, dtype=np.float64)


@dataclass
class Pacer:
    """Closed-loop pacing state for parties indexed 0..n−1 (see the module docstring).

    Per day: :meth:`start_day` with the promises; per batch :meth:`open_batch`, then per step
    :meth:`step` and, once the step was served, :meth:`record` with what each party received.
    (:meth:`weights` is a batch of one step.) ``group`` labels parties whose rates resemble
    each other (shops, creators): a party's rate is shrunk towards its group's.
    """

    default_rate: float = 1.0
    max_weight: float = np.inf
    discount: float = 0.6
    #: Pseudo-impressions at the group's rate added to a party's own measurements, and at
    #: all parties' rate to a group's; the discount of a group's sums per step in a slot.
    prior_impressions: float = 30.0
    group_prior_impressions: float = 300.0
    group_discount: float = 0.8
    #: Days of expected absence a party may be delivered ahead (the lead, module docstring).
    lead_days: float = 0.0
    #: The error a day may close with, as a share of the party's promises so far (precision,
    #: module docstring), and the safety margin, in standard deviations of a step's noise, a
    #: step keeps below what is left when it is brought forward.
    precision: float = 0.02
    margin: float = 2.0
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
    #: Each party's promises so far, and the days it was promised on (a promise of 0 counts).
    promised_total: FloatArray = field(default_factory=_empty)
    promised_days: FloatArray = field(default_factory=_empty)
    #: The open batch's plan for each party, and what it was delivered in the batch so far.
    batch_plan: FloatArray = field(default_factory=_empty)
    batch_delivered: FloatArray = field(default_factory=_empty)
    _present: BoolArray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    _num: FloatArray = field(default_factory=lambda: np.zeros((0, 0)))
    _den: FloatArray = field(default_factory=lambda: np.zeros((0, 0)))
    #: The same sums per (group, slot), discounted per step in the slot.
    _group_num: dict[tuple[int, int], float] = field(default_factory=dict)
    _group_den: dict[tuple[int, int], float] = field(default_factory=dict)
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
            "promised_total",
            "promised_days",
            "batch_plan",
            "batch_delivered",
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
        self.promised_total = self.promised_total + self.promised
        self.promised_days = self.promised_days + self.active
        lead = self.lead_days * self.absence * self.mean_promise
        self.target = np.where(
            self.active, np.maximum(self.promised + self.balance + lead, 0.0), 0.0
        )
        self.delivered = np.zeros(self.parties)
        self.batch_plan = np.zeros(self.parties)
        self.batch_delivered = np.zeros(self.parties)
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

    @property
    def mean_promise(self) -> FloatArray:
        """Each party's mean daily promise over the days it was promised on."""
        return np.divide(
            self.promised_total,
            self.promised_days,
            out=np.zeros(self.parties),
            where=self.promised_days > 0,
        )

    @property
    def remaining(self) -> FloatArray:
        """What each party still needs today (0 for a party without a promise today)."""
        return np.where(self.active, np.maximum(self.target - self.delivered, 0.0), 0.0)

    def rate(self, slot: int) -> FloatArray:
        """Each party's estimated rate in ``slot``: its measurements, shrunk towards its
        group's rate there by ``prior_impressions`` pseudo-impressions; the group's is its
        measurements shrunk towards the rate of all parties there (``default_rate`` before
        any) by ``group_prior_impressions``."""
        self._ensure_slot(slot)
        num, den = self._num[:, slot], self._den[:, slot]
        in_slot = [
            (g, self._group_num[(g, s)], d)
            for (g, s), d in self._group_den.items()
            if s == slot and d > 0
        ]
        total_num = sum(n for _, n, _ in in_slot)
        total_den = sum(d for _, _, d in in_slot)
        everyone = total_num / total_den if total_num > 0 else self.default_rate
        guess = np.full(self.parties, everyone)
        n1 = self.group_prior_impressions
        for g, n, d in in_slot:
            guess[self.group == g] = (n + n1) / (d + n1 / everyone)
        n0 = self.prior_impressions
        return (num + n0) / (den + n0 / guess)

    def open_batch(
        self, *, supply_served: float, supply_share: float, reachable: npt.ArrayLike
    ) -> FloatArray:
        """Open a batch carrying ``supply_share`` of the day's supply after ``supply_served``
        was served: each ``reachable`` party (one with something on offer in it) is planned
        its share of what it still needs today. Returns the batch's plan."""
        if not self._day_open:
            raise RuntimeError("start_day before opening a batch")
        can = np.asarray(reachable, dtype=bool)
        self._present |= can
        fraction = _batch_fraction(supply_served, supply_share)
        self.batch_plan = np.where(can, self.remaining * fraction, 0.0)
        self.batch_delivered = np.zeros(self.parties)
        return self.batch_plan

    def step(
        self,
        slot: int,
        *,
        capacity: npt.ArrayLike,
        later: npt.ArrayLike | None = None,
        max_total: float = np.inf,
    ) -> FloatArray:
        """The reward weight of each party for the next step of the open batch, in ``slot``.

        ``capacity`` is each party's expected impressions per unit of weight in this step
        (0 for a party with nothing on offer), ``later`` the same summed over the batch's
        steps still to come (none: this is the batch's last step for everyone). The rate
        corrects that expectation. The weights of all parties together are at most
        ``max_total`` (scaled down alike when they would be more): what they do not deliver
        stays for later steps."""
        if not self._day_open:
            raise RuntimeError("start_day before asking for weights")
        exposure = np.asarray(capacity, dtype=np.float64)
        after = np.zeros(self.parties) if later is None else np.asarray(later, dtype=np.float64)
        remaining = self.remaining
        left = np.maximum(np.minimum(self.batch_plan - self.batch_delivered, remaining), 0.0)
        share = np.divide(
            exposure, exposure + after, out=np.zeros(self.parties), where=exposure > 0
        )
        # Precision: bring forward what the day's last step could not deliver precisely.
        may_leave = (self.precision * self.promised_total) ** 2
        forward = remaining - may_leave - self.margin * np.sqrt(remaining)
        plan = np.clip(np.maximum(left * share, forward), 0.0, remaining)
        weight = _to_weight(plan, self.rate(slot) * exposure, self.max_weight)
        total = float(weight.sum())
        if total > max_total:
            weight = weight * (max_total / total)
        self._weight, self._exposure, self._slot = weight, exposure, slot
        self._present |= exposure > 0
        return weight

    def weights(
        self,
        slot: int,
        *,
        supply_served: float,
        supply_share: float,
        capacity: npt.ArrayLike | None = None,
    ) -> FloatArray:
        """The reward weight of each party for a batch served in one step, in time-of-day
        ``slot``, which serves ``supply_share`` of the day's supply after ``supply_served``
        was served.

        ``capacity``, when the caller knows it, is each party's expected impressions per unit
        of weight in this batch (0 for a party with nothing on offer); the rate then corrects
        that expectation. Without it, a unit of weight is expected to bring ``rate × share``.
        """
        exposure = (
            np.full(self.parties, supply_share)
            if capacity is None
            else np.asarray(capacity, dtype=np.float64)
        )
        self.open_batch(
            supply_served=supply_served, supply_share=supply_share, reachable=exposure > 0
        )
        return self.step(slot, capacity=exposure)

    def record(self, delivered: npt.ArrayLike) -> None:
        """What each party received in the step just served. Parties that had weight and
        something on offer update their rate, and their group's, in the step's slot."""
        got = np.asarray(delivered, dtype=np.float64)
        self.delivered = self.delivered + got
        self.batch_delivered = self.batch_delivered + got
        if self._slot is None:
            return
        shown = (self._weight > 0) & (self._exposure > 0)
        slot, lam, mu = self._slot, self.discount, self.group_discount
        expected = self._weight * self._exposure
        self._num[shown, slot] = lam * self._num[shown, slot] + got[shown]
        self._den[shown, slot] = lam * self._den[shown, slot] + expected[shown]
        for g in np.unique(self.group[shown]):
            mine = shown & (self.group == g)
            key = (int(g), slot)
            self._group_num[key] = mu * self._group_num.get(key, 0.0) + float(got[mine].sum())
            self._group_den[key] = mu * self._group_den.get(key, 0.0) + float(expected[mine].sum())
        self._slot = None

    def _ensure_slot(self, slot: int) -> None:
        missing = slot + 1 - self._num.shape[1]
        if missing > 0:
            self._num = np.hstack([self._num, np.zeros((self.parties, missing))])
            self._den = np.hstack([self._den, np.zeros((self.parties, missing))])
