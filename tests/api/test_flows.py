"""A buyer's whole journey through the API, and the errors a client can branch on."""

from __future__ import annotations

from tests.api.conftest import World

API = "/api/v1"


def test_order_to_review_through_the_api(world: World) -> None:
    c, buyer, seller = world.client, world.as_("buyer"), world.as_("merchant_a")
    r = c.post(
        f"{API}/orders",
        json={"sku_id": world.a.sku_id, "quantity": 2},
        headers={**buyer, "Idempotency-Key": "trip"},
    )
    order = r.json()
    replay = c.post(
        f"{API}/orders",
        json={"sku_id": world.a.sku_id, "quantity": 2},
        headers={**buyer, "Idempotency-Key": "trip"},
    )
    assert replay.status_code == 201 and replay.json()["id"] == order["id"]
    events = c.get(f"{API}/orders/{order['id']}/events", headers=buyer).json()
    assert [(e["action"], e["actor"]) for e in events] == [("place", f"buyer:{world.buyer_id}")]

    assert (
        c.post(
            f"{API}/orders/{order['id']}/pay", headers={**buyer, "Idempotency-Key": "pay"}
        ).json()["status"]
        == "paid"
    )
    assert c.post(f"{API}/orders/{order['id']}/ship", headers=seller).json()["status"] == "shipped"
    assert (
        c.post(f"{API}/orders/{order['id']}/deliver", headers=seller).json()["status"]
        == "delivered"
    )
    r = c.post(
        f"{API}/orders/{order['id']}/review", json={"stars": 5, "tags": ["fits"]}, headers=buyer
    )
    assert r.status_code == 201
    reviews = c.get(
        f"{API}/products/{world.a.product_id}/reviews", headers=world.as_("other_buyer")
    )
    assert reviews.json()["items"][0]["stars"] == 5

    req = c.post(
        f"{API}/orders/{order['id']}/after-sales",
        json={"kind": "return_refund", "reason": "quality"},
        headers=buyer,
    ).json()
    assert req["refund_fen"] == 19_800 and req["responsible_party"] == "merchant"
    assert (
        c.post(
            f"{API}/after-sales/{req['id']}/reject", json={"note": "worn"}, headers=seller
        ).json()["status"]
        == "rejected"
    )
    assert (
        c.post(f"{API}/after-sales/{req['id']}/escalate", headers=buyer).json()["status"]
        == "escalated"
    )
    r = c.post(
        f"{API}/after-sales/{req['id']}/arbitrate",
        json={"outcome": "buyer_won", "responsible_party": "merchant"},
        headers=seller,
    )
    assert r.status_code == 403
    r = c.post(
        f"{API}/after-sales/{req['id']}/arbitrate",
        json={"outcome": "buyer_won", "responsible_party": "merchant"},
        headers=world.as_("operator"),
    )
    assert r.json()["status"] == "awaiting_return"
    assert (
        c.post(f"{API}/after-sales/{req['id']}/return-shipped", headers=buyer).json()["status"]
        == "returned"
    )
    assert (
        c.post(f"{API}/after-sales/{req['id']}/return-received", headers=seller).json()["status"]
        == "refunded"
    )


def test_illegal_transitions_are_409_with_a_stable_code(world: World) -> None:
    c, buyer = world.client, world.as_("buyer")
    order = c.post(
        f"{API}/orders",
        json={"sku_id": world.a.sku_id},
        headers={**buyer, "Idempotency-Key": "x"},
    ).json()

    r = c.post(f"{API}/orders/{order['id']}/ship", headers=world.as_("merchant_a"))

    assert r.status_code == 409
    assert r.json()["error"]["code"] == "illegal_transition"
    assert c.get(f"{API}/orders/{order['id']}", headers=buyer).json()["status"] == "pending_payment"


def test_out_of_stock_is_409_and_stock_is_untouched(world: World) -> None:
    r = world.client.post(
        f"{API}/orders",
        json={"sku_id": world.a.sku_id, "quantity": 11},
        headers={**world.as_("buyer"), "Idempotency-Key": "big"},
    )
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "out_of_stock"
    skus = world.client.get(f"{API}/products/{world.a.product_id}/skus", headers=world.as_("buyer"))
    assert skus.json()[0]["stock"] == 10


