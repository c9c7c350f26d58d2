"""The warehouse export survives a crash half-way: the next export repairs everything."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from tests import factories
from trustflow.db import transaction
from trustflow.orders import service as orders_service
from trustflow.orders.models import Order
from trustflow.warehouse import export as warehouse

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def test_a_crash_mid_export_is_repaired_by_the_next_one(
    engine: Engine, factory: sessionmaker[Session], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with transaction(factory) as s:
        sold = factories.seller(s, category_id=factories.category(s), stock=100, at=T0)
        buyer = factories.buyer(s)
        for day in range(3):
            factories.delivered_orders(
                s, sold, buyer_id=buyer, count=2, start=T0 + timedelta(days=day), key=f"d{day}"
            )
    root = tmp_path / "wh"
    warehouse.export(engine, root)
    manifest = (root / "manifest.json").read_text()

    with transaction(factory) as s:  # every day changes
        for order_id in s.scalars(select(Order.id)):
            orders_service.confirm_receipt(s, order_id=order_id, at=T0 + timedelta(days=5))
    real_write = warehouse._write_atomically
    writes = 0

    def crash_on_second(table: Any, path: Path) -> None:
        nonlocal writes
        writes += 1
        if writes == 2:
            raise OSError("disk gone")
        real_write(table, path)

    monkeypatch.setattr(warehouse, "_write_atomically", crash_on_second)
    with pytest.raises(OSError):
        warehouse.export(engine, root)
    monkeypatch.setattr(warehouse, "_write_atomically", real_write)
    assert (root / "manifest.json").read_text() == manifest  # the watermark did not move

    warehouse.export(engine, root)
    orders = pl.read_parquet(root / "orders" / "*" / "*.parquet")
    assert orders.height == 6 and orders["id"].n_unique() == 6
    assert set(orders["status"]) == {"received"}
