"""A warehouse holds one store's data: another store's export is refused before a file moves."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from tests import factories
from trustflow import migrate, store_identity
from trustflow.config import Settings
from trustflow.db import make_engine, session_factory, transaction
from trustflow.errors import Conflict, ErrorCode
from trustflow.scoring import service as scoring
from trustflow.scoring.models import ScoreVersion
from trustflow.warehouse import export as warehouse

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _sell(factory: sessionmaker[Session], name: str, days: int) -> None:
    with transaction(factory) as s:
        sold = factories.seller(s, category_id=factories.category(s), name=name, stock=100, at=T0)
        buyer = factories.buyer(s, f"{name} buyer")
        for day in range(days):
            factories.delivered_orders(
                s, sold, buyer_id=buyer, count=2, start=T0 + timedelta(days=day), key=f"d{day}"
            )


@pytest.fixture
def other_store(tmp_path: Path) -> Iterator[Engine]:
    """A second store, made as every store is made: by the migrations."""
    engine = make_engine(f"sqlite:///{(tmp_path / 'other.db').as_posix()}")
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


def test_every_store_is_born_with_its_own_identity(engine: Engine, other_store: Engine) -> None:
    mine = store_identity.store_id(engine)

    assert store_identity.store_id(engine) == mine  # stable
    assert store_identity.store_id(other_store) != mine
    assert len(mine) == 36


def test_the_manifest_names_the_store_it_was_exported_from(
    engine: Engine, factory: sessionmaker[Session], tmp_path: Path
) -> None:
    _sell(factory, "First", days=2)

    warehouse.export(engine, tmp_path / "wh")

    manifest = json.loads((tmp_path / "wh" / "manifest.json").read_text())
    assert manifest["store_id"] == store_identity.store_id(engine)


def test_a_second_store_cannot_export_into_the_first_stores_warehouse(
    engine: Engine, factory: sessionmaker[Session], other_store: Engine, tmp_path: Path
) -> None:
    _sell(factory, "First", days=3)
    _sell(session_factory(other_store), "Second", days=2)  # its order ids collide: 1, 2, ...
    root = tmp_path / "wh"
    warehouse.export(engine, root)
    before = _files(root)

    with pytest.raises(Conflict) as refused:
        warehouse.export(other_store, root)
    with pytest.raises(Conflict) as refused_again:
        warehouse.export(other_store, root, full=True)

    assert refused.value.code is ErrorCode.WAREHOUSE_BELONGS_TO_OTHER_STORE
    assert refused_again.value.code is ErrorCode.WAREHOUSE_BELONGS_TO_OTHER_STORE
    assert "TRUSTFLOW_WAREHOUSE" in refused.value.message
    assert f"remove the folder {root}" in refused.value.message
    assert _files(root) == before  # byte for byte


def test_scores_are_never_published_from_another_stores_warehouse(
    engine: Engine, factory: sessionmaker[Session], other_store: Engine, tmp_path: Path
) -> None:
    _sell(factory, "First", days=3)
    _sell(session_factory(other_store), "Second", days=2)
    root = tmp_path / "wh"
    scoring.compute_scores(engine, root, as_of=T0 + timedelta(days=4))
    before = _files(root)

    with pytest.raises(Conflict) as refused:
        scoring.compute_scores(other_store, root, as_of=T0 + timedelta(days=4))

    assert refused.value.code is ErrorCode.WAREHOUSE_BELONGS_TO_OTHER_STORE
    assert _files(root) == before
    with session_factory(other_store)() as s:
        assert s.scalar(select(func.count()).select_from(ScoreVersion)) == 0


def test_a_warehouse_from_before_store_ids_is_adopted_only_by_a_full_rewrite(
    engine: Engine, factory: sessionmaker[Session], tmp_path: Path
) -> None:
    _sell(factory, "First", days=2)
    root = tmp_path / "wh"
    warehouse.export(engine, root)
    manifest = json.loads((root / "manifest.json").read_text())
    del manifest["store_id"]  # as an earlier trustflow wrote it
    (root / "manifest.json").write_text(json.dumps(manifest))
    # a day this store never had: some other store's partition
    foreign = root / "orders" / "day=2025-01-01" / "part-0.parquet"
    foreign.parent.mkdir(parents=True)
    foreign.write_bytes((root / "orders" / "day=2026-03-01" / "part-0.parquet").read_bytes())
    before = _files(root)

    with pytest.raises(Conflict) as refused:
        warehouse.export(engine, root)
    assert refused.value.code is ErrorCode.WAREHOUSE_STORE_UNKNOWN
    assert "trustflow warehouse export --full" in refused.value.message
    assert _files(root) == before

    warehouse.export(engine, root, full=True)

    adopted = json.loads((root / "manifest.json").read_text())
    assert adopted["store_id"] == store_identity.store_id(engine)
    assert not foreign.exists()
    orders = pl.read_parquet(root / "orders" / "*" / "*.parquet")
    assert orders.height == 4 and orders["id"].n_unique() == 4
    warehouse.export(engine, root)  # and incremental exports go on from there


def test_a_full_export_keeps_only_the_days_the_store_has(
    engine: Engine, factory: sessionmaker[Session], tmp_path: Path
) -> None:
    _sell(factory, "First", days=2)
    root = tmp_path / "wh"
    warehouse.export(engine, root)
    stale = root / "orders" / "day=2025-06-01" / "part-0.parquet"
    stale.parent.mkdir(parents=True)
    stale.write_bytes((root / "orders" / "day=2026-03-02" / "part-0.parquet").read_bytes())

    warehouse.export(engine, root, full=True)

    assert sorted(p.parent.name for p in (root / "orders").glob("*/*.parquet")) == [
        "day=2026-03-01",
        "day=2026-03-02",
    ]


@pytest.mark.parametrize(
    ("database_url", "files"),
    [
        ("", Path("var/warehouse")),  # the default store, var/trustflow.db
        ("sqlite:///out/marketplace.db", Path("out/warehouse")),  # the demo's, where it exports
        ("sqlite:////srv/shop/store.db", Path("/srv/shop/warehouse")),
        ("postgresql+psycopg://trustflow@db/trustflow", Path("var/warehouse")),
        ("sqlite://", Path("var/warehouse")),  # in memory: nothing to stand beside
    ],
)
def test_the_default_warehouse_stands_beside_its_store(database_url: str, files: Path) -> None:
    settings = Settings(database_url=database_url, warehouse="")

    assert settings.warehouse_files == files
    assert settings.resolved_warehouse == files.with_suffix(".duckdb")


def test_a_set_warehouse_is_used_as_set() -> None:
    settings = Settings(database_url="sqlite:///out/marketplace.db", warehouse="wh/x.duckdb")

    assert settings.warehouse_files == Path("wh/x")
