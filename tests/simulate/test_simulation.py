"""The simulator drives the real engine: deterministic, and its data obeys the core's rules."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sqlalchemy import Engine, func, select, text

from trustflow.db import session_factory
from trustflow.simulate import SimulationRun, config_for, run_simulation, write_summary

TINY = replace(config_for("small", seed=11, days=6), shops=20, creators=40, buyers=1500)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> SimulationRun:
    return run_simulation(TINY, tmp_path_factory.mktemp("sim"))


def _summary_text(run: SimulationRun, path: Path) -> str:
    return write_summary(run.summary, path).read_text()


def test_same_seed_gives_the_same_summary(run: SimulationRun, tmp_path: Path) -> None:
    again = run_simulation(TINY, tmp_path / "again")

    assert _summary_text(again, tmp_path / "a.json") == _summary_text(run, tmp_path / "b.json")


def test_another_seed_gives_another_marketplace(run: SimulationRun, tmp_path: Path) -> None:
    other = run_simulation(replace(TINY, seed=12), tmp_path / "other")

    assert other.summary["gmv_fen"] != run.summary["gmv_fen"]


def test_summary_has_the_promised_figures(run: SimulationRun, tmp_path: Path) -> None:
    summary = json.loads(_summary_text(run, tmp_path / "s.json"))

    assert summary["days"] == 6
    assert (summary["shops"], summary["creators"], summary["buyers"]) == (20, 40, 1500)
    assert summary["orders"] > 100
    by_channel = summary["gmv_by_channel_yuan"]
    assert set(by_channel) == {"self_broadcast", "distribution", "shelf"}
    assert all(v > 0 for v in by_channel.values())
    assert sum(by_channel.values()) == pytest.approx(summary["gmv_yuan"], abs=0.05)
    assert 0 <= summary["refund_rate"] < 1
    assert set(summary["impressions_by_surface"]) == {
        "follow",
        "featured",
        "discover",
        "short_video_to_live",
        "search",
        "mall",
        "shop",
    }


def _scalar(engine: Engine, sql: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(text(sql)).scalar()


def test_simulated_data_obeys_the_core_invariants(run: SimulationRun) -> None:
    e = run.engine
    assert _scalar(e, "SELECT min(stock) FROM skus") >= 0
    # timestamps follow the order state machine
    assert (
        _scalar(
            e,
            """SELECT count(*) FROM orders WHERE
        (shipped_at IS NOT NULL AND (paid_at IS NULL OR shipped_at < paid_at)) OR
        (picked_up_at IS NOT NULL AND picked_up_at < shipped_at) OR
        (delivered_at IS NOT NULL AND delivered_at < shipped_at) OR
        (received_at IS NOT NULL AND received_at < delivered_at) OR
        (cancelled_at IS NOT NULL AND shipped_at IS NOT NULL)""",
        )
        == 0
    )
    # every distribution order carries the commission of an offer its creator selected
    assert (
        _scalar(
            e,
            """SELECT count(*) FROM orders o WHERE o.channel = 'distribution' AND NOT EXISTS (
        SELECT 1 FROM creator_selections s JOIN distribution_offers f ON f.id = s.offer_id
        WHERE s.creator_id = o.creator_id AND f.id = o.offer_id
          AND f.commission_bps = o.commission_bps AND f.product_id = o.product_id)""",
        )
        == 0
    )
    # money adds up, and nobody is refunded more than they paid
    assert (
        _scalar(
            e,
            """SELECT count(*) FROM orders WHERE paid_amount_fen
        <> goods_amount_fen - merchant_discount_fen - platform_discount_fen""",
        )
        == 0
    )
    assert (
        _scalar(
            e,
            """SELECT count(*) FROM (SELECT r.order_id, sum(r.refund_fen) AS refunded,
        max(o.paid_amount_fen) AS paid
        FROM after_sales_requests r JOIN orders o ON o.id = r.order_id
        WHERE r.status = 'refunded' GROUP BY r.order_id) t WHERE refunded > paid""",
        )
        == 0
    )
    # after-sales only on shipped orders; reviews on delivered ones, or on ones still on
    # their way past their promised delivery
    assert (
        _scalar(
            e,
            """SELECT count(*) FROM after_sales_requests r JOIN orders o ON o.id = r.order_id
        WHERE o.shipped_at IS NULL OR r.created_at < o.shipped_at""",
        )
        == 0
    )
    assert (
        _scalar(
            e,
            """SELECT count(*) FROM reviews v JOIN orders o ON o.id = v.order_id
        WHERE NOT ((o.delivered_at IS NOT NULL AND v.created_at >= o.delivered_at)
                   OR (v.created_at > o.deliver_by
                       AND (o.delivered_at IS NULL OR v.created_at < o.delivered_at)))""",
        )
        == 0
    )
    # every paid order ships to its buyer's region under its shop's promise
    assert (
        _scalar(
            e,
            """SELECT count(*) FROM orders o JOIN buyers b ON b.id = o.buyer_id
        WHERE o.paid_at IS NOT NULL AND (o.deliver_by IS NULL OR o.ship_by IS NULL
              OR o.ship_to_region IS NULL OR o.ship_to_region <> b.region)""",
        )
        == 0
    )
    # the audit trail names every state each order went through
    assert (
        _scalar(
            e,
            """SELECT count(*) FROM orders o WHERE o.shipped_at IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM order_events v WHERE v.order_id = o.id AND v.action = 'ship')""",
        )
        == 0
    )


def test_orders_come_through_every_channel_and_surface(run: SimulationRun) -> None:
    with session_factory(run.engine)() as s:
        from trustflow.orders.models import Order

        channels = set(s.scalars(select(Order.channel).distinct()))
        surfaces = set(s.scalars(select(Order.surface).distinct()))
        unpaid_left = s.scalar(
            select(func.count()).select_from(Order).where(Order.status == "pending_payment")
        )
    assert {c.value for c in channels} >= {"self_broadcast", "distribution", "shelf_search"}
    assert len(surfaces) >= 6
    assert unpaid_left is not None


def test_truth_is_written_for_every_shop_product_and_creator(run: SimulationRun) -> None:
    truth = pl.read_parquet(run.truth)

    counts = dict(truth.group_by("entity").len().iter_rows())
    assert counts["shop"] == 20 and counts["creator"] == 40
    with run.engine.connect() as conn:
        products = conn.execute(text("SELECT count(*) FROM products")).scalar()
    assert counts["product"] == products
    assert truth.filter(pl.col("entity") == "shop")["quality"].is_between(0, 1).all()


def test_order_truth_has_a_row_per_paid_order(run: SimulationRun) -> None:
    truth = pl.read_parquet(run.order_truth)

    with run.engine.connect() as conn:
        paid = conn.execute(
            text("SELECT id FROM orders WHERE paid_at IS NOT NULL ORDER BY id")
        ).scalars()
        assert truth["order_id"].to_list() == list(paid)
    assert truth["p_late"].is_between(0, 1).all()
    assert truth["p_bad_review"].is_between(0, 1).all()
    assert truth["abusive"].dtype == pl.Boolean


def test_shops_carry_their_logistics_in_the_truth(run: SimulationRun) -> None:
    shops = pl.read_parquet(run.truth).filter(pl.col("entity") == "shop")

    assert shops["late_rate"].is_between(0, 1).all()
    assert shops["stuck_rate"].is_between(0, 1).all()
    assert shops["region"].is_not_null().all()
    assert shops["experience"].is_between(0, 1).all()


def test_a_policy_is_the_only_difference_between_two_runs(
    run: SimulationRun, tmp_path: Path
) -> None:
    from trustflow.simulate.policies import UniformPolicy

    uniform = run_simulation(TINY, tmp_path / "uniform", policy=UniformPolicy())
    again = run_simulation(TINY, tmp_path / "uniform2", policy=UniformPolicy())

    assert uniform.summary["policy"] == "uniform" and run.summary["policy"] == "baseline"
    assert uniform.summary["shops"] == run.summary["shops"]  # same marketplace, same seed
    assert uniform.summary["gmv_fen"] != run.summary["gmv_fen"]
    assert uniform.summary == again.summary
