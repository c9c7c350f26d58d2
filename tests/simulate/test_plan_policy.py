"""The simulator runs the marketplace on the daily plan: a plan per day once there is history,
one in force at a time, and traffic that follows what each plan allotted."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.traffic.serving.test_feed import _market, _plan
from trustflow.db import session_factory
from trustflow.simulate.config import config_for
from trustflow.simulate.plan_policy import POLICIES, PlanPolicy
from trustflow.simulate.policies import Candidates
from trustflow.simulate.runner import run_simulation
from trustflow.traffic.models import Impression
from trustflow.traffic.plan import service as tp
from trustflow.traffic.plan.models import CandidateKind, PlanStatus, TrafficPlan
from trustflow.traffic.serving.snapshot import PlanSnapshot
from trustflow.vocabulary import ItemKind, Surface


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


def test_a_promise_is_not_paid_twice(session: Session) -> None:
    """The plan counts a Chuanliu promise in the room's planned impressions; the reward pacer
    delivers it on top, so the organic weight is what the plan allotted beyond it."""
    m = _market(session)
    plan = _plan(session, m, promised_shop0=30)
    snap = PlanSnapshot.load(session, plan)
    room = snap.index[(tp.KINDS.index(CandidateKind.SHOP_ROOM), m.shops[0])]
    policy = PlanPolicy(snapshot=snap)
    weights = policy.allocate(
        Candidates(
            Surface.FEATURED,
            ItemKind.LIVE_SESSION,
            np.array([m.live["shop0"]]),
            np.array([m.shops[0]]),
            np.array([0]),
        )
    ).weights
    assert snap.planned[room] >= 30
    assert weights[0] == pytest.approx(max(snap.planned[room] - 30, 1.0))


def test_loading_a_plan_keeps_the_callers_unfinished_work(session: Session) -> None:
    """The simulator stores, activates and loads a day's plan in the day's transaction: reading
    the promised owners' audience must not end that transaction (it once rolled it back, and
    the day's plan with it)."""
    m = _market(session)
    _plan(session, m, promised_shop0=30)
    plan = _plan(session, m, promised_shop0=30, day=date(2026, 3, 3), commit=False)

    snap = PlanSnapshot.load(session, plan)
    session.commit()

    assert snap.plan_id == plan.id
    active = session.scalars(select(TrafficPlan).where(TrafficPlan.status == PlanStatus.ACTIVE))
    assert [p.id for p in active] == [plan.id]
