"""Orders of several lines: a cart splits into one order per shop, each line priced, refunded
and reviewed on its own, and a refunded line takes back exactly its own commission."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from tests import factories
from tests.api.conftest import World
from trustflow.catalog import service as catalog_service
from trustflow.catalog.models import ListingStatus
from trustflow.db import session_factory, transaction
from trustflow.distribution import service as distribution_service
from trustflow.orders.models import CommissionEntry, CommissionEntryKind, Order, OrderLine

API = "/api/v1"


@pytest.fixture
def second_sku(world: World, engine: Engine) -> dict[str, int]:
    """A second product of shop A at 33.33 yuan, which the world's creator sells at 30%
    (the first product: 15%)."""
    with transaction(session_factory(engine)) as s:
        product = catalog_service.create_product(s, shop_id=world.a.shop_id, title="A cap")
        sku = catalog_service.add_sku(s, product_id=product.id, price_fen=3_333, stock=10)
        catalog_service.set_listing_status(s, product_id=product.id, status=ListingStatus.LISTED)
        offer = distribution_service.create_offer(s, product_id=product.id, commission_bps=3000)
        distribution_service.select_offer(
            s, creator_id=world.creator_id, offer_id=offer.id, gate=factories.OFFER_GATE
        )
        return {"product_id": product.id, "sku_id": sku.id}


def _checkout(world: World, key: str, items: list[dict[str, Any]]) -> Any:
    placed = world.client.post(
        f"{API}/checkouts",
        json={"items": items},
        headers={**world.as_("buyer"), "Idempotency-Key": key},
    )
    assert placed.status_code == 201, placed.text
    paid = world.client.post(
        f"{API}/checkouts/{placed.json()['id']}/pay",
        headers={**world.as_("buyer"), "Idempotency-Key": f"pay-{key}"},
    )
    assert paid.status_code == 200, paid.text
    return paid.json()


def _stock(world: World, product_id: int) -> int:
    skus = world.client.get(
        f"{API}/products/{product_id}/skus", headers=world.as_("operator")
    ).json()
    return int(skus[0]["stock"])


def _sold_by_creator(world: World, second_sku: dict[str, int], key: str) -> dict[str, Any]:
    """A shipped order of shop A from the creator's room: 3 tees and 1 cap."""
    token = world.creator_token()
    body = _checkout(
        world,
        key,
        [
            {"sku_id": world.a.sku_id, "quantity": 3, "attribution_token": token},
            {"sku_id": second_sku["sku_id"], "quantity": 1, "attribution_token": token},
        ],
    )
    (order,) = body["orders"]
    shipped = world.client.post(f"{API}/orders/{order['id']}/ship", headers=world.as_("merchant_a"))
    assert shipped.status_code == 200, shipped.text
    return dict(order)


def _refund(world: World, order_id: int, **body: Any) -> Any:
    request = world.client.post(
        f"{API}/orders/{order_id}/after-sales",
        json={"kind": "refund_only", "reason": "quality", **body},
        headers=world.as_("buyer"),
    )
    assert request.status_code == 201, request.text
    approved = world.client.post(
        f"{API}/after-sales/{request.json()['id']}/approve", headers=world.as_("merchant_a")
    )
    assert approved.status_code == 200, approved.text
    return approved.json()


def _reversed(engine: Engine, order_id: int) -> list[int]:
    with session_factory(engine)() as s:
        return list(
            s.scalars(
                select(CommissionEntry.amount_fen)
                .where(
                    CommissionEntry.order_id == order_id,
                    CommissionEntry.kind == CommissionEntryKind.REVERSED,
                )
                .order_by(CommissionEntry.id)
            ).all()
        )


def test_a_cart_splits_into_one_order_per_shop_each_with_a_line_per_sku(
    world: World, engine: Engine, second_sku: dict[str, int]
) -> None:
    before = (_stock(world, world.a.product_id), _stock(world, second_sku["product_id"]))

    body = _checkout(
        world,
        "lines-1",
        [
            {"sku_id": world.a.sku_id, "quantity": 2},
            {"sku_id": world.b.sku_id},
            {"sku_id": second_sku["sku_id"]},
            {"sku_id": world.a.sku_id},  # the same SKU again: one line of 3
        ],
    )

    a, b = body["orders"]
    assert (a["shop_id"], b["shop_id"]) == (world.a.shop_id, world.b.shop_id)
    assert [(line["sku_id"], line["quantity"]) for line in a["lines"]] == [
        (world.a.sku_id, 3),
        (second_sku["sku_id"], 1),
    ]
    assert [line["line_no"] for line in a["lines"]] == [1, 2]
    assert (
        a["goods_amount_fen"]
        == 3 * 9_900 + 3_333
        == sum(line["goods_amount_fen"] for line in a["lines"])
    )
    assert len(b["lines"]) == 1
    assert body["paid_amount_fen"] == a["paid_amount_fen"] + b["paid_amount_fen"]
    after = (_stock(world, world.a.product_id), _stock(world, second_sku["product_id"]))
    assert after == (before[0] - 3, before[1] - 1)
    shown = world.client.get(f"{API}/orders/{a['id']}", headers=world.as_("merchant_a")).json()
    assert shown["lines"] == a["lines"]
    with session_factory(engine)() as s:  # every line is stored stamped as its order is,
        # so the store finds it by time (the warehouse exports lines by day) as it finds orders
        same_time = s.scalar(
            select(func.count())
            .select_from(OrderLine)
            .join(Order, Order.id == OrderLine.order_id)
            .where(
                OrderLine.created_at >= Order.created_at, OrderLine.created_at <= Order.created_at
            )
        )
    assert same_time == 3


