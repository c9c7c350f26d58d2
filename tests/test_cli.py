"""The command line as a user meets it: clear results, clear one-line errors, no tracebacks."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from datetime import date
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import func, inspect, select
from typer.testing import CliRunner

from tests.conftest import CliEnvironment
from trustflow import cli, migrate
from trustflow.accounts.models import ApiKey
from trustflow.analytics import health
from trustflow.cli import app
from trustflow.config import get_settings
from trustflow.db import default_engine, session_factory
from trustflow.types import MAX_ID


@pytest.fixture
def store(tmp_path: Path, cli_env: CliEnvironment) -> Path:
    path = tmp_path / "cli.db"
    cli_env(f"sqlite:///{path}")
    return path


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


def test_an_unusable_database_url_is_a_clear_error(cli_env: CliEnvironment) -> None:
    cli_env("nonsense://")

    result = CliRunner().invoke(app, ["db", "upgrade"])

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
    store: Path, tmp_path: Path, cli_env: CliEnvironment
) -> None:
    cli_env(f"sqlite:///{store}", warehouse=tmp_path / "wh.duckdb")
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


def _one_line(output: str) -> str:
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    assert "Traceback" not in output
    return lines[0]


def _keys(store: Path) -> int:
    with session_factory(default_engine())() as s:
        return int(s.scalar(select(func.count()).select_from(ApiKey)) or 0)


@pytest.mark.parametrize("subject_id", [str(MAX_ID + 1), "99999999999999999999", "0", "-1"])
def test_a_key_for_an_id_no_store_can_hold_is_a_usage_error(store: Path, subject_id: str) -> None:
    runner = CliRunner()
    runner.invoke(app, ["db", "upgrade"])

    result = runner.invoke(app, ["keys", "create", "--role", "buyer", "--subject-id", subject_id])

    assert result.exit_code == 2
    assert "--subject-id" in result.output and "Traceback" not in result.output
    assert _keys(store) == 0


@pytest.mark.parametrize(
    "args",
    [
        ["traffic", "report", "--end", "0001-01-03"],
        ["traffic", "report", "--end", "9999-12-31"],
        ["traffic", "report", "--start", "1999-12-31", "--end", "2000-01-02"],
        ["traffic", "report", "--end", "2100-01-01"],
        ["traffic", "plan", "--day", "9999-12-31"],
        ["scores", "compute", "--as-of", "0001-01-01T00:00:00+14:00"],
        ["scores", "compute", "--as-of", "9999-12-31T23:00:00-12:00"],
        ["commission", "settle", "--at", "9999-12-31T23:00:00-12:00"],
        [
            "commission",
            "statement",
            "--creator",
            "1",
            "--start",
            "0001-01-01T00:00:00+14:00",
            "--end",
            "2026-01-01T00:00:00+00:00",
        ],
    ],
)
def test_a_day_or_time_outside_the_span_is_one_line_with_its_code(
    store: Path, args: list[str]
) -> None:
    runner = CliRunner()
    runner.invoke(app, ["db", "upgrade"])

    result = runner.invoke(app, args)

    assert result.exit_code == 2
    line = _one_line(result.output)
    assert line.startswith("time_out_of_range: ")
    assert "from 2000-01-01" in line and ("to 2099-12-31" in line or "to 2100-01-01" in line)


@pytest.mark.parametrize("command", ["upgrade", "downgrade"])
def test_an_unknown_revision_is_refused_with_the_known_heads(store: Path, command: str) -> None:
    heads = ScriptDirectory.from_config(migrate.alembic_config()).get_heads()

    result = CliRunner().invoke(app, ["db", command, "--revision", "nonexistent"])

    assert result.exit_code == 2
    line = _one_line(result.output)
    assert line.startswith("unknown_revision: ") and "nonexistent" in line
    assert all(head in line for head in heads)
    assert "alembic_version" not in inspect(default_engine()).get_table_names()


def test_an_unforeseen_failure_is_one_line_and_exit_code_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken() -> None:
        raise RuntimeError("something nobody\nforesaw")

    monkeypatch.setattr(cli, "app", broken)

    with pytest.raises(SystemExit) as exited:
        cli.main()

    assert exited.value.code == 1
    captured = capsys.readouterr()
    assert captured.err == "internal_error: RuntimeError: something nobody foresaw\n"


def test_a_usage_error_through_the_entry_point_keeps_click_s_message_and_code_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["trustflow", "keys", "create", "--role", "nobody"])

    with pytest.raises(SystemExit) as exited:
        cli.main()

    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "Invalid value for '--role'" in err and "internal_error" not in err


# -- the demo: a store is never replaced unasked, and summary.json depends on the seed only


def _demo(out: Path, *extra: str) -> None:
    result = CliRunner().invoke(
        app, ["demo", "--days", "1", "--seed", "5", "--out", str(out), *extra]
    )
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    _demo(out)
    return out


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_same_seed_writes_the_same_summary_byte_for_byte(
    demo_out: Path, tmp_path: Path
) -> None:
    again = tmp_path / "again"
    _demo(again)
    assert (again / "summary.json").read_bytes() == (demo_out / "summary.json").read_bytes()
    timings = json.loads((again / "timings.json").read_text())
    assert timings["scores_compute_seconds"] > 0 and timings["simulate_seconds"] > 0
    assert "seconds" not in (again / "summary.json").read_text()

    _demo(again, "--force")  # replaced whole, its warehouse too: the same figures again
    assert (again / "summary.json").read_bytes() == (demo_out / "summary.json").read_bytes()


def test_demo_refuses_to_replace_an_earlier_store(demo_out: Path) -> None:
    store = demo_out / "marketplace.db"
    before = _digest(store)

    result = CliRunner().invoke(app, ["demo", "--days", "1", "--out", str(demo_out)])

    assert result.exit_code == 2
    line = _one_line(result.output)
    assert line.startswith("output_exists: ") and "--force" in line
    assert _digest(store) == before


def test_the_traffic_report_keeps_every_figure_when_piped(
    demo_out: Path, tmp_path: Path, cli_env: CliEnvironment
) -> None:
    path = tmp_path / "store.db"
    shutil.copy(demo_out / "marketplace.db", path)
    cli_env(f"sqlite:///{path}", warehouse=tmp_path / "warehouse")
    day = date.fromisoformat(
        json.loads((demo_out / "summary.json").read_text())["config"]["start"][:10]
    )

    result = CliRunner().invoke(
        app, ["traffic", "report", "--start", day.isoformat(), "--end", day.isoformat()]
    )
    with session_factory(default_engine())() as s:
        report = health.health_report(get_settings().warehouse_files, s, start=day, end=day)

    assert result.exit_code == 0, result.output
    assert "…" not in result.output
    assert report.window.impressions > 1_000
    assert f"{report.window.impressions:,}" in result.output
    assert f"new merchants (<{health.NEW_MERCHANT_DAYS}d)" in result.output


def test_commission_settles_nothing_twice_and_a_statement_names_a_missing_creator(
    store: Path,
) -> None:
    runner = CliRunner()
    runner.invoke(app, ["db", "upgrade"])

    settled = runner.invoke(app, ["commission", "settle", "--at", "2026-03-01T00:00:00+08:00"])
    missing = runner.invoke(
        app,
        [
            "commission",
            "statement",
            "--creator",
            "7",
            "--start",
            "2026-01-01T00:00:00+00:00",
            "--end",
            "2026-02-01T00:00:00+00:00",
        ],
    )

    assert settled.exit_code == 0, settled.output
    assert "settled 0 orders as of 2026-02-28T16:00:00+00:00" in _one_line(settled.output)
    assert missing.exit_code == 2
    assert _one_line(missing.output) == "not_found: creator 7 not found"
