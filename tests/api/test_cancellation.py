"""Cancellation before delivery: a reason, whose doing it is, the stock and the money back."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import World

API = "/api/v1"


def _paid(world: World, key: str) -> dict[str, Any]:
    buyer = world.as_("buyer")
    order = world.client.post(
        f"{API}/orders",
        json={"sku_id": world.a.sku_id, "quantity": 2},
        headers={**buyer, "Idempotency-Key": key},
    ).json()
    paid = world.client.post(
        f"{API}/orders/{order['id']}/pay", headers={**buyer, "Idempotency-Key": f"pay-{key}"}
    )
    assert paid.status_code == 200, paid.text
    return dict(paid.json())


def _stock(world: World) -> int:
    skus = world.client.get(
        f"{API}/products/{world.a.product_id}/skus", headers=world.as_("operator")
    ).json()
    return int(next(s["stock"] for s in skus if s["id"] == world.a.sku_id))


def test_a_shipped_parcel_intercepted_by_the_buyer_returns_stock_and_payment(
    world: World,
) -> None:
    order = _paid(world, "o1")
    c = world.client
    c.post(f"{API}/orders/{order['id']}/ship", headers=world.as_("merchant_a"))
    before = _stock(world)

    cancelled = c.post(f"{API}/orders/{order['id']}/cancel", json={}, headers=world.as_("buyer"))

    assert cancelled.status_code == 200, cancelled.text
    body = cancelled.json()
    assert (body["status"], body["cancel_reason"], body["cancel_party"]) == (
        "cancelled",
        "buyer_changed_mind",
        "buyer",
    )
    assert body["cancel_refund_fen"] == order["paid_amount_fen"] > 0
    assert _stock(world) == before + 2
    trail = c.get(f"{API}/orders/{order['id']}/events", headers=world.as_("buyer")).json()
    assert [e["action"] for e in trail] == ["place", "pay", "ship", "cancel"]


def test_each_side_gives_only_its_own_reasons(world: World) -> None:
    order = _paid(world, "o2")
    c = world.client
    url = f"{API}/orders/{order['id']}/cancel"

    blamed = c.post(url, json={"reason": "merchant_cannot_fulfil"}, headers=world.as_("buyer"))
    rival = c.post(url, json={"reason": "lost_in_transit"}, headers=world.as_("merchant_b"))
    unknown = c.post(url, json={"reason": "bored"}, headers=world.as_("buyer"))
    lost = c.post(url, json={"reason": "lost_in_transit"}, headers=world.as_("merchant_a"))

    assert blamed.status_code == 403  # a buyer cannot put its cancellation down to the shop
    assert rival.status_code == 404  # another shop's order is not even visible
    assert unknown.status_code == 422
    assert lost.status_code == 200, lost.text
    assert (lost.json()["cancel_reason"], lost.json()["cancel_party"]) == (
        "lost_in_transit",
        "carrier",
    )


def test_a_delivered_order_cannot_be_cancelled(world: World) -> None:
    order = _paid(world, "o3")
    c = world.client
    for step in ("ship", "deliver"):
        c.post(f"{API}/orders/{order['id']}/{step}", headers=world.as_("merchant_a"))

    refused = c.post(f"{API}/orders/{order['id']}/cancel", json={}, headers=world.as_("buyer"))

    assert refused.status_code == 409
    stored = c.get(f"{API}/orders/{order['id']}", headers=world.as_("buyer")).json()
    assert (stored["status"], stored["cancel_refund_fen"]) == ("delivered", 0)


def test_a_null_body_is_refused_and_cancels_nothing(world: World) -> None:
    order = _paid(world, "o4")
    c = world.client
    before = _stock(world)

    refused = c.post(
        f"{API}/orders/{order['id']}/cancel",
        content=b"null",
        headers={**world.as_("buyer"), "content-type": "application/json"},
    )

    assert refused.status_code == 422, refused.text
    stored = c.get(f"{API}/orders/{order['id']}", headers=world.as_("buyer")).json()
    assert (stored["status"], stored["cancel_refund_fen"]) == ("paid", 0)
    assert _stock(world) == before
