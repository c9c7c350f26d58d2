"""The daily plan built from a simulated marketplace: supply, values, bounds, the CLI."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests.conftest import CliEnvironment
from trustflow.cli import app
from trustflow.config import get_settings
from trustflow.db import default_engine, make_engine, session_factory
from trustflow.errors import InvalidInput
from trustflow.simulate.config import config_for
from trustflow.simulate.runner import run_simulation
from trustflow.traffic.models import Impression
from trustflow.traffic.plan import service as tp
from trustflow.traffic.plan.models import CandidateKind, PlanStatus, TrafficPlan
from trustflow.warehouse.export import export


@dataclass
class Simulated:
    store: Path
    warehouse: Path
    day: date


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Simulated:
    out = tmp_path_factory.mktemp("plansim")
    config = config_for("small", days=10, seed=11)
    run = run_simulation(config, out)
    export(run.engine, out / "warehouse", full=True)
    run.engine.dispose()
    return Simulated(
        out / "marketplace.db", out / "warehouse", (config.start + timedelta(days=10)).date()
    )


@pytest.fixture
def store(simulated: Simulated, tmp_path: Path) -> Iterator[Session]:
    path = tmp_path / "store.db"
    shutil.copy(simulated.store, path)
    engine = make_engine(f"sqlite:///{path}")
    with session_factory(engine)() as session:
        yield session
    engine.dispose()


def test_supply_is_the_mean_day_of_the_log(simulated: Simulated, store: Session) -> None:
    inputs = tp.gather_inputs(store, simulated.warehouse, simulated.day)
    start = datetime.combine(simulated.day, datetime.min.time(), tzinfo=UTC) - timedelta(days=10)
    logged = store.scalar(select(func.sum(Impression.count)).where(Impression.shown_at >= start))
    assert inputs.supply.sum() == pytest.approx(logged / 10, rel=1e-9)
    assert len(inputs.supply) == len(tp.SURFACES) * tp.HOURS * get_settings().traffic_segments


def test_values_shrink_toward_the_category(simulated: Simulated, store: Session) -> None:
    """GMV per impression with pseudo-impressions at the category's rate: every value lies
    between the candidate's own rate and its category's, and cards with no sales yet start
    above zero."""
    inputs = tp.gather_inputs(store, simulated.warehouse, simulated.day)
    kinds = {tp.KINDS[k] for k in np.unique(inputs.kind)}
    assert kinds == set(CandidateKind)
    assert np.all(inputs.value_fen > 0)
    assert np.all(np.isfinite(inputs.value_fen))
    cards = inputs.kind == tp.KINDS.index(CandidateKind.PRODUCT_CARD)
    # an unproven card is worth its category's rate, not zero and not a lucky first sale
    assert inputs.value_fen[cards].std() < inputs.value_fen[cards].mean() * 5


def test_plan_keeps_promises_and_floors_and_caps(simulated: Simulated, store: Session) -> None:
    inputs = tp.gather_inputs(store, simulated.warehouse, simulated.day)
    inputs.is_new[: max(len(inputs) // 10, 1)] = True  # some new merchants
    built = tp.solve(inputs)
    totals = built.solution.per_candidate(built.problem)
    floors = built.floor > 0
    assert floors.any()
    assert np.all(totals[floors] >= built.floor[floors] * 0.99)
    assert np.all(totals <= built.problem.upper * 1.0001)
    load = np.bincount(built.problem.node, weights=built.solution.x, minlength=len(inputs.supply))
    assert np.all(load <= inputs.supply * 1.0001 + 1e-6)


def test_a_day_without_history_is_refused(simulated: Simulated, store: Session) -> None:
    with pytest.raises(InvalidInput, match="no impressions"):
        tp.gather_inputs(store, simulated.warehouse, date(2020, 1, 1))


@pytest.fixture
def cli_store(simulated: Simulated, tmp_path: Path, cli_env: CliEnvironment) -> Path:
    path = tmp_path / "cli.db"
    shutil.copy(simulated.store, path)
    cli_env(f"sqlite:///{path}", warehouse=tmp_path / "warehouse")
    return path


def test_cli_plans_switches_and_reports(
    simulated: Simulated, cli_store: Path, tmp_path: Path
) -> None:
    runner = CliRunner()
    day = simulated.day.isoformat()
    first = runner.invoke(app, ["traffic", "plan", "--day", day])
    assert first.exit_code == 0, first.output
    second = runner.invoke(app, ["traffic", "plan", "--day", day, "--solver", "exact"])
    assert second.exit_code == 0, second.output
    with session_factory(default_engine())() as s:
        statuses = s.execute(
            select(TrafficPlan.solver, TrafficPlan.status).order_by(TrafficPlan.id)
        ).all()
    assert statuses == [("dual", PlanStatus.RETIRED), ("highs", PlanStatus.ACTIVE)]
    report = runner.invoke(
        app,
        [
            "traffic",
            "report",
            "--end",
            (simulated.day - timedelta(days=1)).isoformat(),
            "--out",
            str(tmp_path),
        ],
    )
    assert report.exit_code == 0, report.output
    assert (tmp_path / "traffic_health.html").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["traffic", "plan", "--day", "2026-02-30"],
        ["traffic", "plan", "--day", "2019-01-01"],
        ["traffic", "plan", "--solver", "magic"],
        ["traffic", "report", "--start", "2026-03-01", "--end", "2026-01-01"],
    ],
)
def test_cli_bad_input_is_one_clear_line(cli_store: Path, args: list[str]) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert "Traceback" not in result.output
