"""A creator's commission statement: its own, from what the server booked."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.api.conftest import World
from trustflow.db import utcnow

API = "/api/v1"


NOW = utcnow()


def _statement(world: World, who: str, creator_id: int, **period: str) -> Any:
    now = NOW
    params = {
        "start": (now - timedelta(days=1)).isoformat(),
        "end": (now + timedelta(days=1)).isoformat(),
        **period,
    }
    return world.client.get(
        f"{API}/creators/{creator_id}/commission-statement", params=params, headers=world.as_(who)
    )


def _sold_and_paid(world: World, key: str) -> dict[str, Any]:
    buyer = world.as_("buyer")
    order = world.client.post(
        f"{API}/orders",
        json={"sku_id": world.a.sku_id, "quantity": 2, "attribution_token": world.creator_token()},
        headers={**buyer, "Idempotency-Key": key},
    ).json()
    paid = world.client.post(
        f"{API}/orders/{order['id']}/pay", headers={**buyer, "Idempotency-Key": f"pay-{key}"}
    )
    assert paid.status_code == 200, paid.text
    return dict(paid.json())


def test_a_paid_then_refunded_sale_shows_accrued_and_reversed_on_the_creators_statement(
    world: World,
) -> None:
    order = _sold_and_paid(world, "s1")
    c = world.client
    c.post(f"{API}/orders/{order['id']}/ship", headers=world.as_("merchant_a"))
    half = order["paid_amount_fen"] // 2
    request = c.post(
        f"{API}/orders/{order['id']}/after-sales",
        json={"kind": "refund_only", "reason": "quality", "refund_fen": half},
        headers=world.as_("buyer"),
    ).json()
    approved = c.post(f"{API}/after-sales/{request['id']}/approve", headers=world.as_("merchant_a"))
    assert approved.status_code == 200, approved.text

    mine = _statement(world, "creator", world.creator_id)

    assert mine.status_code == 200, mine.text
    body = mine.json()
    assert body["accrued_fen"] == order["commission_fen"] > 0
    assert body["reversed_fen"] == order["commission_fen"] // 2
    assert body["settled_fen"] == 0
    assert body["pending_at_end_fen"] == order["commission_fen"] - order["commission_fen"] // 2
    assert _statement(world, "operator", world.creator_id).json() == body


def test_only_the_creator_and_operators_see_a_statement(world: World) -> None:
    _sold_and_paid(world, "s2")

    for who in ("buyer", "merchant_a"):
        assert _statement(world, who, world.creator_id).status_code == 403
    assert _statement(world, "creator", world.creator_id + 1).status_code == 403
    assert _statement(world, "operator", world.creator_id + 99).status_code == 404


def test_a_period_that_ends_before_it_starts_or_outside_the_span_is_refused(
    world: World,
) -> None:
    now = utcnow()
    backwards = _statement(
        world, "creator", world.creator_id, start=now.isoformat(), end=now.isoformat()
    )
    far = _statement(world, "creator", world.creator_id, end="9999-12-31T00:00:00+00:00")
    naive = _statement(world, "creator", world.creator_id, start="2026-01-01T00:00:00")

    assert (backwards.status_code, backwards.json()["error"]["code"]) == (422, "invalid_input")
    assert far.status_code == 422
    assert [e["type"] for e in far.json()["error"]["details"]["errors"]] == ["time_out_of_range"]
    assert naive.status_code == 422
