"""The demo as one flow: simulate a marketplace, export and score it as the nightly job would,
write summary.json, the report and timings.json.

``trustflow demo`` parses its options, draws progress from the callbacks and prints the
result; the steps are here. The report is an adapter's page (:mod:`trustflow.web.report`),
which the simulator may not import: the caller hands the flow the function that writes it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from trustflow.db import session_factory
from trustflow.scoring.service import compute_scores, tier_counts
from trustflow.simulate.config import SimConfig
from trustflow.simulate.market import DayStats
from trustflow.simulate.policies import FeedPolicy
from trustflow.simulate.runner import WAREHOUSE_DIR, SimulationRun, run_simulation, write_summary
from trustflow.simulate.score_quality import evaluate

__all__ = ["DemoRun", "ReportWriter", "run_demo"]

#: Writes the report of a run (the store's session, the summary, the path); returns the path.
ReportWriter = Callable[[Session, dict[str, Any], Path], Path]


@dataclass(frozen=True)
class DemoRun:
    """What the demo wrote and where."""

    summary: dict[str, Any]
    store: Path
    summary_path: Path
    report_path: Path
    timings_path: Path


def run_demo(
    config: SimConfig,
    out: Path,
    *,
    policy: FeedPolicy,
    write_report: ReportWriter,
    replace: bool = False,
    on_day: Callable[[DayStats], None] | None = None,
    on_built: Callable[[], None] | None = None,
    on_step: Callable[[str], None] | None = None,
    festival: str | None = None,
) -> DemoRun:
    """Simulate ``config`` into ``out``, score it, write summary.json, the report (with
    ``write_report``) and timings.json. The same config gives the same summary.json, byte for
    byte; the seconds each step took go to timings.json. ``festival`` names a festival to run
    inside the simulated days (:data:`~trustflow.simulate.festival.FESTIVALS`). ``on_day``
    and ``on_built`` are :func:`~trustflow.simulate.runner.run_simulation`'s; ``on_step`` is
    told when scoring starts."""
    started = time.perf_counter()
    run = run_simulation(
        config,
        out,
        policy=policy,
        on_day=on_day,
        on_built=on_built,
        replace=replace,
        festival=festival,
    )
    simulated = time.perf_counter()
    if on_step is not None:
        on_step("scoring shops, products and creators")
    run.summary["scores"], compute_seconds = _scores(run, out / WAREHOUSE_DIR)
    scored = time.perf_counter()
    summary_path = write_summary(run.summary, out / "summary.json")
    with session_factory(run.engine)() as session:
        report_path = write_report(session, run.summary, out / "report.html")
    run.engine.dispose()
    timings = {
        "simulate_seconds": round(simulated - started, 3),
        "scores_seconds": round(scored - simulated, 3),
        "scores_compute_seconds": round(compute_seconds, 3),
        "report_seconds": round(time.perf_counter() - scored, 3),
    }
    timings_path = write_summary(timings, out / "timings.json")
    return DemoRun(
        summary=run.summary,
        store=run.store,
        summary_path=summary_path,
        report_path=report_path,
        timings_path=timings_path,
    )


def _scores(run: SimulationRun, warehouse: Path) -> tuple[dict[str, Any], float]:
    """Score the simulated marketplace like the nightly job would, and (simulator only) say
    how well the store experience score ranks shops against the hidden truth. The figures
    depend on the seed only; the seconds the computation took come apart, for timings.json."""
    scored = compute_scores(run.engine, warehouse)
    quality = evaluate(warehouse, run.truth, days=1)
    with session_factory(run.engine)() as session:
        tiers = tier_counts(session)
    figures = {
        "version": scored.version_id,
        "as_of": scored.as_of.isoformat(),
        "tiers": tiers,
        "store_spearman_vs_truth": round(quality.spearman_store_vs_truth, 3),
    }
    return figures, scored.seconds_compute
