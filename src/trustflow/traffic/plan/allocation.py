"""The daily allocation plan: who gets which impressions, as one linear programme.

Supply nodes are (surface, hour, audience segment) cells with a forecast number of impressions.
Candidates are live rooms, short videos and product cards. An *edge* says a candidate may be
shown in a node, with the value of one impression there (expected GMV: click rate × conversion ×
order value, times the trust multipliers). The plan chooses impressions ``x`` per edge to

    maximise   Σ value·x
    subject to Σ_i x[i, j] ≤ supply[j]                      every node j
               lower[i] ≤ Σ_j x[i, j] ≤ upper[i]           every candidate i
               x ≥ 0

``lower`` carries the promises (Chuanliu reward traffic, campaign guarantees, the exploration
floor for new merchants); ``upper`` is the cap on any one room's share.

Two solvers:

- :func:`solve_exact`: the LP itself through HiGHS (SciPy). The reference, for instances small
  enough.
- :func:`solve_dual`: the production solver. It adds a small entropy term to the objective,
  which makes the optimum ``x = exp((value + φ[i] − β[j]) / ε)`` for a price ``β[j] ≥ 0`` per
  node and a potential ``φ[i]`` per candidate (positive when a promise binds, negative when a
  cap does). Like SHALE it alternates closed-form passes: every node's price is set so its
  supply is met, then every candidate's potential so its bounds are met; each pass is two
  vectorised reductions over the edges. ε shrinks stage by stage (warm-started: the duals are
  in value units, so they carry over), which takes the plan to the LP optimum.

The duals are what serving uses: an item's score in a node is ``value + φ − β``.
"""

from __future__ import annotations

import functools
import itertools
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import numpy as np
import numpy.typing as npt
from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]

from trustflow.errors import InvalidInput

__all__ = [
    "EXP_CEIL",
    "EXP_FLOOR",
    "HOUR_PROFILE",
    "LBFGS_MEMORY",
    "MIN_GROUP_ROWS",
    "MIN_SAMPLED",
    "PIECE_EDGES",
    "PROMISE_ROUNDS",
    "SHIFT_RECENTRE",
    "SHIFT_REFRESH",
    "SHIFT_WINDOW",
    "SURFACE_SHARE",
    "IndexArray",
    "Problem",
    "Solution",
    "lp_dual_bound",
    "random_problem",
    "solve_dual",
    "solve_exact",
]

FloatArray = npt.NDArray[np.float64]
IndexArray = npt.NDArray[np.int32]


@dataclass(frozen=True)
class Problem:
    """An allocation instance. Edges are sorted by candidate (``cand`` is non-decreasing)."""

    supply: FloatArray
    cand: IndexArray
    node: IndexArray
    value: FloatArray
    lower: FloatArray
    upper: FloatArray

    @property
    def n_nodes(self) -> int:
        return len(self.supply)

    @property
    def n_cand(self) -> int:
        return len(self.lower)

    @property
    def n_edges(self) -> int:
        return len(self.value)

    def validate(self) -> None:
        """Refuse instances that would make either solver meaningless."""
        n, m = self.n_cand, self.n_nodes
        if not (len(self.cand) == len(self.node) == len(self.value)):
            raise InvalidInput("edge arrays differ in length")
        if len(self.upper) != n:
            raise InvalidInput("lower and upper differ in length")
        if n == 0 or m == 0 or self.n_edges == 0:
            raise InvalidInput("an allocation needs candidates, supply nodes and edges")
        if self.cand.min() < 0 or self.cand.max() >= n or self.node.min() < 0:
            raise InvalidInput("edge refers to an unknown candidate")
        if self.node.max() >= m:
            raise InvalidInput("edge refers to an unknown supply node")
        if np.any(np.diff(self.cand) < 0):
            raise InvalidInput("edges must be sorted by candidate")
        if not np.all(np.isfinite(self.value)) or self.value.min() < 0:
            raise InvalidInput("values must be finite and non-negative")
        if not np.all(np.isfinite(self.supply)) or self.supply.min() < 0:
            raise InvalidInput("supply must be finite and non-negative")
        if self.lower.min() < 0 or np.any(self.upper < self.lower):
            raise InvalidInput("each candidate needs 0 ≤ lower ≤ upper")
        reach = _weighted_count(self.cand, weights=self.supply[self.node], minlength=n)
        short = np.flatnonzero(self.lower > reach * (1 + 1e-9))
        if len(short):
            raise InvalidInput(
                f"{len(short)} candidates are promised more than the supply they can reach "
                f"(first: candidate {int(short[0])})"
            )
        if self.lower.sum() > self.supply.sum():
            raise InvalidInput("promises exceed the total supply")


@dataclass
class Solution:
    """Impressions per edge, the duals, and how the solve went."""

    x: FloatArray
    objective: float
    seconds: float
    solver: str
    node_price: FloatArray = field(default_factory=lambda: np.zeros(0))
    cand_potential: FloatArray = field(default_factory=lambda: np.zeros(0))
    iterations: int = 0
    #: the entropy temperature of the plan in value units: within a node, candidates share
    #: impressions by ``exp((value + potential) / temperature)`` (0: the exact LP's vertex)
    temperature: float = 0.0
    #: worst shortfall of a promise, as a share of the promise (0 = every promise met)
    max_shortfall: float = 0.0
    #: worst excess over a cap, as a share of the cap
    max_excess: float = 0.0

    def per_candidate(self, problem: Problem) -> FloatArray:
        return _weighted_count(problem.cand, weights=self.x, minlength=problem.n_cand)


