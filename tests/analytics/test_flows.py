"""The traffic health report as a flow: export first, then the report from what was exported."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from tests.analytics.test_health import DAY1, DAY2, build_market
from trustflow.analytics.flows import run_health_report
from trustflow.analytics.health import health_report


def test_the_flow_exports_then_reports_naming_each_step(
    factory: sessionmaker[Session], engine: Engine, session: Session, tmp_path: Path
) -> None:
    market = build_market(factory, engine, tmp_path / "market")
    fresh = tmp_path / "fresh"
    steps: list[str] = []

    report = run_health_report(engine, fresh, start=DAY1, end=DAY2, on_step=steps.append)

    assert steps == ["exporting the store to the warehouse", "computing traffic health"]
    assert report.window.impressions > 0
    assert report == health_report(market.root, session, start=DAY1, end=DAY2)
    assert report == health_report(fresh, session, start=DAY1, end=DAY2)
