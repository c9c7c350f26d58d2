"""A simulated marketplace, written in the import format and imported into an empty store,
gives back the same history: the same scores, the same Chuanliu decisions, the same figures."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from trustflow import migrate
from trustflow.accounts.models import Buyer, Creator
from trustflow.analytics.summary import marketplace_summary
from trustflow.catalog.models import Product, Shop
from trustflow.config import get_settings
from trustflow.db import make_engine, session_factory
from trustflow.importing.export import export_history
from trustflow.importing.flows import run_import
from trustflow.models import metadata
from trustflow.scoring import service as scoring
from trustflow.scoring.models import EntityScore, ScoreVersion, VersionState
from trustflow.simulate.config import config_for
from trustflow.simulate.runner import run_simulation
from trustflow.traffic.chuanliu.eligibility import decide
from trustflow.traffic.chuanliu.facts import gather, windows_of

CONFIG = replace(config_for("small", seed=11, days=12), shops=16, creators=40, buyers=900)
#: tables the format does not carry row for row: keys, plans and scores (the jobs make them),
#: settlements (a job too), an after-sales request's trail (imported as one event), price
#: changes (not in version 1) and a shop's transit times by region (a setting for promising
#: future orders: every imported order carries the promise it was given)
NOT_HISTORY = {
    "api_keys",
    "store_identity",
    "score_versions",
    "entity_scores",
    "traffic_plans",
    "traffic_plan_nodes",
    "traffic_plan_candidates",
    "traffic_pacing_counters",
    "service_providers",
    "service_provider_shops",
    "commission_entries",
    "after_sales_events",
    "price_history",
    "shop_transit_times",
}


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> tuple[Engine, Engine, Path]:
    """The simulated store, and an empty one the simulated history was imported into."""
    root = tmp_path_factory.mktemp("round_trip")
    original = run_simulation(CONFIG, root / "original").engine
    with session_factory(original)() as s:
        export_history(s, root / "history")
    copy = make_engine(f"sqlite:///{root / 'copy.db'}")
    migrate.upgrade(copy)
    result, _ = run_import(copy, root / "history")
    assert result.report.height == 0, result.report
    return original, copy, root


def _as_of() -> Any:
    return CONFIG.start + timedelta(days=CONFIG.days)


def _scores(engine: Engine, warehouse: Path) -> dict[tuple[str, int], tuple[Any, ...]]:
    scoring.compute_scores(engine, warehouse, as_of=_as_of())
    with session_factory(engine)() as s:
        active = s.scalar(select(ScoreVersion.id).where(ScoreVersion.state == VersionState.ACTIVE))
        return {
            (r.kind.value, r.entity_id): (
                r.score,
                r.lower,
                r.upper,
                r.sample,
                r.status,
                r.tier,
                r.restricted,
                r.detail,
            )
            for r in s.scalars(select(EntityScore).where(EntityScore.version_id == active))
        }


def test_every_row_of_the_history_comes_back_under_the_same_id(
    stores: tuple[Engine, Engine, Path],
) -> None:
    original, copy, _ = stores
    for model in (Shop, Product, Creator, Buyer):
        with session_factory(original)() as a, session_factory(copy)() as b:
            ids = a.scalars(select(model.id).order_by(model.id)).all()
            back = b.execute(select(model.id, model.external_id).order_by(model.id)).all()
        assert [(i, str(i)) for i in ids] == [tuple(r) for r in back]
    for table in metadata.sorted_tables:
        if table.name in NOT_HISTORY:
            continue
        with original.connect() as a, copy.connect() as b:
            count = select(func.count()).select_from(table)
            assert a.execute(count).scalar_one() == b.execute(count).scalar_one(), table.name


def test_the_same_history_gives_the_same_scores(stores: tuple[Engine, Engine, Path]) -> None:
    original, copy, root = stores

    before = _scores(original, root / "original_warehouse")
    after = _scores(copy, root / "copy_warehouse")

    assert len(before) > 50
    assert after == before


def test_the_same_history_gives_the_same_chuanliu_decisions_and_figures(
    stores: tuple[Engine, Engine, Path],
) -> None:
    original, copy, _ = stores
    settings = get_settings()
    day = _as_of().date()

    def decisions(engine: Engine) -> list[Any]:
        with session_factory(engine)() as s:
            return decide(s, gather(s, windows_of(day, settings)), settings)

    def figures(engine: Engine) -> dict[str, Any]:
        with session_factory(engine)() as s:
            return marketplace_summary(s, days=CONFIG.days)

    assert decisions(copy) == decisions(original)
    assert any(d.eligible for d in decisions(original))
    assert figures(copy) == figures(original)