def _weighted_count(index: IndexArray, *, weights: npt.ArrayLike, minlength: int) -> FloatArray:
    """``np.bincount`` with weights, typed as the floats it returns."""
    return np.bincount(index, weights=weights, minlength=minlength).astype(np.float64, copy=False)


def _bound_violations(problem: Problem, totals: FloatArray) -> tuple[float, float]:
    promised = problem.lower > 0
    shortfall = (
        float(np.max((problem.lower[promised] - totals[promised]) / problem.lower[promised]))
        if promised.any()
        else 0.0
    )
    capped = np.isfinite(problem.upper) & (problem.upper > 0)
    excess = (
        float(np.max((totals[capped] - problem.upper[capped]) / problem.upper[capped]))
        if capped.any()
        else 0.0
    )
    return max(shortfall, 0.0), max(excess, 0.0)


def solve_exact(problem: Problem) -> Solution:
    """The LP optimum through HiGHS (dual simplex / IPM chosen by HiGHS)."""
    from scipy.optimize import linprog  # type: ignore[import-untyped]
    from scipy.sparse import csr_array, vstack  # type: ignore[import-untyped]

    problem.validate()
    n, m, e = problem.n_cand, problem.n_nodes, problem.n_edges
    cols = np.arange(e)
    blocks = [csr_array((np.ones(e), (problem.node, cols)), shape=(m, e))]
    rhs = [problem.supply]
    capped = np.flatnonzero(np.isfinite(problem.upper))
    by_cand = csr_array((np.ones(e), (problem.cand, cols)), shape=(n, e))
    if len(capped):
        blocks.append(by_cand[capped])
        rhs.append(problem.upper[capped])
    promised = np.flatnonzero(problem.lower > 0)
    if len(promised):
        blocks.append(-by_cand[promised])
        rhs.append(-problem.lower[promised])
    started = time.perf_counter()
    result = linprog(
        -problem.value,
        A_ub=vstack(blocks).tocsr(),
        b_ub=np.concatenate(rhs),
        bounds=(0, None),
        method="highs",
    )
    seconds = time.perf_counter() - started
    if result.status != 0:
        raise InvalidInput(f"HiGHS could not solve the plan: {result.message}")
    x = np.maximum(np.asarray(result.x, dtype=np.float64), 0.0)  # HiGHS leaves -1e-12s
    shortfall, excess = _bound_violations(
        problem, _weighted_count(problem.cand, weights=x, minlength=n)
    )
    # duals: ≤-rows have marginals ≤ 0 in the minimisation; a node's price is minus its row's
    marginals = -np.asarray(result.ineqlin.marginals, dtype=np.float64)
    potential = np.zeros(n)
    potential[capped] -= marginals[m : m + len(capped)]
    potential[promised] += marginals[m + len(capped) :]
    return Solution(
        x=x,
        objective=float(problem.value @ x),
        seconds=seconds,
        solver="highs",
        node_price=marginals[:m],
        cand_potential=potential,
        temperature=0.0,
        iterations=int(getattr(result, "nit", 0)),
        max_shortfall=shortfall,
        max_excess=excess,
    )


@dataclass(frozen=True)
class _Group:
    """Rows ``a:b`` sharing one node list (``nodes``), stored row-major from edge ``e``."""

    nodes: npt.NDArray[np.intp]
    a: int
    b: int
    e: int

    @property
    def rows(self) -> int:
        return self.b - self.a

    @property
    def width(self) -> int:
        return len(self.nodes)

    def view(self, flat: npt.NDArray[np.floating]) -> npt.NDArray[np.floating]:  # type: ignore[type-arg]
        return flat[self.e : self.e + self.rows * self.width].reshape(self.rows, self.width)


#: exponents are floored here before ``exp``: below about −87 float32 results are subnormal,
#: which ``exp`` computes many times slower, for terms ~1e-38 of their row's largest
EXP_FLOOR = -80.0
#: ... and capped here, where ``exp`` is still far from overflowing a row's sum
EXP_CEIL = 60.0
#: A block row's exponents are taken relative to a shift, a recent log K of the row. The
#: row is exact while its log-sum stays within this distance of 0 (its largest term is then
#: well inside the floor and the cap); a row further out is computed again from its
#: maximum. A piece with more than SHIFT_REFRESH of its rows past SHIFT_RECENTRE takes
#: their current log K as new shifts (one pass), so its next evaluations stay fast.
SHIFT_WINDOW = 50.0
SHIFT_RECENTRE = 10.0
SHIFT_REFRESH = 0.02

#: Edges per piece of work when a solve is spread over the machine's cores.
PIECE_EDGES = 400_000
_executor: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    """One thread per core, shared by every solve in the process."""
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="dual")
    return _executor


