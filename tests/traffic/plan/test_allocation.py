"""The allocation solvers: the dual solver reaches the LP optimum HiGHS finds, and keeps the
plan's promises, caps and supply."""

from __future__ import annotations

import numpy as np
import pytest

from trustflow.errors import InvalidInput
from trustflow.traffic.plan import allocation
from trustflow.traffic.plan.allocation import (
    Problem,
    Solution,
    lp_dual_bound,
    random_problem,
    solve_dual,
    solve_exact,
)


def _check_feasible(problem: Problem, solution: Solution, *, tolerance: float) -> None:
    assert np.all(solution.x >= 0)
    load = np.bincount(problem.node, weights=solution.x, minlength=problem.n_nodes)
    assert np.all(load <= problem.supply * (1 + 1e-6) + 1e-6)
    totals = solution.per_candidate(problem)
    assert np.all(totals <= problem.upper * (1 + 1e-6) + 1e-6)
    promised = problem.lower > 0
    assert np.all(totals[promised] >= problem.lower[promised] * (1 - tolerance))


def _ragged(problem: Problem, keep_share: float, seed: int) -> Problem:
    """The same instance with a random share of the edges removed: rows of unequal width."""
    rng = np.random.default_rng(seed)
    keep = rng.random(problem.n_edges) < keep_share
    keep[np.searchsorted(problem.cand, np.arange(problem.n_cand))] = True  # one edge per row
    cand, node = problem.cand[keep], problem.node[keep]
    reach = np.bincount(cand, weights=problem.supply[node], minlength=problem.n_cand)
    lower = np.minimum(problem.lower, 0.5 * reach)
    return Problem(
        supply=problem.supply,
        cand=cand,
        node=node,
        value=problem.value[keep],
        lower=lower,
        upper=np.maximum(problem.upper, lower),
    )


@pytest.mark.parametrize("seed", [3, 4])
def test_dual_solver_reaches_the_lp_optimum_and_keeps_every_bound(seed: int) -> None:
    problem = random_problem(400, seed=seed)
    exact = solve_exact(problem)
    dual = solve_dual(problem)
    _check_feasible(problem, exact, tolerance=1e-6)
    _check_feasible(problem, dual, tolerance=1e-3)
    assert dual.objective / exact.objective >= 0.99
    assert dual.objective <= exact.objective * (1 + 1e-6)  # no plan beats the optimum


def test_dual_solver_handles_candidates_with_different_reach() -> None:
    problem = _ragged(random_problem(300, seed=5), keep_share=0.4, seed=5)
    exact = solve_exact(problem)
    dual = solve_dual(problem)
    _check_feasible(problem, dual, tolerance=1e-3)
    assert dual.objective / exact.objective >= 0.99


@pytest.mark.parametrize("jump", [5.0, 300.0])
def test_shifted_evaluations_match_fresh_ones_after_prices_jump(jump: float) -> None:
    """Evaluations reuse each row's last log-sum as a shift. After prices jump (by ``jump``
    temperatures, down on a third of the nodes, up on the rest), rows that left the shift's
    window are computed again, pieces take new shifts, and every evaluation, the jump and
    the small steps after it, equals one made from scratch."""
    grouped = allocation._group_rows(random_problem(600, seed=7))
    assert grouped is not None
    problem = grouped[0]
    warm = allocation._SmoothDual(problem, np.float32)
    warm.eps = 0.03
    beta = warm.node_max(problem.value) / warm.scale_v * 0.8
    warm(beta)  # takes the shifts
    assert np.all(warm._shifted_at == warm.eps)
    rng = np.random.default_rng(7)
    third = rng.random(len(beta)) < 1 / 3
    beta[third] = np.maximum(beta[third] - jump * warm.eps, 0.0)
    beta[~third] += 0.2 * jump * warm.eps
    for _ in range(3):
        value, gradient = warm(beta)
        fresh = allocation._SmoothDual(problem, np.float32)
        fresh.eps = warm.eps
        expected_value, expected_gradient = fresh(beta)
        assert value == pytest.approx(expected_value, rel=1e-5)
        np.testing.assert_allclose(
            gradient, expected_gradient, rtol=1e-3, atol=1e-6 * warm.supply.max()
        )
        beta = np.maximum(beta + rng.normal(0.0, 0.5 * warm.eps, len(beta)), 0.0)


