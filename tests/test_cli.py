"""The command line as a user meets it: clear results, clear one-line errors, no tracebacks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from trustflow.cli import app
from trustflow.config import get_settings
from trustflow.db import default_engine


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "cli.db"
    monkeypatch.setenv("TRUSTFLOW_DATABASE_URL", f"sqlite:///{path}")
    get_settings.cache_clear()
    default_engine.cache_clear()
    yield path
    default_engine().dispose()
    get_settings.cache_clear()
    default_engine.cache_clear()


def test_upgrade_then_issue_an_operator_key(store: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0

    result = runner.invoke(app, ["keys", "create", "--role", "operator"])

    assert result.exit_code == 0
    assert result.stdout.strip().startswith("tfk_")


def test_a_key_for_a_missing_subject_is_a_clear_error(store: Path) -> None:
    runner = CliRunner()
    runner.invoke(app, ["db", "upgrade"])

    result = runner.invoke(app, ["keys", "create", "--role", "merchant", "--subject-id", "42"])

    assert result.exit_code == 2
    assert "not_found" in result.output
    assert "Traceback" not in result.output


def test_an_unusable_database_url_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRUSTFLOW_DATABASE_URL", "nonsense://")
    get_settings.cache_clear()
    default_engine.cache_clear()
    try:
        result = CliRunner().invoke(app, ["db", "upgrade"])
    finally:
        get_settings.cache_clear()
        default_engine.cache_clear()

    assert result.exit_code == 2
    assert "invalid_settings" in result.output


def test_demo_writes_summary_and_report(tmp_path: Path) -> None:
    out = tmp_path / "out"

    result = CliRunner().invoke(app, ["demo", "--days", "2", "--seed", "3", "--out", str(out)])

    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["days"] == 2 and summary["seed"] == 3 and summary["orders"] > 0
    assert sum(summary["scores"]["tiers"]["store"].values()) > 0  # the shops were scored
    report = (out / "report.html").read_text()
    assert "chart-gmv" in report and "chart-scores" in report and "Plotly" in report
    assert '<script src="http' not in report  # opens offline: nothing fetched


def test_demo_refuses_an_unknown_scale(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["demo", "--scale", "huge", "--out", str(tmp_path)])

    assert result.exit_code == 2
    assert not (tmp_path / "summary.json").exists()


def test_demo_into_a_file_path_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")

    result = CliRunner().invoke(app, ["demo", "--days", "1", "--out", str(blocker)])

    assert result.exit_code == 2
    assert "io_error" in result.output
    assert blocker.read_text() == "not a directory"


def test_serve_refuses_a_store_that_is_not_migrated(store: Path) -> None:
    result = CliRunner().invoke(app, ["serve", "--port", "8999"])

    assert result.exit_code == 2
    assert "store_not_migrated" in result.output


def test_demo_runs_under_another_policy(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["demo", "--days", "1", "--policy", "uniform", "--out", str(tmp_path)]
    )

    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "summary.json").read_text())["policy"] == "uniform"


def test_scores_compute_publishes_a_version_and_exports_the_warehouse(
    store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRUSTFLOW_WAREHOUSE", str(tmp_path / "wh.duckdb"))
    get_settings.cache_clear()
    runner = CliRunner()
    runner.invoke(app, ["db", "upgrade"])

    result = runner.invoke(app, ["scores", "compute", "--as-of", "2026-03-01T00:00:00+00:00"])
    assert result.exit_code == 0, result.output
    assert "score version 1 active" in result.output
    assert (tmp_path / "wh" / "manifest.json").exists()

    exported = runner.invoke(app, ["warehouse", "export"])
    assert exported.exit_code == 0 and "orders" in exported.output


@pytest.mark.parametrize("as_of", ["yesterday", "2026-03-01T00:00:00"])
def test_scores_compute_refuses_an_unclear_time(store: Path, as_of: str) -> None:
    runner = CliRunner()
    runner.invoke(app, ["db", "upgrade"])
    result = runner.invoke(app, ["scores", "compute", "--as-of", as_of])
    assert result.exit_code == 2
    assert "invalid_input" in result.output and "Traceback" not in result.output


def test_scores_compute_refuses_an_unmigrated_store(store: Path) -> None:
    result = CliRunner().invoke(app, ["scores", "compute"])
    assert result.exit_code == 2 and "store_not_migrated" in result.output
