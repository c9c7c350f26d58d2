"""The daily traffic plan as one flow: export by watermark, gather the plan's inputs (the
warehouse's history, the store's scores and the day's Chuanliu promises), solve, store the plan
and switch it in.

``trustflow traffic plan`` runs it on the store's engine (the flow opens and commits its own
session); the simulator's plan policy (:class:`~trustflow.simulate.plan_policy.PlanPolicy`) runs
it inside the day's open session, which the caller commits. The flow draws nothing: it names
each step to ``on_step``, and the command line turns the names into its progress display.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import cast

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from trustflow.db import session_factory
from trustflow.errors import InvalidInput
from trustflow.traffic.plan import service as tp
from trustflow.traffic.plan.models import TrafficPlan
from trustflow.warehouse.export import export

__all__ = ["DailyPlan", "NoHistory", "run_daily_plan"]

#: Told the name of each step as it starts.
OnStep = Callable[[str], None]


class NoHistory(InvalidInput):
    """The warehouse holds nothing to plan the day from (no candidates, no supply to forecast).
    Same message and code as the refusal it stands for; the simulator runs such a day on its
    baseline policy instead."""


@dataclass(frozen=True)
class DailyPlan:
    """The stored plan and what was solved for it."""

    plan: TrafficPlan
    built: tp.BuiltPlan

    @property
    def candidates(self) -> int:
        return len(self.built.inputs)


class _Borrowed:
    """An engine look-alike whose connections are one already open (the export only asks an
    engine for connections, and for the store's identity in a transaction: the open one)."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        yield self._connection

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        yield self._connection


def _quiet(_step: str) -> None:
    return None


def run_daily_plan(
    store: Engine | Session,
    warehouse: Path,
    day: date,
    *,
    solver: str = "dual",
    activate: bool = True,
    on_step: OnStep | None = None,
) -> DailyPlan:
    """Export, plan ``day``, store the plan and (with ``activate``) switch it in.

    ``store`` is the store's engine, or a session whose transaction the caller owns. With an
    engine the flow commits twice: once the day's Chuanliu promises are made (they stand even
    if the solve fails), and once the plan is stored. With a session it exports through the
    session's connection (the open transaction holds a SQLite store) and only flushes.
    Raises :class:`NoHistory` when the warehouse has nothing to plan from.
    """
    step = on_step or _quiet
    step("exporting the store to the warehouse")
    if isinstance(store, Session):
        export(cast(Engine, _Borrowed(store.connection())), warehouse)
        return _plan(store, warehouse, day, solver=solver, activate=activate, step=step, own=False)
    export(store, warehouse)
    with session_factory(store)() as session:
        return _plan(session, warehouse, day, solver=solver, activate=activate, step=step, own=True)


def _plan(
    session: Session,
    warehouse: Path,
    day: date,
    *,
    solver: str,
    activate: bool,
    step: OnStep,
    own: bool,
) -> DailyPlan:
    step("forecasting supply and valuing candidates")
    try:
        inputs = tp.gather_inputs(session, warehouse, day)
    except InvalidInput as exc:
        raise NoHistory(exc.message, code=exc.code, **exc.details) from exc
    if own:
        session.commit()  # the day's Chuanliu promises stand even if the solve fails
    step(f"solving ({solver})")
    built = tp.solve(inputs, solver=solver)
    step("storing the plan")
    plan = tp.store(session, built)
    if activate:
        tp.activate(session, plan.id)
    if own:
        session.commit()
    else:
        session.flush()
    return DailyPlan(plan=plan, built=built)
