"""A few abusive buyers cannot sink an honest shop, and a burst of bad reviews is held back.

Abusive activity is added to a copy of the simulated warehouse (new buyers, orders, 1-star
reviews and refund-only claims) and the shop's score is compared before and after, with the
protections on and with a naive score (raw rates, every complaint counted).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from tests.scoring.conftest import SimWarehouse
from trustflow.scoring import sql
from trustflow.scoring.engine import compute_duckdb
from trustflow.warehouse.export import FACTS, arrow_schema

DAY = timedelta(days=1)


def _store_score(root: Path, as_of: int, options: sql.Options, shop_id: int) -> pl.DataFrame:
    scores = compute_duckdb(root, as_of, options).scores
    return scores.filter((pl.col("kind") == "store") & (pl.col("entity_id") == shop_id))


def _good_shop(root: Path, as_of: int) -> tuple[int, list[int]]:
    scores = compute_duckdb(root, as_of).scores.filter(
        (pl.col("kind") == "store") & (pl.col("sample") >= 100)
    )
    shop_id = int(scores.sort("score", descending=True)["entity_id"][0])
    products = pl.read_parquet(root / "dims" / "products.parquet").filter(
        pl.col("shop_id") == shop_id
    )
    return shop_id, products["id"].to_list()


def _append(root: Path, name: str, rows: dict[str, list[object]]) -> None:
    fact = next(f for f in FACTS if f.name == name)
    schema = arrow_schema(fact.columns)
    columns = {f.name: rows.get(f.name, [None] * len(next(iter(rows.values())))) for f in schema}
    path = root / name / "day=injected" / "part-0.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns, schema=schema), path)


def _inject_abuse(
    root: Path,
    shop_id: int,
    products: list[int],
    end: datetime,
    *,
    buyers: int,
    orders_each: int,
    same_day: bool,
) -> int:
    """Abusive buyers order from the shop and answer every order with a 1-star review and a
    refund-only claim for "quality". Returns how many orders were added."""
    orders: dict[str, list[object]] = {
        k: []
        for k in (
            "id",
            "buyer_id",
            "shop_id",
            "product_id",
            "channel",
            "status",
            "paid_amount_fen",
            "created_at",
            "paid_at",
            "ship_by",
            "shipped_at",
            "picked_up_at",
            "delivered_at",
            "received_at",
            "updated_at",
        )
    }
    reviews: dict[str, list[object]] = {
        k: []
        for k in ("id", "order_id", "buyer_id", "product_id", "shop_id", "stars", "created_at")
    }
    claims: dict[str, list[object]] = {
        k: []
        for k in (
            "id",
            "order_id",
            "shop_id",
            "buyer_id",
            "kind",
            "reason",
            "responsible_party",
            "status",
            "refund_fen",
            "created_at",
            "handled_at",
            "resolved_at",
            "updated_at",
        )
    }
    n = 0
    for b in range(buyers):
        for k in range(orders_each):
            n += 1
            oid, buyer = 10**9 + n, 10**9 + b
            paid = end - (3 * DAY if same_day else (4 + (n % 18)) * DAY) - timedelta(hours=n % 7)
            delivered = paid + 2 * DAY
            complained = end - DAY if same_day else delivered + DAY
            for key, value in {
                "id": oid,
                "buyer_id": buyer,
                "shop_id": shop_id,
                "product_id": products[k % len(products)],
                "channel": "shelf_search",
                "status": "received",
                "paid_amount_fen": 9900,
                "created_at": paid,
                "paid_at": paid,
                "ship_by": paid + 2 * DAY,
                "shipped_at": paid + DAY / 2,
                "picked_up_at": paid + DAY / 2,
                "delivered_at": delivered,
                "received_at": delivered,
                "updated_at": complained,
            }.items():
                orders[key].append(value)
            for key, value in {
                "id": oid,
                "order_id": oid,
                "buyer_id": buyer,
                "product_id": products[k % len(products)],
                "shop_id": shop_id,
                "stars": 1,
                "created_at": complained,
            }.items():
                reviews[key].append(value)
            for key, value in {
                "id": oid,
                "order_id": oid,
                "shop_id": shop_id,
                "buyer_id": buyer,
                "kind": "refund_only",
                "reason": "quality",
                "responsible_party": "merchant",
                "status": "refunded",
                "refund_fen": 9900,
                "created_at": complained,
                "handled_at": complained + timedelta(hours=2),
                "resolved_at": complained + timedelta(hours=2),
                "updated_at": complained,
            }.items():
                claims[key].append(value)
    _append(root, "orders", orders)
    _append(root, "reviews", reviews)
    _append(root, "after_sales", claims)
    return n


def _drop(before: pl.DataFrame, after: pl.DataFrame) -> float:
    return float(before["score"][0] - after["score"][0])


def test_a_few_abusive_buyers_move_a_good_shop_less_than_a_third_of_a_naive_score(
    sim_warehouse: SimWarehouse, warehouse_copy: Path
) -> None:
    as_of = sim_warehouse.as_of
    shop_id, products = _good_shop(warehouse_copy, as_of)
    before = {o: _store_score(warehouse_copy, as_of, o, shop_id) for o in (sql.FULL, sql.NAIVE)}
    end = datetime.fromtimestamp(as_of, UTC)
    _inject_abuse(warehouse_copy, shop_id, products, end, buyers=3, orders_each=12, same_day=False)
    after = {o: _store_score(warehouse_copy, as_of, o, shop_id) for o in (sql.FULL, sql.NAIVE)}

    naive_drop = _drop(before[sql.NAIVE], after[sql.NAIVE])
    protected_drop = _drop(before[sql.FULL], after[sql.FULL])
    assert naive_drop > 5  # the attack is real: a naive score falls hard
    assert protected_drop < naive_drop / 3
    assert after[sql.FULL]["restricted"][0] == 0


def test_a_burst_of_bad_reviews_is_held_for_review_not_scored(
    sim_warehouse: SimWarehouse, warehouse_copy: Path
) -> None:
    as_of = sim_warehouse.as_of
    shop_id, products = _good_shop(warehouse_copy, as_of)
    before = _store_score(warehouse_copy, as_of, sql.FULL, shop_id)
    naive_before = _store_score(warehouse_copy, as_of, sql.NAIVE, shop_id)
    end = datetime.fromtimestamp(as_of, UTC)
    # Fifteen one-order accounts, all on one day: no single buyer looks abnormal.
    _inject_abuse(warehouse_copy, shop_id, products, end, buyers=15, orders_each=1, same_day=True)
    after = _store_score(warehouse_copy, as_of, sql.FULL, shop_id)
    naive_after = _store_score(warehouse_copy, as_of, sql.NAIVE, shop_id)

    assert after["held_reviews"][0] >= 15
    naive_drop = _drop(naive_before, naive_after)
    assert naive_drop > 0
    assert abs(_drop(before, after)) < naive_drop