def test_prices_certify_the_plan_by_weak_duality() -> None:
    problem = random_problem(300, seed=6)
    exact = solve_exact(problem)
    dual = solve_dual(problem)
    bound = lp_dual_bound(problem, dual.node_price)
    assert bound >= exact.objective * (1 - 1e-9)
    assert dual.objective / bound >= 0.98
    # prices are in value units: never negative, never above the best value on offer there
    best = np.zeros(problem.n_nodes)
    np.maximum.at(best, problem.node, problem.value)
    assert np.all(dual.node_price >= 0)
    assert np.all(dual.node_price <= best + 1e-9)


def test_sampled_warm_start_still_meets_promises() -> None:
    problem = random_problem(2_000, seed=7)
    exact = solve_exact(problem)
    dual = solve_dual(problem, sample_above=1_000, sample_share=0.25)
    _check_feasible(problem, dual, tolerance=1e-3)  # promises topped up, not approximated
    assert dual.objective / exact.objective >= 0.97


def test_first_stage_on_a_sample_reaches_the_lp_optimum() -> None:
    problem = random_problem(allocation.MIN_SAMPLED, seed=8)
    exact = solve_exact(problem)
    sampled = solve_dual(problem)
    _check_feasible(problem, sampled, tolerance=1e-3)
    assert sampled.objective / exact.objective >= 0.99
    cold = solve_dual(problem, first_stage_share=0.0)
    assert sampled.objective != cold.objective  # the sample did start the solve


def test_a_sample_that_cannot_keep_its_promises_falls_back_to_a_cold_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    problem = random_problem(allocation.MIN_SAMPLED, seed=9)
    cold = solve_dual(problem, first_stage_share=0.0)

    def overpromised(problem: Problem, share: float, seed: int) -> Problem:
        sample = sample_of(problem, share, seed)
        lower = sample.lower.copy()
        lower[0] = sample.supply.sum() * 2  # more than any sample could deliver
        return Problem(
            supply=sample.supply,
            cand=sample.cand,
            node=sample.node,
            value=sample.value,
            lower=lower,
            upper=np.maximum(sample.upper, lower),
        )

    sample_of = allocation._sample
    monkeypatch.setattr(allocation, "_sample", overpromised)
    fallback = solve_dual(problem)
    assert fallback.objective == cold.objective
    np.testing.assert_array_equal(fallback.x, cold.x)


def test_solver_runs_blas_on_one_thread_and_gives_the_threads_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from threadpoolctl import threadpool_info

    seen: list[set[int]] = []
    minimise = allocation._minimise

    def watched(*args: object, **kwargs: object) -> tuple[np.ndarray, int]:
        seen.append({lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"})
        return minimise(*args, **kwargs)  # type: ignore[arg-type]

    before = {lib["filepath"]: lib["num_threads"] for lib in threadpool_info()}
    monkeypatch.setattr(allocation, "_minimise", watched)
    solve_dual(random_problem(200, seed=1))
    assert seen and all(threads == {1} for threads in seen)
    assert {lib["filepath"]: lib["num_threads"] for lib in threadpool_info()} == before


def _valid() -> dict[str, np.ndarray]:
    return {
        "supply": np.array([10.0, 10.0]),
        "cand": np.array([0, 0, 1], dtype=np.int32),
        "node": np.array([0, 1, 1], dtype=np.int32),
        "value": np.array([1.0, 2.0, 3.0]),
        "lower": np.array([0.0, 0.0]),
        "upper": np.array([5.0, 5.0]),
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"cand": np.array([1, 0, 0], dtype=np.int32)}, "sorted by candidate"),
        ({"node": np.array([0, 1, 2], dtype=np.int32)}, "unknown supply node"),
        ({"value": np.array([1.0, -2.0, 3.0])}, "non-negative"),
        ({"value": np.array([1.0, np.nan, 3.0])}, "finite"),
        ({"lower": np.array([0.0, 11.0]), "upper": np.array([5.0, 12.0])}, "more than the supply"),
        ({"lower": np.array([6.0, 0.0])}, "lower ≤ upper"),
        ({"supply": np.array([10.0, -1.0])}, "supply"),
    ],
)
def test_bad_instances_are_refused_with_a_reason(
    change: dict[str, np.ndarray], message: str
) -> None:
    problem = Problem(**{**_valid(), **change})
    for solve in (solve_exact, solve_dual):
        with pytest.raises(InvalidInput, match=message):
            solve(problem)


def test_tiny_instance_has_the_obvious_answer() -> None:
    """Candidate 1 is worth more in node 1, candidate 0 takes what is left where it can."""
    problem = Problem(**_valid())
    exact = solve_exact(problem)
    dual = solve_dual(problem)
    assert exact.objective == pytest.approx(5 * 3 + 5 * 2)
    assert dual.objective == pytest.approx(exact.objective, rel=0.01)
