"""An order of several lines: product scores count its lines, the store counts it once.

Orders are placed, reviewed and refunded through the real services (on SQLite and, when
available, PostgreSQL), exported to the warehouse and scored as the nightly job scores them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from tests import factories
from trustflow.aftersales import service as aftersales_service
from trustflow.aftersales.models import ActorRole, AfterSalesKind, AfterSalesReason
from trustflow.aftersales.rules import Actor
from trustflow.catalog import service as catalog_service
from trustflow.catalog.models import ListingStatus
from trustflow.db import transaction
from trustflow.orders import service as orders_service
from trustflow.orders.models import OrderLine
from trustflow.scoring.engine import Computed, compute_duckdb
from trustflow.traffic.plan import service as traffic_plan
from trustflow.vocabulary import Channel
from trustflow.warehouse import export as warehouse
from trustflow.warehouse.reader import open_warehouse

T0 = datetime(2026, 3, 1, tzinfo=UTC)
AS_OF = T0 + timedelta(days=10)
MERCHANT = Actor(ActorRole.MERCHANT)


@dataclass
class Market:
    shop_id: int
    tee: int  # product ids
    mug: int
    two_line: list[int]  # the orders of a tee and two mugs
    tee_only: int  # an order of one tee
    lines: dict[int, list[int]]  # each order's line ids, first line first


def _deliver(session: Session, order_id: int, at: datetime) -> None:
    orders_service.ship_order(session, order_id=order_id, at=at + timedelta(hours=6))
    orders_service.pick_up_order(session, order_id=order_id, at=at + timedelta(hours=12))
    orders_service.deliver_order(session, order_id=order_id, at=at + timedelta(days=2))


def _place(
    session: Session, buyer: int, first_sku: int, more_sku: int | None, key: str, at: datetime
) -> int:
    more = () if more_sku is None else (orders_service.LineRequest(sku_id=more_sku, quantity=2),)
    order = orders_service.place_order(
        session,
        orders_service.OrderRequest(
            buyer_id=buyer,
            sku_id=first_sku,
            quantity=1,
            channel=Channel.SHELF_SEARCH,
            idempotency_key=key,
            more_lines=more,
        ),
        at=at,
    )
    orders_service.pay_order(session, order_id=order.id, idempotency_key=f"pay-{key}", at=at)
    _deliver(session, order.id, at)
    return order.id


def _line_ids(session: Session, order_id: int) -> list[int]:
    return list(
        session.scalars(
            select(OrderLine.id).where(OrderLine.order_id == order_id).order_by(OrderLine.line_no)
        )
    )


@pytest.fixture
def market(factory: sessionmaker[Session]) -> Market:
    """One shop selling a tee and a mug: two orders of a tee and two mugs (one with a 5-star
    review of the tee and a 1-star review of the mugs, one with a quality refund of the mugs),
    and an order of a tee alone; each order by its own buyer."""
    with transaction(factory) as s:
        sold = factories.seller(s, category_id=factories.category(s), stock=100, at=T0)
        mug = catalog_service.create_product(s, shop_id=sold.shop_id, title="Shop mug", at=T0)
        mug_sku = catalog_service.add_sku(s, product_id=mug.id, price_fen=2_500, stock=100, at=T0)
        catalog_service.set_listing_status(s, product_id=mug.id, status=ListingStatus.LISTED)
        buyers = [factories.buyer(s, f"buyer {i}") for i in range(3)]
        reviewed = _place(s, buyers[0], sold.sku_id, mug_sku.id, "both-reviewed", T0)
        refunded = _place(s, buyers[1], sold.sku_id, mug_sku.id, "both-refunded", T0)
        tee_only = _place(s, buyers[2], sold.sku_id, None, "tee", T0 + timedelta(hours=1))
        lines = {o: _line_ids(s, o) for o in (reviewed, refunded, tee_only)}
        review_at = T0 + timedelta(days=3)
        aftersales_service.submit_review(
            s, order_id=reviewed, line_id=lines[reviewed][0], stars=5, at=review_at
        )
        aftersales_service.submit_review(
            s, order_id=reviewed, line_id=lines[reviewed][1], stars=1, at=review_at
        )
        request = aftersales_service.request_after_sales(
            s,
            order_id=refunded,
            line_id=lines[refunded][1],
            kind=AfterSalesKind.REFUND_ONLY,
            reason=AfterSalesReason.QUALITY,
            actor=Actor(ActorRole.BUYER, buyers[1]),
            at=review_at,
        )
        aftersales_service.approve(s, request_id=request.id, actor=MERCHANT, at=review_at)
        return Market(sold.shop_id, sold.product_id, mug.id, [reviewed, refunded], tee_only, lines)


def _scores(engine: Engine, root: Path) -> Computed:
    warehouse.export(engine, root)
    return compute_duckdb(root, int(AS_OF.timestamp()))


def _metric(computed: Computed, kind: str, entity_id: int, metric: str) -> tuple[float, float]:
    row = computed.metrics.filter(
        (pl.col("kind") == kind) & (pl.col("entity_id") == entity_id) & (pl.col("metric") == metric)
    )
    assert row.height == 1
    return float(row["defects"][0]), float(row["opportunities"][0])


def _sample(computed: Computed, kind: str, entity_id: int) -> int:
    row = computed.scores.filter((pl.col("kind") == kind) & (pl.col("entity_id") == entity_id))
    assert row.height == 1
    return int(row["sample"][0])


def test_an_order_of_two_products_counts_for_each_product_and_once_for_its_shop(
    engine: Engine, market: Market, tmp_path: Path
) -> None:
    computed = _scores(engine, tmp_path / "wh")

    assert _sample(computed, "product", market.tee) == 3  # both two-line orders and the tee
    assert _sample(computed, "product", market.mug) == 2
    assert _sample(computed, "store", market.shop_id) == 3  # three orders, not five lines
    # every delivered order is an opportunity for a refund: per line for products
    assert _metric(computed, "store", market.shop_id, "quality_refund_rate")[1] == 3
    assert _metric(computed, "product", market.mug, "quality_refund_rate")[1] == 2


def test_reviews_of_two_lines_count_for_each_product_and_the_order_once_for_the_store(
    engine: Engine, market: Market, tmp_path: Path
) -> None:
    computed = _scores(engine, tmp_path / "wh")

    # the 5-star review is the tee's, the 1-star one the mug's
    assert _metric(computed, "product", market.tee, "bad_review_rate") == (0, 1)
    assert _metric(computed, "product", market.mug, "bad_review_rate") == (1, 1)
    # the shop: one reviewed order, and it was reviewed badly
    assert _metric(computed, "store", market.shop_id, "bad_review_rate") == (1, 1)


def test_a_refund_of_one_line_is_a_defect_of_that_lines_product_only(
    engine: Engine, market: Market, tmp_path: Path
) -> None:
    computed = _scores(engine, tmp_path / "wh")

    assert _metric(computed, "product", market.mug, "quality_refund_rate")[0] == 1
    assert _metric(computed, "product", market.tee, "quality_refund_rate")[0] == 0
    assert _metric(computed, "store", market.shop_id, "quality_refund_rate")[0] == 1


def test_the_warehouse_holds_every_line_and_what_each_review_and_request_is_about(
    engine: Engine, market: Market, tmp_path: Path
) -> None:
    root = tmp_path / "wh"
    warehouse.export(engine, root)

    lines = pl.read_parquet(root / "order_lines" / "*" / "*.parquet").sort("order_id", "line_no")
    assert lines.height == 5
    two_line = lines.filter(pl.col("order_id") == market.two_line[0])
    assert two_line["product_id"].to_list() == [market.tee, market.mug]
    assert two_line["quantity"].to_list() == [1, 2]
    assert two_line["goods_amount_fen"].to_list() == [9_900, 5_000]
    orders = pl.read_parquet(root / "orders" / "*" / "*.parquet")
    paid = orders.filter(pl.col("id") == market.two_line[0])["paid_amount_fen"][0]
    assert two_line["paid_amount_fen"].sum() == paid
    reviews = pl.read_parquet(root / "reviews" / "*" / "*.parquet").sort("stars")
    assert reviews["line_id"].to_list() == market.lines[market.two_line[0]][::-1]
    requests = pl.read_parquet(root / "after_sales" / "*" / "*.parquet")
    assert requests["line_id"].to_list() == [market.lines[market.two_line[1]][1]]
    assert requests["quantity"].to_list() == [2]  # both mugs


def test_a_warehouse_exported_before_orders_had_lines_is_brought_up_to_date(
    engine: Engine,
    factory: sessionmaker[Session],
    market: Market,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A warehouse written before lines were exported (no ``order_lines``, reviews and requests
    without their line) scores like a new one after the next ordinary export."""
    root = tmp_path / "wh"
    before_lines = tuple(
        warehouse.Fact(
            f.name,
            tuple(c for c in f.columns if c.name not in ("line_id", "quantity")),
            f.day_column,
            f.stamp_column,
        )
        for f in warehouse.FACTS
        if f.name != "order_lines"
    )
    with monkeypatch.context() as patched:
        patched.setattr(warehouse, "FACTS", before_lines)
        warehouse.export(engine, root)
    assert not (root / "order_lines").exists()
    with transaction(factory) as s:  # a new day of activity: the watermarks move past it
        buyer = factories.buyer(s, "late buyer")
        sku = s.scalar(select(OrderLine.sku_id).where(OrderLine.product_id == market.tee))
        assert sku is not None
        _place(s, buyer, sku, None, "late", T0 + timedelta(days=4))

    upgraded = _scores(engine, root)
    fresh = _scores(engine, tmp_path / "fresh")

    key = ["kind", "entity_id", "metric"]
    assert upgraded.metrics.sort(key).equals(fresh.metrics.sort(key))
    assert _sample(upgraded, "product", market.mug) == 2
    reviews = pl.read_parquet(root / "reviews" / "*" / "*.parquet")
    assert reviews["line_id"].null_count() == 0


def test_a_product_cards_gmv_is_what_its_lines_were_paid(
    engine: Engine, market: Market, tmp_path: Path
) -> None:
    root = tmp_path / "wh"
    warehouse.export(engine, root)
    con = open_warehouse(root)
    try:
        candidates = con.execute(
            traffic_plan._CANDIDATES_SQL,
            {
                "room_start": AS_OF - timedelta(days=traffic_plan.ROOM_DAYS),
                "value_start": T0 - timedelta(days=1),
                "end": AS_OF,
                "new_since": AS_OF,
            },
        ).fetchnumpy()
    finally:
        con.close()
    gmv = {
        int(entity): int(fen)
        for kind, entity, fen in zip(
            candidates["kind"], candidates["entity_id"], candidates["gmv_fen"], strict=True
        )
        if kind == "product_card"
    }
    lines = pl.read_parquet(root / "order_lines" / "*" / "*.parquet")
    paid = dict(lines.group_by("product_id").agg(pl.col("paid_amount_fen").sum()).iter_rows())
    assert gmv == {market.tee: paid[market.tee], market.mug: paid[market.mug]}
    assert gmv[market.mug] == 2 * 5_000  # two orders of two mugs
