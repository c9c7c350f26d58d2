"""Fixtures the import's tests share."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from trustflow.db import make_engine
from trustflow.importing.example import write_example


@pytest.fixture
def store(sqlite_template: Path, tmp_path: Path) -> Iterator[Engine]:
    """An empty store on SQLite alone: for what is judged before the store is asked."""
    path = tmp_path / "read.db"
    shutil.copy(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    yield engine
    engine.dispose()


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """The valid example history as version 1 writes it (no ``format.json``: orders of one
    SKU), as CSV files in ``tmp_path/history``: what every directory written before version
    2 looks like, and is still read as."""
    folder = tmp_path / "history"
    write_example(folder, version=1)
    return folder


@pytest.fixture
def example_v2(tmp_path: Path) -> Path:
    """The valid example history in version 2 (``trustflow import --example``): checkouts,
    orders of several lines, reviews and after-sales of lines."""
    folder = tmp_path / "history_v2"
    write_example(folder)
    return folder
