"""Request shapes take money and counts as JSON integers only, and each key once."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.api.conftest import World
from trustflow.api.strict_json import first_duplicate_key

API = "/api/v1"


def _orders(world: World) -> list[dict[str, Any]]:
    r = world.client.get(f"{API}/orders?limit=200", headers=world.as_("operator"))
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def _skus(world: World) -> list[dict[str, Any]]:
    r = world.client.get(
        f"{API}/products/{world.a.product_id}/skus", headers=world.as_("merchant_a")
    )
    assert r.status_code == 200, r.text
    return list(r.json())


def _order_body(**fields: Any) -> dict[str, Any]:
    return {"sku_id": 0, "quantity": 1, **fields}


def _place(world: World, body: dict[str, Any] | str, key: str) -> Any:
    headers = {**world.as_("buyer"), "Idempotency-Key": key}
    if isinstance(body, str):
        return world.client.post(
            f"{API}/orders",
            content=body.encode(),
            headers={**headers, "Content-Type": "application/json"},
        )
    return world.client.post(f"{API}/orders", json=body, headers=headers)


@pytest.mark.parametrize(
    "loose",
    [
        {"quantity": "1"},
        {"quantity": 1.0},
        {"quantity": True},
        {"sku_id": "SKU"},  # replaced below by the sku id as a string
        {"buyer_id": "1"},
        {"buyer_id": 1.0},
    ],
)
def test_an_order_with_a_number_that_is_not_a_json_integer_is_refused(
    world: World, loose: dict[str, Any]
) -> None:
    if loose == {"sku_id": "SKU"}:
        loose = {"sku_id": str(world.a.sku_id)}
    orders, skus = _orders(world), _skus(world)

    r = _place(world, _order_body(sku_id=world.a.sku_id) | loose, "loose-1")

    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "invalid_input"
    (field,) = loose
    assert [e["loc"][-1] for e in r.json()["error"]["details"]["errors"]] == [field]
    assert _orders(world) == orders
    assert _skus(world) == skus  # stock untouched


@pytest.mark.parametrize(
    "money",
    [{"platform_discount_fen": 1000}, {"merchant_discount_fen": 1}, {"paid_amount_fen": 0}],
)
def test_a_buyer_cannot_set_its_own_discount_or_price(world: World, money: dict[str, Any]) -> None:
    # a discount as large as the goods once let a buyer pay 0.00 yuan
    orders, skus = _orders(world), _skus(world)

    r = _place(world, _order_body(sku_id=world.a.sku_id) | money, "money-1")

    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "invalid_input"
    (field,) = money
    assert [e["loc"][-1] for e in r.json()["error"]["details"]["errors"]] == [field]
    assert _orders(world) == orders  # nothing ordered
    assert _skus(world) == skus  # stock untouched


def test_an_order_through_the_api_pays_the_sku_price(world: World) -> None:
    r = _place(world, _order_body(sku_id=world.a.sku_id, quantity=2), "price-1")

    assert r.status_code == 201, r.text
    order = r.json()
    assert order["merchant_discount_fen"] == order["platform_discount_fen"] == 0
    assert order["paid_amount_fen"] == order["goods_amount_fen"] == 2 * order["unit_price_fen"]


def test_the_same_order_with_json_integers_is_placed(world: World) -> None:
    r = _place(world, _order_body(sku_id=world.a.sku_id, quantity=2), "strict-1")

    assert r.status_code == 201, r.text
    assert r.json()["quantity"] == 2
    assert _skus(world)[0]["stock"] == 8


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("products/{product}/skus", {"price_fen": "1234", "stock": 1}),
        ("products/{product}/skus", {"price_fen": 1234, "stock": "1"}),
        ("products/{product}/skus", {"price_fen": 1234.0, "stock": 1}),
    ],
)
def test_a_price_or_a_stock_as_a_string_or_float_is_refused(
    world: World, path: str, body: dict[str, Any]
) -> None:
    skus = _skus(world)

    r = world.client.post(
        f"{API}/{path.format(product=world.a.product_id)}",
        json=body,
        headers=world.as_("merchant_a"),
    )

    assert r.status_code == 422, r.text
    assert _skus(world) == skus


@pytest.mark.parametrize("patch", [{"price_fen": "1"}, {"stock_delta": "5"}, {"stock_delta": 5.0}])
def test_a_sku_change_with_a_loose_number_is_refused(world: World, patch: dict[str, Any]) -> None:
    skus = _skus(world)

    r = world.client.patch(
        f"{API}/skus/{world.a.sku_id}", json=patch, headers=world.as_("merchant_a")
    )

    assert r.status_code == 422, r.text
    assert _skus(world) == skus


def test_review_stars_and_refund_amounts_are_json_integers(world: World) -> None:
    order = _place(world, _order_body(sku_id=world.a.sku_id), "strict-2").json()
    h = world.as_("buyer")

    review = world.client.post(f"{API}/orders/{order['id']}/review", json={"stars": "5"}, headers=h)
    refund = world.client.post(
        f"{API}/orders/{order['id']}/after-sales",
        json={"kind": "refund_only", "reason": "changed_mind", "refund_fen": "100"},
        headers=h,
    )

    assert (review.status_code, refund.status_code) == (422, 422)
    assert [e["loc"][-1] for e in review.json()["error"]["details"]["errors"]] == ["stars"]
    assert [e["loc"][-1] for e in refund.json()["error"]["details"]["errors"]] == ["refund_fen"]


def _impression(**fields: Any) -> dict[str, Any]:
    shown = {"surface": "discover", "item_kind": "product_card", "shown_at": "2026-03-01T12:00:00Z"}
    return {"impressions": [{**shown, "item_id": 1, **fields}]}


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("offers", {"product_id": 1, "commission_bps": "1500"}, "commission_bps"),
        ("offers", {"product_id": 1, "commission_bps": 1500.0}, "commission_bps"),
        ("impressions", _impression(count="3"), "count"),
        ("impressions", _impression(count=True), "count"),
        ("impressions", _impression(is_reward=1), "is_reward"),
        ("impressions", _impression(is_reward="false"), "is_reward"),
        ("scores/appeals/1/decision", {"upheld": "true"}, "upheld"),
        ("scores/appeals/1/decision", {"upheld": 0}, "upheld"),
    ],
)
def test_commissions_impression_counts_and_decisions_are_json_numbers_and_booleans(
    world: World, path: str, body: dict[str, Any], field: str
) -> None:
    """A commission, an impression count, a reward flag or an appeal decision sent as text
    (or a count as a boolean) is refused by name, as money and quantities are."""
    r = world.client.post(f"{API}/{path}", json=body, headers=world.as_("operator"))

    assert r.status_code == 422, r.text
    assert [e["loc"][-1] for e in r.json()["error"]["details"]["errors"]] == [field]


def test_ids_in_paths_and_counts_in_queries_are_still_read_from_text(world: World) -> None:
    r = world.client.get(
        f"{API}/products?limit=1&shop_id={world.a.shop_id}", headers=world.as_("buyer")
    )

    assert r.status_code == 200, r.text
    assert [p["id"] for p in r.json()["items"]] == [world.a.product_id]


# --- duplicate keys ------------------------------------------------------------------------


def test_an_order_that_repeats_a_key_is_refused_and_nothing_is_ordered(world: World) -> None:
    orders, skus = _orders(world), _skus(world)
    body = f'{{"sku_id": {world.a.sku_id}, "quantity": 1, "quantity": 10}}'

    r = _place(world, body, "dup-1")

    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "duplicate_json_key"
    assert error["details"] == {"path": "$", "key": "quantity"}
    assert _orders(world) == orders
    assert _skus(world) == skus


def test_a_key_repeated_deep_in_a_body_is_refused_with_its_path(world: World) -> None:
    once = (
        '{"surface": "mall", "item_kind": "product_card", "item_id": 1,'
        ' "shown_at": "2026-01-01T00:00:00+00:00", "count": 1}'
    )
    twice = once.replace('"count": 1}', '"count": 1, "count": 1000000}')
    body = f'{{"impressions": [{once}, {twice}]}}'

    r = world.client.post(
        f"{API}/impressions",
        content=body.encode(),
        headers={**world.as_("operator"), "Content-Type": "application/json; charset=utf-8"},
    )

    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "duplicate_json_key"
    assert r.json()["error"]["details"] == {"path": "$.impressions[1]", "key": "count"}
    listed = world.client.get(f"{API}/impressions", headers=world.as_("operator")).json()
    assert listed["items"] == []


@pytest.mark.parametrize("content_type", [None, "application/merge-patch+json"])
def test_a_body_read_as_json_is_checked_whatever_it_is_labelled(
    world: World, content_type: str | None
) -> None:
    headers = world.as_("merchant_b")
    if content_type is not None:
        headers["Content-Type"] = content_type

    r = world.client.patch(
        f"{API}/shops/{world.b.shop_id}",
        content=b'{"name": "Bee", "name": "B2"}',
        headers=headers,
    )

    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "duplicate_json_key"
    shop = world.client.get(f"{API}/shops/{world.b.shop_id}", headers=headers).json()
    assert shop["name"] == "B"


def test_malformed_and_deeply_nested_bodies_are_refused_as_before_not_failed(
    world: World,
) -> None:
    h = {**world.as_("buyer"), "Idempotency-Key": "bad-1", "Content-Type": "application/json"}

    broken = world.client.post(f"{API}/orders", content=b'{"sku_id": ', headers=h)
    deep = world.client.post(f"{API}/orders", content=b"[" * 100_000, headers=h)

    assert broken.status_code == 422, broken.text
    assert broken.json()["error"]["code"] == "invalid_input"
    assert 400 <= deep.status_code < 500, deep.text


@pytest.mark.parametrize(
    ("body", "found"),
    [
        ({"a": 1}, None),
        ([{"a": 1}, {"a": 2}], None),  # the same key in two objects is fine
        ('{"a": 1, "a": 2}', ("$", "a")),
        ('{"a": {"b": [1, {"c": 1, "c": 1}]}}', ("$.a.b[1]", "c")),
        ('{"x": {"k": 1, "k": 2}, "y": {"j": 1, "j": 2}}', ("$.x", "k")),  # the first one
        ("not json", None),
        ("[" * 100_000, None),
    ],
)
def test_the_first_repeated_key_is_found_with_its_path(
    body: Any, found: tuple[str, str] | None
) -> None:
    raw = body if isinstance(body, str) else json.dumps(body)

    assert first_duplicate_key(raw.encode()) == found
