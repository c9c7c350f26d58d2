"""An after-sales request's trail through the API: one event per action, with its actor."""

from __future__ import annotations

from tests.api.conftest import World

API = "/api/v1"


def _delivered_order(world: World) -> int:
    c, buyer, seller = world.client, world.as_("buyer"), world.as_("merchant_a")
    order = c.post(
        f"{API}/orders",
        json={"sku_id": world.a.sku_id},
        headers={**buyer, "Idempotency-Key": "trail"},
    ).json()
    c.post(f"{API}/orders/{order['id']}/pay", headers={**buyer, "Idempotency-Key": "pay"})
    c.post(f"{API}/orders/{order['id']}/ship", headers=seller)
    assert c.post(f"{API}/orders/{order['id']}/deliver", headers=seller).status_code == 200
    return int(order["id"])


def test_a_refund_only_request_leaves_one_event_per_action_with_its_actor(world: World) -> None:
    c, buyer, seller = world.client, world.as_("buyer"), world.as_("merchant_a")
    order_id = _delivered_order(world)
    req = c.post(
        f"{API}/orders/{order_id}/after-sales",
        json={"kind": "refund_only", "reason": "quality"},
        headers=buyer,
    ).json()
    rid = req["id"]
    assert c.post(f"{API}/after-sales/{rid}/reject", json={}, headers=seller).status_code == 200
    assert c.post(f"{API}/after-sales/{rid}/escalate", headers=buyer).status_code == 200
    r = c.post(
        f"{API}/after-sales/{rid}/arbitrate",
        json={"outcome": "buyer_won", "responsible_party": "merchant"},
        headers=world.as_("operator"),
    )
    assert r.json()["status"] == "refunded"

    events = c.get(f"{API}/after-sales/{rid}/events", headers=buyer).json()

    assert [
        (e["action"], e["from_status"], e["to_status"], e["actor_role"], e["actor_id"])
        for e in events
    ] == [
        ("request", None, "requested", "buyer", world.buyer_id),
        ("reject", "requested", "rejected", "merchant", world.a.merchant_id),
        ("escalate", "rejected", "escalated", "buyer", world.buyer_id),
        ("arbitrate", "escalated", "refunded", "platform", None),
    ]
    assert events[-1]["at"] == r.json()["resolved_at"]
    seen_by_seller = c.get(f"{API}/after-sales/{rid}/events", headers=seller).json()
    assert seen_by_seller == events


def test_a_refused_action_adds_no_event_and_strangers_do_not_see_the_trail(world: World) -> None:
    c, buyer = world.client, world.as_("buyer")
    order_id = _delivered_order(world)
    rid = c.post(
        f"{API}/orders/{order_id}/after-sales",
        json={"kind": "refund_only", "reason": "quality"},
        headers=buyer,
    ).json()["id"]

    r = c.post(f"{API}/after-sales/{rid}/escalate", headers=buyer)

    assert r.status_code == 409 and r.json()["error"]["code"] == "illegal_transition"
    events = c.get(f"{API}/after-sales/{rid}/events", headers=buyer).json()
    assert [e["action"] for e in events] == ["request"]
    for stranger in ("other_buyer", "merchant_b"):
        r = c.get(f"{API}/after-sales/{rid}/events", headers=world.as_(stranger))
        assert r.status_code == 404
