"""A score as of a moment counts only what had happened by then, and cannot be gamed by
cancelling a late order. Built through the real services, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from tests import factories
from trustflow.aftersales import service as aftersales_service
from trustflow.db import transaction
from trustflow.orders import service as orders_service
from trustflow.scoring.engine import compute_duckdb
from trustflow.warehouse.export import export

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _store_metric(root: Path, at: datetime, metric: str) -> tuple[float, float]:
    rows = compute_duckdb(root, int(at.timestamp())).metrics.filter(
        (pl.col("kind") == "store") & (pl.col("metric") == metric)
    )
    return float(rows["defects"].item()), float(rows["opportunities"].item())


def test_cancelling_a_late_order_does_not_hide_the_late_pick_up(
    engine: Engine, factory: sessionmaker[Session], tmp_path: Path
) -> None:
    with transaction(factory) as s:
        sold = factories.seller(s, category_id=factories.category(s), at=T0)
        buyer = factories.buyer(s)
        late = factories.paid_order(s, buyer_id=buyer, sku_id=sold.sku_id, key="late", at=T0)
        early = factories.paid_order(s, buyer_id=buyer, sku_id=sold.sku_id, key="early", at=T0)
        # past the 48-hour promise, never handed over, then cancelled
        orders_service.cancel_order(s, order_id=late.id, at=T0 + timedelta(hours=60))
        # cancelled within the promise: never due
        orders_service.cancel_order(s, order_id=early.id, at=T0 + timedelta(hours=10))
    export(engine, tmp_path / "wh")

    assert _store_metric(tmp_path / "wh", T0 + timedelta(days=3), "late_pickup_rate") == (1, 1)


def test_a_chat_is_judged_on_what_was_known_at_the_time(
    engine: Engine, factory: sessionmaker[Session], tmp_path: Path
) -> None:
    now = T0 + timedelta(days=2)
    with transaction(factory) as s:
        sold = factories.seller(s, category_id=factories.category(s), at=T0)
        # three customers: the score counts each buyer's first chat with the shop only
        buyers = [factories.buyer(s, f"buyer {i}") for i in range(3)]
        for i, buyer in enumerate(buyers):
            factories.paid_order(s, buyer_id=buyer, sku_id=sold.sku_id, key=f"o{i}", at=T0)
        fresh = aftersales_service.open_chat(
            s, buyer_id=buyers[0], shop_id=sold.shop_id, at=now - timedelta(seconds=60)
        )
        answered_later = aftersales_service.open_chat(
            s, buyer_id=buyers[1], shop_id=sold.shop_id, at=now - timedelta(hours=1)
        )
        quick = aftersales_service.open_chat(
            s, buyer_id=buyers[2], shop_id=sold.shop_id, at=now - timedelta(hours=2)
        )
        aftersales_service.respond_chat(
            s, thread_id=quick.id, at=quick.first_message_at + timedelta(seconds=30)
        )
        aftersales_service.respond_chat(s, thread_id=answered_later.id, at=now + timedelta(hours=1))
        assert fresh.first_response_at is None
    export(engine, tmp_path / "wh")

    # At `now`: the quick answer is fine, the fresh chat is not late yet, and the one an
    # hour old is late although the answer that came after `now` was not yet known.
    assert _store_metric(tmp_path / "wh", now, "slow_chat_rate") == (1, 3)
