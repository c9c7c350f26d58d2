"""The README's tour on a simulated store: the demo scores its store, a buyer orders and pays
at wall-clock now through the API, and `trustflow scores compute` with no options publishes
the same scores, from the demo's own warehouse beside its store."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from tests.conftest import CliEnvironment
from trustflow.accounts import service as accounts_service
from trustflow.accounts.models import Role
from trustflow.api.app import create_app
from trustflow.cli import app
from trustflow.db import make_engine, session_factory, transaction
from trustflow.scoring import service as scoring
from trustflow.scoring.models import EntityScore, ScoreVersion, VersionState
from trustflow.simulate import config_for, run_simulation
from trustflow.simulate.runner import STORE_NAME

DEMO = replace(config_for("small", seed=4, days=8), shops=20, creators=40, buyers=1500)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo's output folder, scored as `trustflow demo` scores it (out/warehouse/)."""
    out = tmp_path_factory.mktemp("demo")
    run = run_simulation(DEMO, out)
    scoring.compute_scores(run.engine, out / "warehouse")
    run.engine.dispose()
    return out


@pytest.fixture
def tour(demo: Path, tmp_path: Path, cli_env: CliEnvironment) -> Path:
    """A private copy of the demo, and the tour's environment: only the store's URL is set."""
    out = tmp_path / "out"
    shutil.copytree(demo, out)
    cli_env(f"sqlite:///{(out / STORE_NAME).as_posix()}")
    return out


def _buyer_orders_and_pays_now(store: Path) -> None:
    engine = make_engine(f"sqlite:///{store.as_posix()}")
    try:
        with transaction(session_factory(engine)) as s:
            _, key = accounts_service.create_api_key(s, role=Role.BUYER, subject_id=1)
        with TestClient(create_app(engine)) as client:
            headers = {"X-API-Key": key}
            placed = client.post(
                "/api/v1/orders",
                headers=headers | {"Idempotency-Key": "tour-1"},
                json={"sku_id": 1, "quantity": 1},
            )
            assert placed.status_code == 201, placed.text
            paid = client.post(
                f"/api/v1/orders/{placed.json()['id']}/pay",
                headers=headers | {"Idempotency-Key": "tour-pay-1"},
            )
            assert paid.status_code == 200, paid.text
    finally:
        engine.dispose()


def _versions(store: Path) -> dict[int, tuple[VersionState, dict[tuple[str, int], Any]]]:
    engine = make_engine(f"sqlite:///{store.as_posix()}")
    try:
        with session_factory(engine)() as s:
            versions = {v.id: v.state for v in s.scalars(select(ScoreVersion))}
            scores: dict[int, dict[tuple[str, int], Any]] = {v: {} for v in versions}
            for row in s.scalars(select(EntityScore)):
                scores[row.version_id][(row.kind.value, row.entity_id)] = (
                    row.score,
                    row.lower,
                    row.upper,
                    row.sample,
                    row.status,
                    row.tier,
                    row.restricted,
                )
    finally:
        engine.dispose()
    return {v: (state, scores[v]) for v, state in versions.items()}


def test_the_tours_scores_compute_publishes_the_demos_scores_again(tour: Path) -> None:
    store = tour / STORE_NAME
    ((demo_version, (_, demo_scores)),) = _versions(store).items()
    _buyer_orders_and_pays_now(store)

    result = CliRunner().invoke(app, ["scores", "compute"])

    assert result.exit_code == 0, result.output
    versions = _versions(store)
    (new_version,) = set(versions) - {demo_version}
    state, new_scores = versions[new_version]
    assert state is VersionState.ACTIVE
    assert len(demo_scores) > 20
    assert new_scores == demo_scores  # every entity, every figure
    assert not (tour.parent / "var").exists()  # the demo's warehouse, not a second one
    assert any((tour / "warehouse" / "orders").glob("*/*.parquet"))


@pytest.mark.parametrize(
    ("as_of", "code"),
    [
        ("0001-01-01T00:00:00+00:00", "time_out_of_range"),  # outside any store: the date edge
        ("2000-01-01T00:00:00+00:00", "score_publication_refused"),  # before the demo's data
        ("2099-01-01T00:00:00+00:00", "score_publication_refused"),  # in the future
    ],
)
def test_the_tour_cannot_publish_an_as_of_outside_the_demo(
    tour: Path, as_of: str, code: str
) -> None:
    store = tour / STORE_NAME
    before = _versions(store)

    result = CliRunner().invoke(app, ["scores", "compute", "--as-of", as_of])

    assert result.exit_code == 2
    assert result.output.splitlines()[-1].startswith(f"{code}: ")
    assert "Traceback" not in result.output
    assert _versions(store) == before  # the demo's version is still the one served


def test_forced_the_tour_publishes_what_it_was_told(tour: Path) -> None:
    store = tour / STORE_NAME
    (demo_version,) = _versions(store)

    result = CliRunner().invoke(
        app, ["scores", "compute", "--as-of", "2000-01-01T00:00:00+00:00", "--force"]
    )

    assert result.exit_code == 0, result.output
    versions = _versions(store)
    assert versions[demo_version][0] is VersionState.SUPERSEDED
    ((state, scores),) = [v for k, v in versions.items() if k != demo_version]
    assert (state, scores) == (VersionState.ACTIVE, {})
