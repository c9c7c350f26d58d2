"""Who may see and change what, through the API."""

from __future__ import annotations

from tests.api.conftest import World

API = "/api/v1"


def _order(world: World, key: str = "k1", who: str = "buyer", sku: int | None = None) -> dict:
    r = world.client.post(
        f"{API}/orders",
        json={"sku_id": sku or world.a.sku_id, "quantity": 1},
        headers={**world.as_(who), "Idempotency-Key": key},
    )
    assert r.status_code == 201, r.text
    return r.json()


def test_requests_without_a_valid_key_are_401(world: World) -> None:
    assert world.client.get(f"{API}/me").status_code == 401
    r = world.client.get(f"{API}/me", headers={"X-API-Key": "tfk_nope_nope"})
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "unauthenticated"


def test_a_merchant_cannot_change_another_merchants_shop(world: World) -> None:
    r = world.client.patch(
        f"{API}/shops/{world.b.shop_id}", json={"name": "mine now"}, headers=world.as_("merchant_a")
    )
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "forbidden"
    shop = world.client.get(
        f"{API}/shops/{world.b.shop_id}", headers=world.as_("merchant_b")
    ).json()
    assert shop["name"] == "B"


def test_a_merchant_cannot_touch_another_merchants_products(world: World) -> None:
    h = world.as_("merchant_a")
    assert (
        world.client.post(
            f"{API}/shops/{world.b.shop_id}/products", json={"title": "fake"}, headers=h
        ).status_code
        == 403
    )
    assert (
        world.client.patch(
            f"{API}/products/{world.b.product_id}", json={"status": "delisted"}, headers=h
        ).status_code
        == 403
    )
    r = world.client.patch(f"{API}/skus/{world.b.sku_id}", json={"price_fen": 1}, headers=h)
    assert r.status_code == 403
    sku = world.client.get(f"{API}/products/{world.b.product_id}/skus", headers=h).json()[0]
    assert sku["price_fen"] == 9_900


def test_a_merchant_sees_only_its_own_shops_orders(world: World) -> None:
    order_b = _order(world, sku=world.b.sku_id)

    r = world.client.get(f"{API}/orders/{order_b['id']}", headers=world.as_("merchant_a"))
    assert r.status_code == 404
    listed = world.client.get(f"{API}/orders", headers=world.as_("merchant_a")).json()
    assert listed["items"] == []
    r = world.client.post(f"{API}/orders/{order_b['id']}/ship", headers=world.as_("merchant_a"))
    assert r.status_code == 404
    mine = world.client.get(f"{API}/orders", headers=world.as_("merchant_b")).json()
    assert [o["id"] for o in mine["items"]] == [order_b["id"]]


def test_a_buyer_reads_only_its_own_orders(world: World) -> None:
    order = _order(world)

    assert (
        world.client.get(
            f"{API}/orders/{order['id']}", headers=world.as_("other_buyer")
        ).status_code
        == 404
    )
    r = world.client.post(
        f"{API}/orders/{order['id']}/pay",
        headers={**world.as_("other_buyer"), "Idempotency-Key": "x"},
    )
    assert r.status_code == 404
    assert world.client.get(f"{API}/orders", headers=world.as_("other_buyer")).json()["items"] == []


def test_a_buyer_cannot_place_orders_for_someone_else(world: World) -> None:
    r = world.client.post(
        f"{API}/orders",
        json={"sku_id": world.a.sku_id, "buyer_id": world.other_buyer_id},
        headers={**world.as_("buyer"), "Idempotency-Key": "k"},
    )
    assert r.status_code == 403


def test_only_operators_issue_keys(world: World) -> None:
    body = {"role": "operator"}
    assert (
        world.client.post(f"{API}/keys", json=body, headers=world.as_("merchant_a")).status_code
        == 403
    )
    r = world.client.post(f"{API}/keys", json=body, headers=world.as_("operator"))
    assert r.status_code == 201
    new_key = r.json()["key"]
    assert (
        world.client.get(f"{API}/me", headers={"X-API-Key": new_key}).json()["role"] == "operator"
    )
    listed = world.client.get(f"{API}/keys", headers=world.as_("operator")).text
    assert new_key.split("_", 2)[2] not in listed  # the secret is never shown again


def test_a_revoked_key_stops_working(world: World) -> None:
    r = world.client.post(
        f"{API}/keys",
        json={"role": "buyer", "subject_id": world.buyer_id},
        headers=world.as_("operator"),
    )
    key_id, secret = r.json()["id"], r.json()["key"]
    world.client.post(f"{API}/keys/{key_id}/revoke", headers=world.as_("operator"))
    assert world.client.get(f"{API}/me", headers={"X-API-Key": secret}).status_code == 401


def test_a_creator_sees_the_orders_it_sold_but_not_others(world: World) -> None:
    r = world.client.post(
        f"{API}/orders",
        json={"sku_id": world.a.sku_id, "attribution_token": world.creator_token()},
        headers={**world.as_("buyer"), "Idempotency-Key": "dist"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["commission_fen"] == 1485
    shelf = _order(world, key="shelf")

    sold = world.client.get(f"{API}/orders", headers=world.as_("creator")).json()["items"]
    assert [o["id"] for o in sold] == [r.json()["id"]]
    assert (
        world.client.get(f"{API}/orders/{shelf['id']}", headers=world.as_("creator")).status_code
        == 404
    )