def test_bad_input_is_422_with_field_errors(world: World) -> None:
    r = world.client.post(
        f"{API}/orders",
        json={"sku_id": -1, "attribution_token": ""},
        headers={**world.as_("buyer"), "Idempotency-Key": "k"},
    )
    assert r.status_code == 422
    body = r.json()["error"]
    assert body["code"] == "invalid_input"
    assert {tuple(e["loc"])[-1] for e in body["details"]["errors"]} >= {
        "sku_id",
        "attribution_token",
    }
    assert (
        world.client.get(
            f"{API}/orders/99999999999999999999", headers=world.as_("buyer")
        ).status_code
        == 422
    )


def test_lists_are_paginated(world: World) -> None:
    h = world.as_("operator")
    for i in range(3):
        world.client.post(f"{API}/categories", json={"code": f"c{i}", "name": f"C{i}"}, headers=h)
    first = world.client.get(f"{API}/categories?limit=2", headers=h).json()
    second = world.client.get(
        f"{API}/categories?limit=2&offset={first['next_offset']}", headers=h
    ).json()
    assert len(first["items"]) == 2 and first["next_offset"] == 2
    assert len(second["items"]) == 2 and second["next_offset"] is None


def test_a_brand_is_sold_only_by_an_authorisation_an_operator_verified(world: World) -> None:
    # Regression: brand authorisation was a flag the merchant set on its own product.
    h, op = world.as_("merchant_a"), world.as_("operator")
    products = f"{API}/shops/{world.a.shop_id}/products"
    nike = world.client.post(
        f"{API}/brands", json={"name": "Nike", "aliases": ["耐克"]}, headers=op
    ).json()
    claimed = world.client.post(
        products, json={"title": "Air", "brand": "Nike", "brand_authorised": True}, headers=h
    )
    blocked = world.client.post(products, json={"title": "Air", "brand": "Nike"}, headers=h)
    product = blocked.json()["id"]
    (interception,) = world.client.get(f"{API}/products/{product}/interceptions", headers=h).json()
    rival = world.client.post(
        f"{API}/interceptions/{interception['id']}/appeal",
        json={"text": "mine"},
        headers=world.as_("merchant_b"),
    )
    appealed = world.client.post(
        f"{API}/interceptions/{interception['id']}/appeal",
        json={"text": "we hold a licence"},
        headers=h,
    )
    queue = world.client.get(f"{API}/interceptions?status=appealed", headers=op).json()
    submitted = world.client.post(
        f"{API}/shops/{world.a.shop_id}/brand-authorisations",
        json={"brand_id": nike["id"], "document": "licences/nike-2026.pdf"},
        headers=h,
    ).json()
    self_verified = world.client.post(
        f"{API}/brand-authorisations/{submitted['id']}/verify", json={"reason": "ok"}, headers=h
    )
    verified = world.client.post(
        f"{API}/brand-authorisations/{submitted['id']}/verify",
        json={"reason": "licence matches the brand's register"},
        headers=op,
    )
    sold = world.client.post(products, json={"title": "Air", "brand": "Nike"}, headers=h).json()

    assert claimed.status_code == 422  # the merchant's say no longer counts
    assert blocked.status_code == 201 and blocked.json()["status"] == "blocked"
    assert interception["rule"] == "brand_not_authorised"
    assert interception["message_zh"] == "商品涉及品牌“Nike”，但店铺无经平台核验的品牌授权"
    assert rival.status_code == 403
    assert appealed.json()["status"] == "appealed"
    assert [i["id"] for i in queue["items"]] == [interception["id"]]
    assert self_verified.status_code == 403
    assert verified.json()["status"] == "verified"
    assert (sold["status"], sold["brand_authorised"]) == ("draft", True)


def test_a_too_long_brand_is_refused_before_the_store(world: World) -> None:
    # Regression: an 81+ character brand passed the API and the store raised (500 on PostgreSQL).
    h = world.as_("merchant_a")
    r = world.client.post(
        f"{API}/shops/{world.a.shop_id}/products",
        json={"title": "Tee", "brand": "x" * 81},
        headers=h,
    )
    assert r.status_code == 422
    listed = world.client.get(f"{API}/products?shop_id={world.a.shop_id}", headers=h).json()
    assert [p["title"] for p in listed["items"]] == ["A tee"]
