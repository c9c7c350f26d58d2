"""The traffic health report as one flow: export by watermark (which brings the impressions up
to date), then compute the report from the warehouse and the Chuanliu ledger.

``trustflow traffic report`` runs it on the store's engine and renders what it returns (the
terminal's tables in :mod:`trustflow.cli_views`, the chart page in
:mod:`trustflow.web.health_chart`). The flow draws nothing: it names each step to ``on_step``,
and the command line turns the names into its progress display, as for
:func:`trustflow.traffic.flows.run_daily_plan`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

from sqlalchemy import Engine

from trustflow.analytics.health import HealthReport, health_report
from trustflow.db import session_factory
from trustflow.warehouse.export import export

__all__ = ["run_health_report"]

#: Told the name of each step as it starts.
OnStep = Callable[[str], None]


def _quiet(_step: str) -> None:
    return None


def run_health_report(
    store: Engine,
    warehouse: Path,
    *,
    start: date,
    end: date,
    on_step: OnStep | None = None,
) -> HealthReport:
    """Export the store to ``warehouse``, then report traffic health for each UTC day from
    ``start`` to ``end`` (see :func:`~trustflow.analytics.health.health_report`, whose
    :class:`~trustflow.errors.InvalidInput` for a bad window it raises)."""
    step = on_step or _quiet
    step("exporting the store to the warehouse")
    export(store, warehouse)
    step("computing traffic health")
    with session_factory(store)() as session:
        return health_report(warehouse, session, start=start, end=end)