def _split(groups: list[_Group]) -> list[_Group]:
    """Groups cut into even row ranges of at most :data:`PIECE_EDGES` edges (fewer when the
    cores would otherwise idle), so that every core has work even when one group (say, all
    product cards) holds most edges. Every piece costs some fixed work: no small remnants."""
    total = sum(g.rows * g.width for g in groups)
    target = max(1, min(PIECE_EDGES, -(-total // (os.cpu_count() or 1))))
    pieces = []
    for g in groups:
        parts = -(-g.rows * g.width // target)
        rows = -(-g.rows // parts)
        for a in range(g.a, g.b, rows):
            b = min(a + rows, g.b)
            pieces.append(_Group(g.nodes, a, b, g.e + (a - g.a) * g.width))
    return pieces


#: Candidates sharing a node list are evaluated as a dense block when at least this many do;
#: the others edge by edge.
MIN_GROUP_ROWS = 64


def _group_rows(problem: Problem) -> tuple[Problem, IndexArray, npt.NDArray[np.intp]] | None:
    """The problem with candidates reordered so that those eligible for the same nodes are
    adjacent (real plans have few such patterns: all cards share one, rooms one per usual
    airtime), and the row and edge permutations; ``None`` when there are too many patterns."""
    n = problem.n_cand
    starts = np.searchsorted(problem.cand, np.arange(n))
    counts = np.diff(np.append(starts, problem.n_edges))
    position = np.arange(problem.n_edges) - starts[problem.cand]
    salt = np.random.default_rng(12345).integers(1, 2**62, int(counts.max()), dtype=np.int64)
    with np.errstate(over="ignore"):
        key = np.add.reduceat(problem.node.astype(np.int64) * salt[position] + 1, starts)
    key = key * 1_000_003 + counts
    _, pattern, size = np.unique(key, return_inverse=True, return_counts=True)
    # patterns shared by many candidates first (evaluated as dense blocks), the rest after
    # (evaluated edge by edge)
    small = size[pattern] < MIN_GROUP_ROWS
    order = np.lexsort((np.arange(n), pattern, small)).astype(np.int32)
    sorted_counts = counts[order]
    new_starts = np.concatenate([[0], np.cumsum(sorted_counts)[:-1]])
    edge_perm = np.repeat(starts[order], sorted_counts) + (
        np.arange(problem.n_edges) - np.repeat(new_starts, sorted_counts)
    )
    grouped = Problem(
        supply=problem.supply,
        cand=np.repeat(np.arange(n, dtype=np.int32), sorted_counts),
        node=problem.node[edge_perm],
        value=problem.value[edge_perm],
        lower=problem.lower[order],
        upper=problem.upper[order],
    )
    return grouped, order, edge_perm


class _SmoothDual:
    """The entropy-smoothed dual as a function of the node prices alone.

    For prices ``β``, candidate ``i`` would spread its impressions over its edges by softmax
    of ``(value − β) / ε`` and take ``t = clip(K, lower, upper)`` of them, where
    ``K = Σ_j exp((value − β_j) / ε)``; that choice is closed form (the candidate potential
    ``φ = ε·log(t / K)``), so only the prices are searched. The function is convex and smooth,
    its gradient is supply minus load per node.

    Candidates eligible for the same nodes are evaluated together as one dense block (prices
    broadcast, loads summed down the columns), so a plan with a few hundred airtime patterns
    costs about as much per edge as one with a single pattern.
    """

    def __init__(self, problem: Problem, dtype: type[np.floating]) -> None:  # type: ignore[type-arg]
        self.scale_v = float(np.median(problem.value)) or 1.0
        self.scale_s = float(problem.supply.sum()) or 1.0
        self.dtype = dtype
        self.v = (problem.value / self.scale_v).astype(dtype)
        self.supply = problem.supply / self.scale_s
        self.cand, self.node = problem.cand, problem.node
        self.n, self.m = problem.n_cand, problem.n_nodes
        lower = problem.lower / self.scale_s
        upper = problem.upper / self.scale_s
        self.lower, self.upper = lower, upper
        self.supply_floor = np.maximum(self.supply, 1e-300)
        self.log_lower = np.log(np.where(lower > 0, lower, 1.0))
        self.log_lower[lower <= 0] = -np.inf
        self.log_upper = np.log(np.where(np.isfinite(upper), np.maximum(upper, 1e-300), 1.0))
        self.log_upper[~np.isfinite(upper)] = np.inf
        self.starts = np.searchsorted(self.cand, np.arange(self.n)).astype(np.intp)
        self.counts = np.diff(np.append(self.starts, len(self.cand)))
        self.groups, self.rest = self._find_groups()
        self.pieces = _split(self.groups)
        self.rest_edge = int(self.starts[self.rest]) if self.rest < self.n else len(self.cand)
        self.rest_starts = self.starts[self.rest :] - self.rest_edge
        self.rest_cand = self.cand[self.rest_edge :] - self.rest
        self.rest_node = self.node[self.rest_edge :]
        self.eps = 1.0
        self._v_eps: tuple[float, npt.NDArray[np.floating]] | None = None  # type: ignore[type-arg]
        self._ez = np.zeros(0, dtype=dtype)
        # the blocks' values less a per-row shift (see __call__), and the ε each piece's
        # shift was taken at
        self._v_shift = np.empty_like(self.v)
        self._shift = np.zeros(self.n)
        self._shifted_at = np.full(len(self.pieces), np.nan)
        self._row_scale = np.ones(0, dtype=dtype)
        self._unscaled = False
        self.log_t = np.zeros(self.n)
        self.log_k = np.zeros(self.n)

    def _find_groups(self) -> tuple[list[_Group], int]:
        """Runs of at least :data:`MIN_GROUP_ROWS` adjacent rows with identical node lists
        (rows come sorted that way from :func:`_group_rows`), and the first row after them:
        rows from there on are evaluated edge by edge."""
        groups: list[_Group] = []
        firsts = np.flatnonzero(np.diff(self.counts, prepend=-1) != 0)
        for a, b in zip(firsts.tolist(), [*firsts[1:].tolist(), self.n], strict=True):
            w, e = int(self.counts[a]), int(self.starts[a])
            grid = self.node[e : e + (b - a) * w].reshape(b - a, w)
            change = np.flatnonzero(np.any(grid[1:] != grid[:-1], axis=1)) + 1
            for c0, c1 in itertools.pairwise([0, *change.tolist(), b - a]):
                if c1 - c0 < MIN_GROUP_ROWS:
                    return groups, a + c0
                groups.append(_Group(grid[c0].astype(np.intp), a + c0, a + c1, e + c0 * w))
        return groups, self.n

    def row_totals(self, x: npt.NDArray[np.floating]) -> FloatArray:  # type: ignore[type-arg]
        out = np.empty(self.n)
        for g in self.groups:
            out[g.a : g.b] = g.view(x).sum(axis=1, dtype=np.float64)
        if self.rest < self.n:
            out[self.rest :] = _weighted_count(
                self.rest_cand, weights=x[self.rest_edge :], minlength=self.n - self.rest
            )
        return out

    def scale_rows(self, x: npt.NDArray[np.floating], factor: FloatArray) -> None:  # type: ignore[type-arg]
        """``x[i, j] *= factor[i]`` in place (blocks broadcast, no per-edge copy of the
        factors)."""
        f = factor.astype(self.dtype)
        for g in self.groups:
            g.view(x)[...] *= f[g.a : g.b, None]
        if self.rest < self.n:
            x[self.rest_edge :] *= f[self.rest :][self.rest_cand]

    def scale_nodes(self, x: npt.NDArray[np.floating], factor: FloatArray) -> None:  # type: ignore[type-arg]
        """``x[i, j] *= factor[j]`` in place."""
        f = factor.astype(self.dtype)
        for g in self.groups:
            g.view(x)[...] *= f[g.nodes]
        if self.rest < self.n:
            x[self.rest_edge :] *= f[self.rest_node]

    def node_max(self, flat: npt.NDArray[np.floating]) -> FloatArray:  # type: ignore[type-arg]
        """The largest of each node's edges in ``flat`` (0 for a node with none; values
        are never negative)."""
        best = np.zeros(self.m)
        for g in self.groups:
            best[g.nodes] = np.maximum(best[g.nodes], g.view(flat).max(axis=0))
        if self.rest < self.n:
            np.maximum.at(best, self.rest_node, flat[self.rest_edge :])
        return best

    def sinkhorn_pass(
        self,
        x: npt.NDArray[np.floating],  # type: ignore[type-arg]
        node_factor: FloatArray | None,
        lower: FloatArray,
    ) -> FloatArray:
        """One pass of :func:`_polish` in place: every node scaled by ``node_factor`` (the
        last pass's price step), then every candidate onto its bounds; returns the node
        loads after. Pieces run on the pool, each while its block is in cache."""
        f = None if node_factor is None else node_factor.astype(self.dtype)

        def piece(g: _Group) -> tuple[_Group, FloatArray]:
            block = g.view(x)
            if f is not None:
                block *= f[g.nodes]
            totals = (block @ np.ones(g.width, dtype=self.dtype)).astype(np.float64)
            target = np.clip(totals, lower[g.a : g.b], self.upper[g.a : g.b])
            ratio = np.divide(target, totals, out=np.ones_like(totals), where=totals > 0)
            block *= ratio.astype(self.dtype)[:, None]
            return g, (np.ones(g.rows, dtype=self.dtype) @ block).astype(np.float64)

        load = np.zeros(self.m)
        done = _pool().map(piece, self.pieces) if len(self.pieces) > 1 else map(piece, self.pieces)
        for g, column in done:
            load[g.nodes] += column
        if self.rest < self.n:
            rest = x[self.rest_edge :]
            if f is not None:
                rest *= f[self.rest_node]
            totals = _weighted_count(self.rest_cand, weights=rest, minlength=self.n - self.rest)
            target = np.clip(totals, lower[self.rest :], self.upper[self.rest :])
            ratio = np.divide(target, totals, out=np.ones_like(totals), where=totals > 0)
            rest *= ratio.astype(self.dtype)[self.rest_cand]
            load += _weighted_count(self.rest_node, weights=rest, minlength=self.m)
        return load

    def per_row(self, a: FloatArray) -> npt.NDArray[np.floating]:  # type: ignore[type-arg]
        """``a[cand]`` flat, for multiplying the flat plan."""
        return np.repeat(a.astype(self.dtype), self.counts)

    def node_load(self, x: npt.NDArray[np.floating]) -> FloatArray:  # type: ignore[type-arg]
        load = np.zeros(self.m)
        for g in self.groups:
            load[g.nodes] += g.view(x).sum(axis=0, dtype=np.float64)
        if self.rest < self.n:
            load += _weighted_count(self.rest_node, weights=x[self.rest_edge :], minlength=self.m)
        return load

    @property
    def x(self) -> npt.NDArray[np.floating]:  # type: ignore[type-arg]
        """The plan of the last evaluation (flat, in edge order). An evaluation leaves the dense
        blocks unscaled (their loads come from the row scales); they are scaled here, once."""
        if self._unscaled:
            for g in self.groups:
                g.view(self._ez)[...] *= self._row_scale[g.a : g.b, None]
            self._unscaled = False
        return self._ez

    def _scaled_values(self, eps: float) -> npt.NDArray[np.floating]:  # type: ignore[type-arg]
        """``value / ε`` in the working precision, kept while ε stays."""
        if self._v_eps is None or self._v_eps[0] != eps:
            self._v_eps = (eps, (self.v / self.dtype(eps)).astype(self.dtype))
        return self._v_eps[1]

    def __call__(self, beta: FloatArray) -> tuple[float, FloatArray]:
        eps = self.eps
        inv = self.dtype(1.0 / eps)
        b32 = beta.astype(self.dtype)
        v_eps, b_eps = self._scaled_values(eps), b32 * inv
        ez = np.empty_like(self.v)
        row_scale = np.ones(self.n, dtype=self.dtype)
        load = np.zeros(self.m)
        log_k = np.empty(self.n)
        log_t = np.empty(self.n)

        v_shift, shift, shifted_at = self._v_shift, self._shift, self._shifted_at

        def piece(k: int) -> tuple[_Group, FloatArray, FloatArray, FloatArray]:
            g = self.pieces[k]
            z, rows = g.view(ez), slice(g.a, g.b)
            if shifted_at[k] == eps:
                # z = exp((value − β)/ε − shift), the shift a recent log K of the row: four
                # passes over the block, two of them BLAS
                np.subtract(g.view(v_shift), b_eps[g.nodes], out=z)
                np.clip(z, EXP_FLOOR, EXP_CEIL, out=z)
                np.exp(z, out=z)
                ksum = (z @ np.ones(g.width, dtype=self.dtype)).astype(np.float64)
                log_ksum = np.log(ksum)
                lk = shift[rows] + log_ksum
                drift = np.abs(log_ksum)
                off = np.flatnonzero(drift > SHIFT_WINDOW)
                if len(off):  # rows that drifted out of the window: exactly
                    zz = g.view(v_eps)[off] - b_eps[g.nodes]
                    zmax = zz.max(axis=1)
                    zz -= zmax[:, None]
                    np.maximum(zz, EXP_FLOOR, out=zz)
                    np.exp(zz, out=zz)
                    z[off] = zz
                    ksum[off] = zz.sum(axis=1, dtype=np.float64)
                    lk[off] = zmax + np.log(ksum[off])
                if np.count_nonzero(drift > SHIFT_RECENTRE) > SHIFT_REFRESH * g.rows:
                    np.subtract(g.view(v_eps), lk.astype(self.dtype)[:, None], out=g.view(v_shift))
                    shift[rows] = lk
            else:
                # z = exp((value − β)/ε − row max), and the rows' log K become the shift
                np.subtract(g.view(v_eps), b_eps[g.nodes], out=z)
                zmax = z.max(axis=1)
                z -= zmax[:, None]
                np.maximum(z, EXP_FLOOR, out=z)
                np.exp(z, out=z)
                ksum = (z @ np.ones(g.width, dtype=self.dtype)).astype(np.float64)
                lk = zmax.astype(np.float64) + np.log(ksum)
                np.subtract(g.view(v_eps), lk.astype(self.dtype)[:, None], out=g.view(v_shift))
                shift[rows], shifted_at[k] = lk, eps
            lt = np.clip(lk, self.log_lower[g.a : g.b], self.log_upper[g.a : g.b])
            scale = np.exp(lt - np.log(ksum)).astype(self.dtype)
            row_scale[g.a : g.b] = scale
            return g, lk, lt, (scale @ z).astype(np.float64)

        # pieces write disjoint slices; numpy releases the GIL inside each operation
        k = range(len(self.pieces))
        done = _pool().map(piece, k) if len(self.pieces) > 1 else map(piece, k)
        for g, lk, lt, column in done:
            load[g.nodes] += column
            log_k[g.a : g.b], log_t[g.a : g.b] = lk, lt
        if self.rest < self.n:
            r, cand = self.rest, self.rest_cand
            z = np.subtract(self.v[self.rest_edge :], b32[self.rest_node], out=ez[self.rest_edge :])
            zmax = np.maximum.reduceat(z, self.rest_starts).astype(np.float64)
            z -= zmax.astype(self.dtype)[cand]
            z *= inv
            np.maximum(z, EXP_FLOOR, out=z)
            np.exp(z, out=z)
            ksum = np.add.reduceat(z, self.rest_starts, dtype=np.float64)
            lk = zmax / eps + np.log(ksum)
            lt = np.clip(lk, self.log_lower[r:], self.log_upper[r:])
            z *= np.exp(lt - np.log(ksum)).astype(self.dtype)[cand]
            load += _weighted_count(self.rest_node, weights=z, minlength=self.m)
            log_k[r:], log_t[r:] = lk, lt
        self._ez, self._row_scale, self._unscaled = ez, row_scale, bool(self.groups)
        self.log_t, self.log_k = log_t, log_k
        # Σ_i ψ_i(K_i): εK inside the bounds, the tangent line of εt(1 + log K − log t) outside
        inside = log_k == log_t
        psi = np.where(
            inside,
            np.exp(np.minimum(log_t, 700.0)),
            np.exp(np.minimum(log_t, 700.0)) * (1.0 + log_k - log_t),
        )
        value = float(self.supply @ beta + eps * psi.sum())
        return value, self.supply - load


def _polish(
    dual: _SmoothDual, beta: FloatArray, passes: int
) -> tuple[FloatArray, npt.NDArray[np.floating]]:  # type: ignore[type-arg]
    """Sinkhorn passes from the L-BFGS prices: alternately scale every candidate onto its
    bounds and price every node onto its supply (the exact coordinate steps of the same
    smoothed dual). Ends on a node pass, so the returned plan never oversells a node."""
    eps = dual.eps
    dual(beta)
    x = dual.x
    beta = beta.copy()
    lower = np.maximum(dual.lower, 0.0)
    node_factor = None
    for _ in range(passes):
        load = dual.sinkhorn_pass(x, node_factor, lower)
        step = np.maximum(np.log(np.maximum(load, 1e-300)) - np.log(dual.supply_floor), -beta / eps)
        step = np.maximum(step, -30.0)  # an empty node's price falls over several passes
        beta += eps * step
        node_factor = np.exp(-step)
    if node_factor is not None:
        dual.scale_nodes(x, node_factor)
    return beta, _project(dual, x)


def _project(dual: _SmoothDual, x: npt.NDArray[np.floating]) -> npt.NDArray[np.floating]:  # type: ignore[type-arg]
    """Make the plan feasible: every candidate scaled onto its bounds, then nodes over their
    supply scaled down, promised traffic served first (as guaranteed delivery is) and taken
    from the others. A promise still short is then topped up from the supply its nodes have
    beyond promised traffic (a few rounds). Caps and supply hold exactly; a promise falls
    short only where its nodes are oversold by promises alone."""
    totals = dual.row_totals(x)
    target = np.clip(totals, np.maximum(dual.lower, 0.0), dual.upper)
    dual.scale_rows(x, np.divide(target, totals, out=np.ones_like(totals), where=totals > 0))
    is_promised = dual.lower > 0
    promised = dual.per_row(is_promised.astype(np.float64))
    x = _promised_first(dual, x, promised)
    for _ in range(PROMISE_ROUNDS):
        deficit = np.where(is_promised, dual.lower - dual.row_totals(x), 0.0)
        if not np.any(deficit > dual.lower * 1e-6):
            break
        spare = np.maximum(dual.supply - dual.node_load(x * promised), 0.0)
        room = spare.astype(dual.dtype)[dual.node] * dual.per_row((deficit > 0).astype(np.float64))
        share = np.divide(
            deficit, dual.row_totals(room), out=np.zeros_like(deficit), where=deficit > 0
        )
        x += room * dual.per_row(np.minimum(share, 1.0))
        x = _promised_first(dual, x, promised)
    return x


#: the fewest candidates for which the first stage runs on a sample
MIN_SAMPLED = 2_000
#: rounds of topping up promises that the smoothed plan left short
PROMISE_ROUNDS = 4
#: L-BFGS-B memory (correction pairs)
LBFGS_MEMORY = 40


def _promised_first(
    dual: _SmoothDual,
    x: npt.NDArray[np.floating],  # type: ignore[type-arg]
    promised: npt.NDArray[np.floating],  # type: ignore[type-arg]
) -> npt.NDArray[np.floating]:  # type: ignore[type-arg]
    """Scale each oversold node down to its supply, promised traffic first served."""
    load = dual.node_load(x)
    load_p = dual.node_load(x * promised)
    load_o = np.maximum(load - load_p, 0.0)
    keep_p = np.minimum(1.0, dual.supply / np.maximum(load_p, 1e-300))
    keep_o = np.clip((dual.supply - load_p) / np.maximum(load_o, 1e-300), 0.0, 1.0)
    x *= np.where(
        promised > 0, keep_p.astype(dual.dtype)[dual.node], keep_o.astype(dual.dtype)[dual.node]
    )
    return x


_controller: ThreadpoolController | None = None


def _blas_controller() -> ThreadpoolController:
    """The process's BLAS libraries (NumPy's and SciPy's), found once."""
    global _controller
    if _controller is None:
        import scipy.optimize  # type: ignore[import-untyped]  # noqa: F401  (loads its BLAS)

        _controller = ThreadpoolController()
    return _controller


_F = TypeVar("_F", bound=Callable[..., Any])


def _blas_on_one_thread(solve: _F) -> _F:
    """Run ``solve`` with BLAS on one thread: the solver spreads its pieces over the cores
    itself, and BLAS threads left spinning after each call would take those cores from the
    pieces (on the benchmark's exact instance the solve took twice as long)."""

    @functools.wraps(solve)
    def one_thread(*args: Any, **kwargs: Any) -> Any:
        with _blas_controller().limit(limits=1, user_api="blas"):
            return solve(*args, **kwargs)

    return cast(_F, one_thread)


@_blas_on_one_thread
def solve_dual(
    problem: Problem,
    *,
    eps_stages: tuple[float, ...] = (0.3, 0.1, 0.03),
    # the last stage's 80 evaluations reach ~0.997 of the optimum (100: ~0.999, ~10% more time)
    evaluations_per_stage: int | tuple[int, ...] = (50, 50, 80),
    warm_evaluations: int = 150,
    sample_above: int = 20_000,
    sample_share: float = 0.1,
    first_stage_share: float = 0.5,
    polish_passes: int = 20,
    seed: int = 0,
    dtype: type[np.floating] = np.float32,  # type: ignore[type-arg]
) -> Solution:
    """Minimise the smoothed dual over node prices, then read the plan off the softmax.

    L-BFGS-B runs stage by stage as ε shrinks, warm-started, with the prices scaled by each
    node's curvature. ``eps_stages`` are relative to the median value. Above ``sample_above``
    candidates the prices are first solved on a random sample of candidates facing a
    proportional share of supply (prices are in value units, so they carry over), and the full
    problem then needs only the last stage (``warm_evaluations`` evaluations). Below it, from
    :data:`MIN_SAMPLED` candidates, the first (coarsest) stage alone runs on a sample of
    ``first_stage_share``: its prices only start the next stage, and they come out as good
    at half the cost.

    Candidates always meet their bounds in the smoothed plan; nodes whose load still exceeds
    supply at the end are scaled down to it, which is what ``max_shortfall`` reports.
    """
    problem.validate()
    if np.any(np.bincount(problem.cand, minlength=problem.n_cand) == 0):
        raise InvalidInput("every candidate needs at least one edge")
    started = time.perf_counter()
    original = problem
    grouped = _group_rows(problem)
    if grouped is not None:
        problem, row_order, edge_perm = grouped
    dual = _SmoothDual(problem, dtype)
    budgets = (
        evaluations_per_stage
        if isinstance(evaluations_per_stage, tuple)
        else (evaluations_per_stage,) * len(eps_stages)
    )
    stages = list(zip(eps_stages, budgets[-len(eps_stages) :], strict=True))
    best = dual.node_max(problem.value)
    beta = best / dual.scale_v  # every node priced at its best value: a cold start
    evaluations = 0
    # (share of candidates, stages solved on that sample, stages then solved on everything)
    large = problem.n_cand > sample_above and 0 < sample_share < 1
    if large:
        plan = (sample_share, stages, [(eps_stages[-1], warm_evaluations)])
    elif problem.n_cand >= MIN_SAMPLED and 0 < first_stage_share < 1 and len(stages) > 1:
        plan = (first_stage_share, stages[:1], stages[1:])
    else:
        plan = (1.0, [], stages)
    share, on_sample, schedule = plan
    measured = True
    if on_sample:
        try:
            warm = solve_dual(
                _sample(problem, share, seed),
                eps_stages=tuple(eps for eps, _ in on_sample),
                evaluations_per_stage=tuple(budget for _, budget in on_sample),
                sample_above=problem.n_cand,
                first_stage_share=0.0,
                polish_passes=polish_passes if large else 0,
                dtype=dtype,
            )
        except InvalidInput:  # the sample cannot keep its promises: start cold instead
            schedule = stages
        else:
            beta = warm.node_price / dual.scale_v
            evaluations += warm.iterations
            # warm from the large sample, the curvature is taken from supply (see _minimise)
            measured = not large
    for eps, budget in schedule:
        beta, used = _minimise(dual, beta, eps, budget, measured=measured)
        evaluations += used
    beta, x32 = _polish(dual, beta, polish_passes)
    evaluations += polish_passes
    x = x32.astype(np.float64) * dual.scale_s
    potential = dual.eps * (dual.log_t - dual.log_k) * dual.scale_v  # before polish
    if grouped is not None:  # back to the caller's order
        x_caller = np.empty_like(x)
        x_caller[edge_perm] = x
        x = x_caller
        potential_caller = np.empty_like(potential)
        potential_caller[row_order] = potential
        potential = potential_caller
        problem = original
    shortfall, excess = _bound_violations(
        problem, _weighted_count(problem.cand, weights=x, minlength=problem.n_cand)
    )
    return Solution(
        x=x,
        objective=float(problem.value @ x),
        seconds=time.perf_counter() - started,
        solver="dual",
        # a price above every value there only says no one wants the node: the LP's price is
        # then anything from that value up; report the least
        node_price=np.minimum(beta * dual.scale_v, best),
        cand_potential=potential,
        temperature=dual.eps * dual.scale_v,
        iterations=evaluations,
        max_shortfall=shortfall,
        max_excess=excess,
    )


def _minimise(
    dual: _SmoothDual, beta: FloatArray, eps: float, evaluations: int, *, measured: bool
) -> tuple[FloatArray, int]:
    from scipy.optimize import minimize  # type: ignore[import-untyped]

    dual.eps = eps
    # precondition: the dual's curvature in node j is about load[j] / ε, and a node's load
    # ends at most its supply. From a cold start (``measured``) an over-subscribed node is
    # scaled by its load at the stage's start (by supply alone the steps overshoot there,
    # and a cold solve needs ~30% more evaluations to reach 0.998 of the optimum)
    curvature, extra = dual.supply, 0
    if measured:
        _, gradient = dual(beta)
        curvature, extra = np.maximum(dual.supply - gradient, dual.supply), 1
    d = np.sqrt(eps / np.maximum(curvature, 1e-12 * dual.supply.max()))

    def scaled(u: FloatArray) -> tuple[float, FloatArray]:
        value, grad = dual(u * d)
        return value, grad * d

    result = minimize(
        scaled,
        beta / d,
        jac=True,
        method="L-BFGS-B",
        bounds=[(0.0, None)] * dual.m,
        options={"maxfun": evaluations, "maxcor": LBFGS_MEMORY, "ftol": 1e-13, "gtol": 1e-10},
    )
    return np.asarray(result.x, dtype=np.float64) * d, int(result.nfev) + extra


def _sample(problem: Problem, share: float, seed: int) -> Problem:
    """A random share of the candidates, facing the same share of every node's supply."""
    rng = np.random.default_rng(seed)
    keep = rng.random(problem.n_cand) < share
    keep[rng.integers(problem.n_cand)] = True
    new_index = np.cumsum(keep) - 1
    edge = keep[problem.cand]
    fraction = float(keep.mean())
    return Problem(
        supply=problem.supply * fraction,
        cand=new_index[problem.cand[edge]].astype(np.int32),
        node=problem.node[edge],
        value=problem.value[edge],
        lower=problem.lower[keep],
        upper=problem.upper[keep],
    )


def lp_dual_bound(problem: Problem, node_price: FloatArray) -> float:
    """An upper bound on the LP optimum from any prices ``β ≥ 0`` (weak duality): each node
    sells its supply at its price, each candidate takes its bound at its best margin
    ``max_j (value − β_j)``. ``objective / bound`` certifies how close a plan is to optimal
    on instances too large for the exact solver."""
    beta = np.maximum(node_price, 0.0)
    margin = np.full(problem.n_cand, -np.inf)
    np.maximum.at(margin, problem.cand, problem.value - beta[problem.node])
    upper = np.where(np.isfinite(problem.upper), problem.upper, 0.0)
    if np.any((margin > 0) & ~np.isfinite(problem.upper)):
        return float("inf")
    take = np.where(margin > 0, upper, problem.lower)
    return float(problem.supply @ beta + take @ margin)


# -- synthetic instances ---------------------------------------------------------------------

SURFACE_SHARE = np.array([0.16, 0.24, 0.18, 0.10, 0.14, 0.10, 0.08])
#: a day's traffic by hour: low at night, evening peak (live commerce's prime time)
HOUR_PROFILE = np.array(
    [2, 1, 1, 0.5, 0.5, 0.5, 1, 2, 3, 4, 4, 4, 5, 5, 4, 4, 4, 5, 6, 8, 9, 9, 7, 4], dtype=float
)


def random_problem(
    n_candidates: int,
    *,
    n_segments: int = 4,
    n_surfaces: int = 7,
    n_hours: int = 24,
    impressions_per_candidate: float = 2_000.0,
    promised_share: float = 0.08,
    new_share: float = 0.1,
    cap_share: float = 0.01,
    seed: int = 0,
) -> Problem:
    """A plan-shaped instance: every candidate may be shown on every surface and hour of its
    audience segment. Values are candidate quality × surface affinity × hour factor, heavy
    tailed like real conversion. A share of candidates carry promises (reward traffic, about
    twice their fair share), new ones an exploration floor, and every one a share cap."""
    if n_candidates < 1 or n_segments < 1 or n_surfaces < 1 or n_hours < 1:
        raise InvalidInput("an instance needs at least one candidate, segment, surface, hour")
    rng = np.random.default_rng(seed)
    shares = SURFACE_SHARE[:n_surfaces] / SURFACE_SHARE[:n_surfaces].sum()
    hours = np.resize(HOUR_PROFILE, n_hours)
    hours = hours / hours.sum()
    seg_size = rng.dirichlet(np.full(n_segments, 4.0))
    total = impressions_per_candidate * n_candidates
    supply = (
        total * seg_size[:, None, None] * shares[None, :, None] * hours[None, None, :]
    ).ravel()
    per_seg = n_surfaces * n_hours
    segment = np.sort(rng.choice(n_segments, size=n_candidates, p=seg_size)).astype(np.int32)
    quality = rng.lognormal(0.0, 0.8, n_candidates)
    affinity = rng.lognormal(0.0, 0.5, (n_candidates, n_surfaces))
    hour_factor = rng.lognormal(0.0, 0.2, (n_candidates, n_hours))
    cand = np.repeat(np.arange(n_candidates, dtype=np.int32), per_seg)
    local = np.tile(np.arange(per_seg, dtype=np.int32), n_candidates)
    node = (segment[cand] * per_seg + local).astype(np.int32)
    value = (
        quality[:, None, None] * affinity[:, :, None] * hour_factor[:, None, :]
    ).ravel() * 100.0
    seg_supply = supply.reshape(n_segments, -1).sum(axis=1)
    seg_count = np.bincount(segment, minlength=n_segments)
    fair = seg_supply[segment] / np.maximum(seg_count[segment], 1)
    lower = np.zeros(n_candidates)
    promised = rng.random(n_candidates) < promised_share
    lower[promised] = 2.0 * fair[promised]
    new = ~promised & (rng.random(n_candidates) < new_share)
    lower[new] = 0.3 * fair[new]
    upper = np.maximum(cap_share * seg_supply[segment], 2 * lower)
    return Problem(supply=supply, cand=cand, node=node, value=value, lower=lower, upper=upper)
