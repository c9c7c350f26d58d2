"""The new-product plan's progress, from the warehouse: new products, what they sold, how much
to buyers new to them, and how many passed each threshold against the plan's target."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from tests import factories
from trustflow.campaigns import new_products, rules
from trustflow.cli import app
from trustflow.db import transaction
from trustflow.warehouse import export as warehouse

AS_OF = datetime(2026, 6, 1, tzinfo=UTC)


def test_new_products_first_tastes_and_thresholds(
    engine: Engine, factory: sessionmaker[Session], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # thresholds this store can reach: 150.00 and 300.00 yuan, one product each targeted
    monkeypatch.setattr(rules, "NEW_PRODUCT_TARGETS", ((15_000, 1), (30_000, 1)))
    with transaction(factory) as s:
        category = factories.category(s)
        old = factories.seller(s, category_id=category, name="Old", at=AS_OF - timedelta(days=200))
        new = factories.seller(s, category_id=category, name="New", at=AS_OF - timedelta(days=20))
        # listed five days ago and not sold yet: new, not selling
        factories.seller(s, category_id=category, name="Quiet", at=AS_OF - timedelta(days=5))
        loyal, other = factories.buyer(s, "loyal"), factories.buyer(s, "other")
        day = AS_OF - timedelta(days=15)
        # the loyal buyer buys the new product twice in a week (the second is a repurchase),
        # the other once; the old product's sale does not count
        for key, buyer, at in (
            ("a", loyal, day),
            ("b", loyal, day + timedelta(days=7)),
            ("c", other, day),
        ):
            factories.paid_order(s, buyer_id=buyer, sku_id=new.sku_id, key=key, at=at)
        factories.paid_order(s, buyer_id=loyal, sku_id=old.sku_id, key="d", at=day)
    warehouse.export(engine, tmp_path / "wh")

    progress = new_products.new_product_progress(tmp_path / "wh", as_of=AS_OF).as_dict()

    assert (progress["new_products"], progress["selling"]) == (2, 1)
    assert (progress["lines"], progress["lines_new_for_buyer"]) == (3, 2)
    assert progress["gmv_yuan"] == Decimal("297.00")
    assert [(t["products"], t["target"]) for t in progress["thresholds"]] == [(1, 1), (0, 1)]


def test_the_cli_brings_the_warehouse_up_to_date_and_reports(
    engine: Engine, factory: sessionmaker[Session], tmp_path: Path, cli_env: Any
) -> None:
    with transaction(factory) as s:
        seller = factories.seller(s, category_id=factories.category(s), at=AS_OF)
        factories.paid_order(
            s, buyer_id=factories.buyer(s), sku_id=seller.sku_id, key="a", at=AS_OF
        )
    cli_env(engine.url.render_as_string(hide_password=False), warehouse=tmp_path / "wh")

    printed = CliRunner().invoke(
        app,
        ["campaigns", "new-products", "--as-of", (AS_OF + timedelta(days=1)).isoformat(), "--json"],
    )
    future = CliRunner().invoke(
        app, ["campaigns", "new-products", "--as-of", "9999-01-01T00:00:00+00:00"]
    )

    assert printed.exit_code == 0, printed.output
    body = json.loads(printed.output)
    assert (body["new_products"], body["lines"], body["gmv_yuan"]) == (1, 1, "99.00")
    assert future.exit_code != 0
