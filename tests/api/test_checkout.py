"""A buyer checks out a cart across shops: one order per item, all or none, one payment."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, func, select

from tests import factories
from tests.api.conftest import World
from trustflow.db import session_factory, transaction
from trustflow.orders.models import CommissionEntry, Order

API = "/api/v1"


def _third_shop(world: World, engine: Engine) -> factories.Seller:
    with transaction(session_factory(engine)) as s:
        return factories.seller(s, category_id=world.category_id, name="C", stock=1)


def _checkout(world: World, key: str, items: list[dict[str, Any]], who: str = "buyer") -> Any:
    return world.client.post(
        f"{API}/checkouts",
        json={"items": items},
        headers={**world.as_(who), "Idempotency-Key": key},
    )


def _orders(engine: Engine) -> int:
    with session_factory(engine)() as s:
        return int(s.scalar(select(func.count()).select_from(Order)) or 0)


def _stock(world: World, product_id: int) -> int:
    skus = world.client.get(
        f"{API}/products/{product_id}/skus", headers=world.as_("operator")
    ).json()
    return int(skus[0]["stock"])


def test_a_three_shop_cart_becomes_three_orders_paid_at_once(world: World, engine: Engine) -> None:
    c = _third_shop(world, engine)
    items = [
        {"sku_id": world.a.sku_id, "quantity": 2, "attribution_token": world.creator_token()},
        {"sku_id": world.b.sku_id},
        {"sku_id": c.sku_id},
    ]

    placed = _checkout(world, "cart-1", items)
    paid = world.client.post(
        f"{API}/checkouts/{placed.json()['id']}/pay",
        headers={**world.as_("buyer"), "Idempotency-Key": "pay-cart-1"},
    )

    assert placed.status_code == 201, placed.text
    body = paid.json()
    assert paid.status_code == 200, paid.text
    shops = [o["shop_id"] for o in body["orders"]]
    assert shops == [world.a.shop_id, world.b.shop_id, c.shop_id]
    assert [o["status"] for o in body["orders"]] == ["paid"] * 3
    assert body["status"] == "paid"
    assert body["paid_amount_fen"] == sum(o["paid_amount_fen"] for o in body["orders"]) > 0
    assert [o["channel"] for o in body["orders"]] == ["distribution", "shelf_card", "shelf_card"]
    with session_factory(engine)() as s:  # the creator's item accrued its commission on payment
        accrued = s.scalars(select(CommissionEntry.amount_fen)).all()
    assert accrued == [body["orders"][0]["commission_fen"]]


def test_one_item_out_of_stock_refuses_the_whole_cart(world: World, engine: Engine) -> None:
    c = _third_shop(world, engine)  # stock 1
    before = (_orders(engine), _stock(world, world.a.product_id), _stock(world, c.product_id))

    refused = _checkout(
        world, "cart-2", [{"sku_id": world.a.sku_id}, {"sku_id": c.sku_id, "quantity": 2}]
    )

    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "out_of_stock"
    after = (_orders(engine), _stock(world, world.a.product_id), _stock(world, c.product_id))
    assert after == before


def test_a_retried_cart_is_the_same_cart_and_a_reused_key_is_refused(
    world: World, engine: Engine
) -> None:
    items = [{"sku_id": world.a.sku_id}, {"sku_id": world.b.sku_id}]
    first = _checkout(world, "cart-3", items)

    again = _checkout(world, "cart-3", items)
    other = _checkout(world, "cart-3", items[:1])

    assert again.status_code == 201 and again.json() == first.json()
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert _orders(engine) == 2


def test_another_buyers_checkout_is_not_there(world: World) -> None:
    mine = _checkout(world, "cart-4", [{"sku_id": world.a.sku_id}]).json()

    for path in (f"checkouts/{mine['id']}", f"checkouts/{mine['id']}/pay"):
        method = "POST" if path.endswith("pay") else "GET"
        r = world.client.request(
            method,
            f"{API}/{path}",
            headers={**world.as_("other_buyer"), "Idempotency-Key": "x"},
        )
        assert r.status_code == 404, (path, r.text)
    still = world.client.get(f"{API}/checkouts/{mine['id']}", headers=world.as_("buyer")).json()
    assert still["status"] == "pending_payment"


def test_a_cart_carries_no_money_and_at_most_fifty_items(world: World) -> None:
    priced = _checkout(world, "cart-5", [{"sku_id": world.a.sku_id, "unit_price_fen": 1}])
    huge = _checkout(world, "cart-6", [{"sku_id": world.a.sku_id}] * 51)
    empty = _checkout(world, "cart-7", [])

    assert [r.status_code for r in (priced, huge, empty)] == [422, 422, 422]


def test_an_unpaid_cart_expires_and_gives_its_stock_back(
    world: World, engine: Engine, cli_env: Any
) -> None:
    from datetime import timedelta

    from sqlalchemy import update
    from typer.testing import CliRunner

    from trustflow.cli import app
    from trustflow.db import utcnow
    from trustflow.orders.models import Checkout

    before = _stock(world, world.a.product_id)
    placed = _checkout(world, "cart-8", [{"sku_id": world.a.sku_id, "quantity": 3}]).json()
    paid_one = _checkout(world, "cart-9", [{"sku_id": world.a.sku_id}]).json()
    world.client.post(
        f"{API}/checkouts/{paid_one['id']}/pay",
        headers={**world.as_("buyer"), "Idempotency-Key": "pay-cart-9"},
    )
    assert _stock(world, world.a.product_id) == before - 4
    cli_env(str(engine.url.render_as_string(hide_password=False)))
    early = CliRunner().invoke(app, ["orders", "expire-unpaid"])
    with transaction(session_factory(engine)) as s:  # both carts were checked out 31 min ago
        then = utcnow() - timedelta(minutes=31)
        s.execute(update(Checkout).values(created_at=then))
        s.execute(update(Order).values(created_at=then))

    expired = CliRunner().invoke(app, ["orders", "expire-unpaid"])
    future = CliRunner().invoke(
        app, ["orders", "expire-unpaid", "--at", (utcnow() + timedelta(days=1)).isoformat()]
    )

    assert early.exit_code == 0 and "expired 0 orders" in early.output
    assert expired.exit_code == 0 and "expired 1 orders" in expired.output, expired.output
    assert future.exit_code == 2 and "still to come" in future.output
    body = world.client.get(f"{API}/checkouts/{placed['id']}", headers=world.as_("buyer")).json()
    assert body["status"] == "expired"
    assert [(o["status"], o["cancel_reason"]) for o in body["orders"]] == [
        ("cancelled", "unpaid_timeout")
    ]
    paid = world.client.get(f"{API}/checkouts/{paid_one['id']}", headers=world.as_("buyer"))
    assert paid.json()["status"] == "paid"  # a paid cart is never expired
    assert _stock(world, world.a.product_id) == before - 1


def test_an_operator_checking_out_for_a_buyer_that_does_not_exist_is_told_so(
    world: World, engine: Engine
) -> None:
    before = _orders(engine)

    missing = world.client.post(
        f"{API}/checkouts",
        json={"items": [{"sku_id": world.a.sku_id}], "buyer_id": 999_999},
        headers={**world.as_("operator"), "Idempotency-Key": "cart-10"},
    )

    assert missing.status_code == 404, missing.text
    assert missing.json()["error"]["message"] == "buyer 999999 not found"
    assert _orders(engine) == before