def test_a_line_level_partial_refund_moves_exactly_its_money_and_its_lines_commission(
    world: World, engine: Engine, second_sku: dict[str, int]
) -> None:
    order = _sold_by_creator(world, second_sku, "lines-2")
    tees, cap = order["lines"]
    assert (tees["commission_bps"], cap["commission_bps"]) == (1500, 3000)
    assert order["commission_fen"] == tees["commission_fen"] + cap["commission_fen"]

    one = _refund(world, order["id"], line_id=tees["id"], quantity=1)
    rest = _refund(world, order["id"], line_id=tees["id"], quantity=2)

    # one tee of three gives back its third of the line, the other two the rest: exactly
    # the line's payment in all, and nothing of the cap's
    assert one["refund_fen"] == (tees["paid_amount_fen"] * 2 + 3) // 6
    assert one["refund_fen"] + rest["refund_fen"] == tees["paid_amount_fen"]
    assert (one["line_id"], one["quantity"]) == (tees["id"], 1)
    # the tees' commission goes back (in two parts), once; the cap's stays owed
    reversed_ = _reversed(engine, order["id"])
    assert len(reversed_) == 2
    assert sum(reversed_) == tees["commission_fen"]
    refused = world.client.post(
        f"{API}/orders/{order['id']}/after-sales",
        json={"kind": "refund_only", "reason": "quality", "line_id": tees["id"]},
        headers=world.as_("buyer"),
    )
    assert refused.status_code == 422, refused.text  # nothing of the line is left to refund
    assert _reversed(engine, order["id"]) == reversed_


def test_a_request_or_review_of_a_several_line_order_names_its_line(
    world: World, second_sku: dict[str, int]
) -> None:
    order = _sold_by_creator(world, second_sku, "lines-3")
    tees, cap = order["lines"]
    c, buyer = world.client, world.as_("buyer")
    for step in ("pick-up", "deliver"):
        moved = c.post(f"{API}/orders/{order['id']}/{step}", headers=world.as_("operator"))
        assert moved.status_code == 200, moved.text

    unnamed = c.post(
        f"{API}/orders/{order['id']}/after-sales",
        json={"kind": "refund_only", "reason": "quality"},
        headers=buyer,
    )
    foreign = c.post(
        f"{API}/orders/{order['id']}/review", json={"stars": 5, "line_id": 999_999}, headers=buyer
    )
    too_many = c.post(
        f"{API}/orders/{order['id']}/after-sales",
        json={"kind": "refund_only", "reason": "quality", "line_id": tees["id"], "quantity": 4},
        headers=buyer,
    )
    first = c.post(
        f"{API}/orders/{order['id']}/review",
        json={"stars": 5, "line_id": tees["id"]},
        headers=buyer,
    )
    second = c.post(
        f"{API}/orders/{order['id']}/review", json={"stars": 2, "line_id": cap["id"]}, headers=buyer
    )
    again = c.post(
        f"{API}/orders/{order['id']}/review", json={"stars": 1, "line_id": cap["id"]}, headers=buyer
    )

    assert unnamed.status_code == 422, unnamed.text
    assert foreign.status_code == 404, foreign.text
    assert too_many.status_code == 422, too_many.text
    assert first.status_code == second.status_code == 201
    assert (first.json()["product_id"], second.json()["product_id"]) == (
        world.a.product_id,
        second_sku["product_id"],
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "duplicate"
    cap_reviews = c.get(f"{API}/products/{second_sku['product_id']}/reviews", headers=buyer).json()
    assert [r["stars"] for r in cap_reviews["items"]] == [2]


def test_a_refund_is_never_more_than_the_units_it_is_for_and_a_small_one_keeps_the_rest(
    world: World, second_sku: dict[str, int]
) -> None:
    order = _sold_by_creator(world, second_sku, "lines-4")
    tees = order["lines"][0]  # 3 tees at 99.00
    unit = tees["paid_amount_fen"] // 3

    def ask(**body: Any) -> Any:
        return world.client.post(
            f"{API}/orders/{order['id']}/after-sales",
            json={"kind": "refund_only", "reason": "quality", "line_id": tees["id"], **body},
            headers=world.as_("buyer"),
        )

    too_much = ask(quantity=1, refund_fen=unit + 1)
    small = _refund(world, order["id"], line_id=tees["id"], refund_fen=100)
    next_unit = _refund(world, order["id"], line_id=tees["id"], quantity=1)
    last = _refund(world, order["id"], line_id=tees["id"])

    assert too_much.status_code == 422, too_much.text  # one tee's refund is one tee's price
    # 1.00 back for one tee: the other two are still the buyer's to return, at their price
    assert (small["quantity"], small["refund_fen"]) == (1, 100)
    assert next_unit["refund_fen"] == unit
    assert (last["quantity"], last["refund_fen"]) == (1, unit)
