"""Run a simulated marketplace into a fresh store and collect what it produced."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from trustflow import migrate
from trustflow.analytics.summary import marketplace_summary
from trustflow.db import make_engine, session_factory
from trustflow.errors import Conflict, ErrorCode
from trustflow.simulate.config import SimConfig
from trustflow.simulate.festival import Festival, festival_config
from trustflow.simulate.market import DayStats, Simulation
from trustflow.simulate.policies import FeedPolicy

STORE_NAME = "marketplace.db"
ORDER_TRUTH_NAME = "order_truth.parquet"
#: The warehouse the demo scores from, beside its store: replaced with it.
WAREHOUSE_DIR = "warehouse"


@dataclass
class SimulationRun:
    engine: Engine
    store: Path
    truth: Path
    #: one row per paid order: its chance to arrive late and to be reviewed badly
    order_truth: Path
    summary: dict[str, Any]
    days: list[DayStats]


def _store_files(out_dir: Path) -> list[Path]:
    store = out_dir / STORE_NAME
    return [Path(f"{store}{suffix}") for suffix in ("", "-wal", "-shm")]


def check_output(out_dir: Path, *, replace: bool = False) -> None:
    """Refuse (``output_exists``) an ``out_dir`` holding the store of an earlier run, with the
    API keys made on it since, unless ``replace``."""
    if not replace and any(f.exists() for f in _store_files(out_dir)):
        raise Conflict(
            f"{out_dir / STORE_NAME} holds the store of an earlier run (and any API keys made "
            "on it): choose another --out, or pass --force to replace it",
            code=ErrorCode.OUTPUT_EXISTS,
            store=str(out_dir / STORE_NAME),
        )


def fresh_store(out_dir: Path, *, replace: bool = False) -> tuple[Engine, Path]:
    """A new, migrated SQLite store in ``out_dir``.

    An earlier run's store is refused (:func:`check_output`) unless ``replace``: then it
    goes, and its warehouse with it, so the new store is never scored from the old files.
    """
    check_output(out_dir, replace=replace)
    out_dir.mkdir(parents=True, exist_ok=True)
    store = out_dir / STORE_NAME
    for f in _store_files(out_dir):
        f.unlink(missing_ok=True)
    shutil.rmtree(out_dir / WAREHOUSE_DIR, ignore_errors=True)
    engine = make_engine(f"sqlite:///{store.as_posix()}")
    migrate.upgrade(engine)
    return engine, store


def run_simulation(
    config: SimConfig,
    out_dir: Path,
    *,
    policy: FeedPolicy | None = None,
    on_day: Callable[[DayStats], None] | None = None,
    on_built: Callable[[], None] | None = None,
    replace: bool = False,
    festival: str | None = None,
) -> SimulationRun:
    """Simulate ``config`` into a fresh store in ``out_dir`` (``replace``: see
    :func:`fresh_store`), with the festival named ``festival`` (:data:`FESTIVALS`) inside
    the simulated days if one is named."""
    shape = festival_config(festival, config.days) if festival is not None else None
    engine, store = fresh_store(out_dir, replace=replace)
    driver = (
        Festival(shape, engine, int(config.start.timestamp()), config.days, config.seed)
        if shape is not None
        else None
    )
    simulation = Simulation(config, session_factory(engine), policy=policy, festival=driver)
    population = simulation.build()
    if on_built is not None:
        on_built()
    days = simulation.run(on_day)
    truth = population.truth.write(out_dir / "truth.parquet")
    order_truth = simulation.order_truth().write(out_dir / ORDER_TRUTH_NAME)
    with session_factory(engine)() as session:
        summary = marketplace_summary(session, days=config.days)
        summary["campaigns"] = [driver.results(session)] if driver is not None else []
    summary["seed"] = config.seed
    summary["policy"] = simulation.policy.name
    summary["config"] = {k: v for k, v in asdict(config).items() if k not in ("start",)} | {
        "start": config.start.isoformat()
    }
    return SimulationRun(
        engine=engine,
        store=store,
        truth=truth,
        order_truth=order_truth,
        summary=summary,
        days=days,
    )


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)  # the figure was summed in fen; this is only its printed form
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def write_summary(summary: dict[str, Any], path: Path) -> Path:
    path.write_text(
        json.dumps(summary, indent=2, sort_keys=True, ensure_ascii=False, default=_json_default)
        + "\n",
        encoding="utf-8",
    )
    return path
