"""What the store experience score makes of orders that never arrive and of chats that never
happened: a shop is judged against the promises it made, an order past its promised delivery
date counts as late even while it is still on its way, and a metric without data neither earns
nor costs what the shop's record does not show. Built through the real services, on SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from tests import factories
from trustflow.aftersales import service as aftersales_service
from trustflow.db import transaction
from trustflow.orders import service as orders_service
from trustflow.scoring import service as scoring
from trustflow.scoring.models import ScoreKind

NOW = datetime(2026, 3, 1, tzinfo=UTC)
START = NOW - timedelta(days=20)
ORDERS = 12


def _store(factory: sessionmaker[Session], shop_id: int) -> tuple[float, dict[str, Any]]:
    with factory() as s:
        score = scoring.get_score(s, ScoreKind.STORE, shop_id)
        assert score is not None, f"store {shop_id} has no score"
        metrics = {m["metric"]: m for m in score.detail["metrics"]}
        return score.score, metrics


def _neighbours(s: Session, category_id: int, *, chats: bool) -> None:
    """Three ordinary shops of the category, to benchmark against: delivered orders, a few
    bad reviews, and (with ``chats``) some chats answered slowly."""
    for n in range(3):
        sold = factories.seller(
            s, category_id=category_id, name=f"Neighbour {n}", stock=500, at=START
        )
        for i in range(ORDERS):
            buyer = factories.buyer(s, f"neighbour {n}-{i}")
            at = START + timedelta(hours=5 * i + n)
            factories.delivered_orders(
                s,
                sold,
                buyer_id=buyer,
                count=1,
                start=at,
                stars=[1 if i < 2 else 5],
                key=f"n{n}-{i}-",
            )
            if chats and i < 6:
                thread = aftersales_service.open_chat(
                    s, buyer_id=buyer, shop_id=sold.shop_id, at=at + timedelta(days=1)
                )
                aftersales_service.respond_chat(
                    s,
                    thread_id=thread.id,
                    at=thread.first_message_at + timedelta(seconds=900 if i < 2 else 40),
                )


def test_a_shop_whose_parcels_are_overdue_scores_below_its_on_time_twin(
    engine: Engine, factory: sessionmaker[Session], tmp_path: Path
) -> None:
    with transaction(factory) as s:
        cat = factories.category(s)
        _neighbours(s, cat, chats=False)
        on_time = factories.seller(s, category_id=cat, name="On time", stock=500, at=START)
        overdue = factories.seller(s, category_id=cat, name="Overdue", stock=500, at=START)
        for i in range(ORDERS):
            at = START + timedelta(hours=5 * i)
            buyer = factories.buyer(s, f"twin buyer {i}")
            factories.delivered_orders(s, on_time, buyer_id=buyer, count=1, start=at, key=f"t{i}-")
            # the same orders, handed to the carrier just as fast, and never delivered
            order = factories.paid_order(
                s, buyer_id=buyer, sku_id=overdue.sku_id, key=f"o{i}", at=at
            )
            orders_service.ship_order(s, order_id=order.id, at=at + timedelta(hours=6))
            orders_service.pick_up_order(s, order_id=order.id, at=at + timedelta(hours=12))
            assert order.deliver_by is not None and order.deliver_by < NOW

    scoring.compute_scores(engine, tmp_path / "wh", as_of=NOW)

    late_score, late = _store(factory, overdue.shop_id)
    on_time_score, on_time_metrics = _store(factory, on_time.shop_id)
    assert late_score < on_time_score - 10
    # each undelivered order past its promise is late, though no parcel has arrived to say so
    assert (late["late_delivery_rate"]["defects"], late["late_delivery_rate"]["opportunities"]) == (
        ORDERS,
        ORDERS,
    )
    assert on_time_metrics["late_delivery_rate"]["defects"] == 0
    # the overdue shop handed every parcel over in time: that is not held against it
    assert late["late_pickup_rate"]["defects"] == 0

    # and the merchant reads where it lost: its logistics, not its goods
    with factory() as s:
        late_detail = scoring.get_score(s, ScoreKind.STORE, overdue.shop_id).detail  # type: ignore[union-attr]
        on_time_detail = scoring.get_score(s, ScoreKind.STORE, on_time.shop_id).detail  # type: ignore[union-attr]
    late_parts = {d["dimension"]: d["points"] for d in late_detail["dimensions"]}
    on_time_parts = {d["dimension"]: d["points"] for d in on_time_detail["dimensions"]}
    assert late_parts["logistics"] < on_time_parts["logistics"] - 20
    assert late_detail["window_days"] == 180  # 12 orders: the longest window


def test_a_shop_without_chats_is_not_scored_above_its_twin_that_answers_fast(
    engine: Engine, factory: sessionmaker[Session], tmp_path: Path
) -> None:
    with transaction(factory) as s:
        cat = factories.category(s)
        _neighbours(s, cat, chats=True)
        fast = factories.seller(s, category_id=cat, name="Fast", stock=500, at=START)
        silent = factories.seller(s, category_id=cat, name="Silent", stock=500, at=START)
        for twin, key in ((fast, "f"), (silent, "s")):
            for i in range(ORDERS):
                at = START + timedelta(hours=5 * i)
                buyer = factories.buyer(s, f"{key} buyer {i}")
                factories.delivered_orders(
                    s, twin, buyer_id=buyer, count=1, start=at, stars=[5], key=f"{key}{i}-"
                )
                if twin is fast and i < 3:
                    thread = aftersales_service.open_chat(
                        s, buyer_id=buyer, shop_id=twin.shop_id, at=at + timedelta(days=1)
                    )
                    aftersales_service.respond_chat(
                        s, thread_id=thread.id, at=thread.first_message_at + timedelta(seconds=20)
                    )

    scoring.compute_scores(engine, tmp_path / "wh", as_of=NOW)

    fast_score, fast_metrics = _store(factory, fast.shop_id)
    silent_score, silent_metrics = _store(factory, silent.shop_id)
    assert silent_score <= fast_score
    # no chats is not a perfect chat record: the silent shop's chat metric does not score 100
    assert silent_metrics["slow_chat_rate"]["opportunities"] == 0
    assert silent_metrics["slow_chat_rate"]["points"] < 100
    assert fast_metrics["slow_chat_rate"]["points"] >= silent_metrics["slow_chat_rate"]["points"]
