"""Test fixtures: every store-backed test runs on SQLite and, when available, PostgreSQL.

PostgreSQL is found through ``TRUSTFLOW_TEST_POSTGRES_URL``. Locally the PostgreSQL leg skips
when that is unset; in CI (``CI=true``) a missing PostgreSQL is an error, never a skip.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, text
from sqlalchemy.orm import Session, sessionmaker

from trustflow import migrate
from trustflow.config import get_settings
from trustflow.db import default_engine, make_engine, session_factory
from trustflow.models import metadata

PG_URL = os.environ.get("TRUSTFLOW_TEST_POSTGRES_URL", "")
IN_CI = os.environ.get("CI", "").lower() == "true"


def postgres_url_or_skip() -> str:
    if PG_URL:
        return PG_URL
    if IN_CI:
        pytest.fail("CI=true but TRUSTFLOW_TEST_POSTGRES_URL is not set: PostgreSQL tests must run")
    pytest.skip("PostgreSQL not available (set TRUSTFLOW_TEST_POSTGRES_URL)")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_engine() -> Iterator[Engine]:
    engine = make_engine(postgres_url_or_skip())
    # what an earlier run left behind (at whatever revision) is not this run's
    left = [t for t in inspect(engine).get_table_names() if t != "alembic_version"]
    if left:
        with engine.begin() as conn:
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in left) + " CASCADE"))
    migrate.downgrade(engine, "base")
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


def _truncate_all(engine: Engine) -> None:
    names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty marketplace store on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "trustflow.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        eng = make_engine(f"sqlite:///{path}")
        yield eng
        eng.dispose()
    else:
        eng = request.getfixturevalue("postgres_engine")
        _truncate_all(eng)
        yield eng


@pytest.fixture
def factory(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)


@pytest.fixture
def session(factory: sessionmaker[Session]) -> Iterator[Session]:
    with factory() as s:
        yield s


CliEnvironment = Callable[..., None]


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[CliEnvironment]:
    """Point the CLI at a store, as a user does: ``cli_env("sqlite:///…", warehouse=path)``
    sets ``TRUSTFLOW_DATABASE_URL`` and ``TRUSTFLOW_WAREHOUSE`` (unset without ``warehouse``:
    the default beside the store) and drops the cached settings and engine, before the test
    and after it."""

    def drop_cached() -> None:
        if default_engine.cache_info().currsize:  # only an engine the test made
            default_engine().dispose()
        get_settings.cache_clear()
        default_engine.cache_clear()

    def use(database_url: str, *, warehouse: Path | None = None) -> None:
        monkeypatch.setenv("TRUSTFLOW_DATABASE_URL", database_url)
        if warehouse is None:
            monkeypatch.delenv("TRUSTFLOW_WAREHOUSE", raising=False)
        else:
            monkeypatch.setenv("TRUSTFLOW_WAREHOUSE", str(warehouse))
        drop_cached()

    yield use
    drop_cached()
