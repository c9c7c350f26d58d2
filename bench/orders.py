"""Orders placed per second through the service layer, against hand-written SQL as the ceiling.

Both paths do the same per-order work, each order in its own transaction: look up the
idempotency key, validate the SKU, product, shop and buyer, find the creator's offer and
freeze the commission, insert the order and its line, reserve stock atomically, write the
audit event. Then the same for checkouts of two lines (two SKUs of one shop, sold by a
creator at two commission rates): the checkout row, the checks and the frozen commission
of each line, one order of two lines, the stock of each, the event and the checkout's
totals, in one transaction per checkout. The paths run interleaved in rounds on the same
SQLite file and driver, so machine noise hits both.

    python -m bench.orders [--orders N] [--rounds R] [--quick]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from trustflow import migrate
from trustflow.accounts import service as accounts_service
from trustflow.catalog import service as catalog_service
from trustflow.catalog.models import ListingStatus, ShopKind
from trustflow.db import make_engine, session_factory, transaction
from trustflow.distribution import service as distribution_service
from trustflow.orders import checkout, rules
from trustflow.orders import service as orders_service
from trustflow.orders.attribution import Attribution
from trustflow.scoring.gates import OFFER_GATE
from trustflow.vocabulary import Channel

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _seed(factory: Any, buyers: int) -> dict[str, Any]:
    with transaction(factory) as s:
        cat = catalog_service.create_category(s, code="bench", name="Bench")
        merchant = accounts_service.create_merchant(s, name="Bench merchant")
        shop = catalog_service.create_shop(
            s, merchant_id=merchant.id, name="Bench", kind=ShopKind.BRAND, category_id=cat.id
        )
        product = catalog_service.create_product(s, shop_id=shop.id, title="Bench tee", at=T0)
        sku = catalog_service.add_sku(s, product_id=product.id, price_fen=9_900, stock=10**7, at=T0)
        catalog_service.set_listing_status(s, product_id=product.id, status=ListingStatus.LISTED)
        creator = accounts_service.create_creator(s, name="Bench creator", fans=1000)
        offer = distribution_service.create_offer(
            s, product_id=product.id, commission_bps=2000, valid_from=T0
        )
        distribution_service.select_offer(
            s, creator_id=creator.id, offer_id=offer.id, gate=OFFER_GATE, at=T0
        )
        buyer_ids = [accounts_service.create_buyer(s, name=f"b{i}").id for i in range(buyers)]
        other = catalog_service.create_shop(
            s, merchant_id=merchant.id, name="Bench two", kind=ShopKind.BRAND, category_id=cat.id
        )
        mug = catalog_service.create_product(s, shop_id=other.id, title="Bench mug", at=T0)
        mug_sku = catalog_service.add_sku(s, product_id=mug.id, price_fen=4_900, stock=10**7, at=T0)
        catalog_service.set_listing_status(s, product_id=mug.id, status=ListingStatus.LISTED)
        cap = catalog_service.create_product(s, shop_id=shop.id, title="Bench cap", at=T0)
        cap_sku = catalog_service.add_sku(s, product_id=cap.id, price_fen=3_900, stock=10**7, at=T0)
        catalog_service.set_listing_status(s, product_id=cap.id, status=ListingStatus.LISTED)
        cap_offer = distribution_service.create_offer(
            s, product_id=cap.id, commission_bps=3000, valid_from=T0
        )
        distribution_service.select_offer(
            s, creator_id=creator.id, offer_id=cap_offer.id, gate=OFFER_GATE, at=T0
        )
    return {
        "sku": sku.id,
        "creator": creator.id,
        "buyers": buyer_ids,
        "mug_sku": mug_sku.id,
        "cap_sku": cap_sku.id,
    }


def _service_block(factory: Any, world: dict[str, Any], start: int, n: int, at: datetime) -> None:
    buyers = world["buyers"]
    for i in range(start, start + n):
        with transaction(factory) as s:
            orders_service.place_order(
                s,
                orders_service.OrderRequest(
                    buyer_id=buyers[i % len(buyers)],
                    sku_id=world["sku"],
                    quantity=1,
                    channel=Channel.DISTRIBUTION,
                    idempotency_key=f"svc-{i}",
                    creator_id=world["creator"],
                ),
                at=at,
            )


def _checkout_service_block(
    factory: Any, world: dict[str, Any], start: int, n: int, at: datetime
) -> None:
    buyers = world["buyers"]
    for i in range(start, start + n):
        buyer = buyers[i % len(buyers)]
        sold_by = Attribution(
            buyer_id=buyer,
            channel=Channel.DISTRIBUTION,
            expires_at=at + timedelta(hours=1),
            creator_id=world["creator"],
        )
        with transaction(factory) as s:
            checkout.place_checkout(
                s,
                buyer_id=buyer,
                items=[
                    checkout.CheckoutItem(world["sku"], 1, sold_by),
                    checkout.CheckoutItem(world["cap_sku"], 1, sold_by),
                ],
                idempotency_key=f"svc-cart-{i}",
                at=at,
            )


SQL_ORDERABLE = (
    "SELECT skus.price_fen, skus.product_id, products.status, products.shop_id, shops.status,"
    " EXISTS (SELECT 1 FROM buyers WHERE buyers.id = :buyer),"
    " (SELECT orders.id FROM orders WHERE orders.buyer_id = :buyer"
    "   AND orders.idempotency_key = :key),"
    " (SELECT o.id FROM distribution_offers o JOIN creator_selections c ON c.offer_id = o.id"
    "   WHERE c.creator_id = :creator AND o.product_id = skus.product_id AND o.valid_from <= :at"
    "   AND (o.valid_until IS NULL OR o.valid_until > :at)"
    "   ORDER BY o.commission_bps DESC, o.id LIMIT 1),"
    " (SELECT o.commission_bps FROM distribution_offers o"
    "   JOIN creator_selections c ON c.offer_id = o.id"
    "   WHERE c.creator_id = :creator AND o.product_id = skus.product_id AND o.valid_from <= :at"
    "   AND (o.valid_until IS NULL OR o.valid_until > :at)"
    "   ORDER BY o.commission_bps DESC, o.id LIMIT 1)"
    " FROM skus JOIN products ON products.id = skus.product_id"
    " JOIN shops ON shops.id = products.shop_id WHERE skus.id = :sku"
)
SQL_INSERT = (
    "INSERT INTO orders (buyer_id, shop_id, product_id, sku_id, quantity, unit_price_fen,"
    " goods_amount_fen, merchant_discount_fen, platform_discount_fen, paid_amount_fen, channel,"
    " creator_id, offer_id, commission_bps, commission_fen, status, idempotency_key,"
    " request_hash, created_at, updated_at, ship_by)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, 0, 0, ?, 'distribution', ?, ?, ?, ?, 'pending_payment',"
    " ?, ?, ?, ?, ?)"
    " ON CONFLICT (buyer_id, idempotency_key) DO NOTHING RETURNING id"
)
SQL_RESERVE = "UPDATE skus SET stock = stock - ? WHERE id = ? AND stock >= ?"
SQL_CHECKOUT = (
    "INSERT INTO checkouts (buyer_id, status, items, goods_amount_fen, paid_amount_fen,"
    " idempotency_key, request_hash, created_at, updated_at)"
    " VALUES (?, 'pending_payment', 2, 0, 0, ?, ?, ?, ?)"
    " ON CONFLICT (buyer_id, idempotency_key) DO NOTHING RETURNING id"
)
SQL_CHECKOUT_TOTALS = "UPDATE checkouts SET goods_amount_fen = ?, paid_amount_fen = ? WHERE id = ?"
SQL_INSERT_IN_CHECKOUT = SQL_INSERT.replace(
    "INSERT INTO orders (buyer_id,", "INSERT INTO orders (checkout_id, buyer_id,"
).replace("VALUES (?,", "VALUES (?, ?,")
SQL_LINE = (
    "INSERT INTO order_lines (order_id, line_no, product_id, sku_id, quantity, unit_price_fen,"
    " goods_amount_fen, merchant_discount_fen, platform_discount_fen, paid_amount_fen,"
    " offer_id, commission_bps, commission_fen, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, 0, 0, ?, ?, ?, ?, ?)"
)
SQL_EVENT = (
    "INSERT INTO order_events (order_id, action, to_status, actor, at)"
    " VALUES (?, 'place', 'pending_payment', 'system', ?)"
)


def _sql_block(db_path: Path, world: dict[str, Any], start: int, n: int, at: datetime) -> None:
    import sqlite3

    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=30000")
    buyers, sku_id, creator = world["buyers"], world["sku"], world["creator"]
    for i in range(start, start + n):
        buyer, key, qty = buyers[i % len(buyers)], f"sql-{i}", 1
        # Each order formats its own timestamps and fingerprint, as the service does.
        ts = at.replace(tzinfo=None).isoformat(sep=" ")
        ship_by = (at + rules.SHIP_PROMISE).replace(tzinfo=None).isoformat(sep=" ")
        conn.execute("BEGIN IMMEDIATE")
        try:
            (
                price,
                product_id,
                listing,
                shop_id,
                shop_status,
                buyer_ok,
                existing,
                offer_id,
                bps,
            ) = conn.execute(
                SQL_ORDERABLE,
                {"buyer": buyer, "key": key, "creator": creator, "at": ts, "sku": sku_id},
            ).fetchone()
            if existing is not None:
                conn.execute("COMMIT")
                continue
            if listing != "listed" or shop_status != "active" or not buyer_ok or offer_id is None:
                raise RuntimeError("not orderable")
            goods = price * qty
            commission = rules.commission_fen(goods, bps)
            fingerprint = hashlib.sha256(repr((sku_id, qty, creator, key)).encode()).hexdigest()
            (order_id,) = conn.execute(
                SQL_INSERT,
                (
                    buyer,
                    shop_id,
                    product_id,
                    sku_id,
                    qty,
                    price,
                    goods,
                    goods,
                    creator,
                    offer_id,
                    bps,
                    commission,
                    key,
                    fingerprint,
                    ts,
                    ts,
                    ship_by,
                ),
            ).fetchone()
            if conn.execute(SQL_RESERVE, (qty, sku_id, qty)).rowcount != 1:
                raise RuntimeError("out of stock")
            conn.execute(
                SQL_LINE,
                (
                    order_id,
                    1,
                    product_id,
                    sku_id,
                    qty,
                    price,
                    goods,
                    goods,
                    offer_id,
                    bps,
                    commission,
                    ts,
                ),
            )
            conn.execute(SQL_EVENT, (order_id, ts))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    conn.close()


def _sql_checkout_block(
    db_path: Path, world: dict[str, Any], start: int, n: int, at: datetime
) -> None:
    import sqlite3

    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=30000")
    buyers, creator = world["buyers"], world["creator"]
    ts = at.replace(tzinfo=None).isoformat(sep=" ")
    ship_by = (at + rules.SHIP_PROMISE).replace(tzinfo=None).isoformat(sep=" ")
    for i in range(start, start + n):
        buyer, key = buyers[i % len(buyers)], f"sql-cart-{i}"
        skus = (world["sku"], world["cap_sku"])
        digest = hashlib.sha256(repr((key, skus, creator)).encode()).hexdigest()
        conn.execute("BEGIN IMMEDIATE")
        try:
            inserted = conn.execute(SQL_CHECKOUT, (buyer, key, digest, ts, ts)).fetchone()
            if inserted is None:
                conn.execute("COMMIT")
                continue
            (checkout_id,) = inserted
            order_key = f"checkout-{checkout_id}-0"
            lines = []
            for sku_id in skus:
                row = conn.execute(
                    SQL_ORDERABLE,
                    {"buyer": buyer, "key": order_key, "creator": creator, "at": ts, "sku": sku_id},
                ).fetchone()
                price, product_id, listing, shop_id, shop_status, buyer_ok, _, offer_id, bps = row
                if listing != "listed" or shop_status != "active" or not buyer_ok:
                    raise RuntimeError("not orderable")
                if offer_id is None:
                    raise RuntimeError("no offer")
                lines.append(
                    (sku_id, product_id, price, offer_id, bps, rules.commission_fen(price, bps))
                )
            goods_total = sum(line[2] for line in lines)
            commission_total = sum(line[5] for line in lines)
            fingerprint = hashlib.sha256(repr((skus, creator, order_key)).encode()).hexdigest()
            first = lines[0]
            (order_id,) = conn.execute(
                SQL_INSERT_IN_CHECKOUT,
                (
                    checkout_id,
                    buyer,
                    shop_id,
                    first[1],
                    first[0],
                    1,
                    first[2],
                    goods_total,
                    goods_total,
                    creator,
                    first[3],
                    first[4],
                    commission_total,
                    order_key,
                    fingerprint,
                    ts,
                    ts,
                    ship_by,
                ),
            ).fetchone()
            for sku_id, *_ in sorted(lines):
                if conn.execute(SQL_RESERVE, (1, sku_id, 1)).rowcount != 1:
                    raise RuntimeError("out of stock")
            for line_no, (sku_id, product_id, price, offer_id, bps, commission) in enumerate(
                lines, start=1
            ):
                conn.execute(
                    SQL_LINE,
                    (
                        order_id,
                        line_no,
                        product_id,
                        sku_id,
                        1,
                        price,
                        price,
                        price,
                        offer_id,
                        bps,
                        commission,
                        ts,
                    ),
                )
            conn.execute(SQL_EVENT, (order_id, ts))
            conn.execute(SQL_CHECKOUT_TOTALS, (goods_total, goods_total, checkout_id))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    conn.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=20_000, help="orders per path")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.orders, args.rounds = 1_000, 2
    per_round = args.orders // args.rounds

    with tempfile.TemporaryDirectory() as tmp:
        db_path = Path(tmp) / "bench.db"
        engine = make_engine(f"sqlite:///{db_path}")
        migrate.upgrade(engine)
        factory = session_factory(engine)
        world = _seed(factory, buyers=1000)
        at = T0 + timedelta(days=1)
        service_s = sql_s = cart_s = sql_cart_s = 0.0
        carts = per_round // 2
        for r in range(args.rounds):
            t = time.perf_counter()
            _service_block(factory, world, r * per_round, per_round, at)
            service_s += time.perf_counter() - t
            t = time.perf_counter()
            _sql_block(db_path, world, r * per_round, per_round, at)
            sql_s += time.perf_counter() - t
            t = time.perf_counter()
            _checkout_service_block(factory, world, r * carts, carts, at)
            cart_s += time.perf_counter() - t
            t = time.perf_counter()
            _sql_checkout_block(db_path, world, r * carts, carts, at)
            sql_cart_s += time.perf_counter() - t
            print(
                f"round {r + 1}/{args.rounds}: service {service_s:.2f}s sql {sql_s:.2f}s;"
                f" checkouts: service {cart_s:.2f}s sql {sql_cart_s:.2f}s",
                file=sys.stderr,
            )
        engine.dispose()

    total = per_round * args.rounds
    service_rate, sql_rate = total / service_s, total / sql_s
    cart_total = carts * args.rounds
    cart_rate, sql_cart_rate = cart_total / cart_s, cart_total / sql_cart_s
    print(
        json.dumps(
            {
                "backend": "sqlite",
                "orders": total,
                "service_orders_per_s": round(service_rate, 1),
                "sql_orders_per_s": round(sql_rate, 1),
                "ratio": round(service_rate / sql_rate, 3),
                "checkouts": cart_total,
                "checkout_lines": 2,
                "service_checkouts_per_s": round(cart_rate, 1),
                "sql_checkouts_per_s": round(sql_cart_rate, 1),
                "checkout_ratio": round(cart_rate / sql_cart_rate, 3),
                "peak_rss_mb": _peak_rss_mb(),
            }
        )
    )


def _peak_rss_mb() -> float:
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


if __name__ == "__main__":
    main()
