"""The simulator runs the marketplace on the daily plan: a plan per day once there is history,
one in force at a time, and traffic that follows what each plan allotted."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from trustflow.db import session_factory
from trustflow.simulate.config import config_for
from trustflow.simulate.runner import run_simulation
from trustflow.traffic.models import Impression
from trustflow.traffic.plan_models import PlanStatus, TrafficPlan
from trustflow.traffic.policy import POLICIES


def test_a_simulation_runs_on_daily_plans(tmp_path: Path) -> None:
    config = config_for("small", days=6, seed=5)
    run = run_simulation(config, tmp_path, policy=POLICIES["plan"]())
    with session_factory(run.engine)() as session:
        plans = session.execute(
            select(TrafficPlan.plan_day, TrafficPlan.status).order_by(TrafficPlan.id)
        ).all()
        surfaces = session.scalar(select(func.count(func.distinct(Impression.surface))))
    run.engine.dispose()
    # day 1 has no history and runs on the baseline; every later day has its own plan
    assert [p.plan_day for p in plans] == [
        config.start.date() + timedelta(days=d) for d in range(1, 6)
    ]
    assert [p.status for p in plans] == [PlanStatus.RETIRED] * 4 + [PlanStatus.ACTIVE]
    assert surfaces == 7
    assert run.summary["policy"] == "plan"
    assert run.summary["orders"] > 0
