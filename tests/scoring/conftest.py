"""A simulated marketplace, exported to a warehouse once, for the score tests."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from trustflow.simulate import config_for, run_simulation
from trustflow.simulate.config import SimConfig
from trustflow.simulate.score_quality import newest_activity
from trustflow.warehouse.export import export

IN_CI = os.environ.get("CI", "").lower() == "true"
#: Small scale, with enough shops that a rank correlation means something.
SIM = replace(config_for("small", seed=3, days=45), shops=240, creators=400, buyers=20_000)


@dataclass(frozen=True)
class SimWarehouse:
    root: Path
    truth: Path
    as_of: int


def simulated_warehouse(config: SimConfig, out: Path) -> SimWarehouse:
    run = run_simulation(config, out)
    root = out / "warehouse"
    export(run.engine, root)
    run.engine.dispose()
    return SimWarehouse(root=root, truth=run.truth, as_of=newest_activity(root))


@pytest.fixture(scope="session")
def sim_warehouse(tmp_path_factory: pytest.TempPathFactory) -> SimWarehouse:
    return simulated_warehouse(SIM, tmp_path_factory.mktemp("scored-market"))


@pytest.fixture
def warehouse_copy(sim_warehouse: SimWarehouse, tmp_path: Path) -> Path:
    """A private copy of the simulated warehouse that a test may add files to."""
    root = tmp_path / "warehouse"
    shutil.copytree(sim_warehouse.root, root)
    return root


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """A local Spark session; skipped off CI when pyspark or Java is missing."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        if IN_CI:
            pytest.fail("CI=true but pyspark is not installed")
        pytest.skip("pyspark is not installed")
    if shutil.which("java") is None:
        if IN_CI:
            pytest.fail("CI=true but no Java runtime: Spark tests must run")
        pytest.skip("no Java runtime for Spark")
    session = (
        SparkSession.builder.master("local[2]")
        .appName("trustflow-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.driver.memory", "2g")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
