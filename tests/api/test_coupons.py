"""Coupons over the API: who may issue which, a buyer's claims, and a checkout that uses
them, with every amount worked out by the server."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, func, select

from tests.api.conftest import World
from trustflow.db import session_factory, utcnow
from trustflow.orders.models import Checkout

API = "/api/v1"


def _coupon(world: World, who: str, **fields: Any) -> Any:
    now = utcnow()
    body = {
        "name": "满 150 减 20",
        "kind": "full_reduction",
        "threshold_fen": 15_000,
        "amount_fen": 2_000,
        "budget_fen": 100_000,
        "budget_count": 100,
        "valid_from": (now - timedelta(hours=1)).isoformat(),
        "valid_to": (now + timedelta(days=7)).isoformat(),
        **fields,
    }
    return world.client.post(f"{API}/coupons", json=body, headers=world.as_(who))


def _claim(world: World, coupon_id: int, key: str, who: str = "buyer") -> Any:
    return world.client.post(
        f"{API}/coupons/{coupon_id}/claims",
        json={},
        headers={**world.as_(who), "Idempotency-Key": key},
    )


def test_a_merchant_issues_for_its_own_shop_and_only_operators_for_the_platform(
    world: World,
) -> None:
    own = _coupon(world, "merchant_a", shop_id=world.a.shop_id)
    rival = _coupon(world, "merchant_b", shop_id=world.a.shop_id)
    platform_by_merchant = _coupon(world, "merchant_a")
    platform = _coupon(world, "operator")

    assert own.status_code == 201, own.text
    assert own.json()["issuer"] == "merchant" and own.json()["committed_fen"] == 0
    assert rival.status_code == 403
    assert platform_by_merchant.status_code == 403
    assert platform.status_code == 201 and platform.json()["issuer"] == "platform"


def test_a_coupon_that_could_not_work_is_refused_with_its_reason(world: World) -> None:
    backwards = _coupon(world, "operator", valid_to=utcnow().replace(year=2020).isoformat())
    free_lunch = _coupon(world, "operator", threshold_fen=1_000, amount_fen=2_000)
    stray = _coupon(world, "operator", platform_discount_fen=500)

    assert backwards.status_code == 422
    assert "valid_to is not after valid_from" in backwards.json()["error"]["message"]
    assert free_lunch.status_code == 422
    assert "threshold 1000 must exceed its amount 2000" in free_lunch.json()["error"]["message"]
    assert stray.status_code == 422  # an unknown field is refused, not ignored


def test_a_cart_with_coupons_pays_what_the_server_works_out(world: World, engine: Engine) -> None:
    merchant = _coupon(world, "merchant_a", shop_id=world.a.shop_id).json()
    platform = _coupon(
        world,
        "operator",
        kind="discount",
        threshold_fen=0,
        amount_fen=0,
        discount_bps=1_000,
    ).json()
    claims = [_claim(world, merchant["id"], "m").json(), _claim(world, platform["id"], "p").json()]
    again = _claim(world, merchant["id"], "m").json()
    items = [{"sku_id": world.a.sku_id, "quantity": 2}, {"sku_id": world.b.sku_id}]

    placed = world.client.post(
        f"{API}/checkouts",
        json={"items": items, "coupon_claim_ids": [c["id"] for c in claims]},
        headers={**world.as_("buyer"), "Idempotency-Key": "cart"},
    )
    paid = world.client.post(
        f"{API}/checkouts/{placed.json()['id']}/pay",
        headers={**world.as_("buyer"), "Idempotency-Key": "pay"},
    )
    listed = world.client.get(
        f"{API}/buyers/{world.buyer_id}/coupon-claims", headers=world.as_("buyer")
    )

    assert again["id"] == claims[0]["id"]
    assert placed.status_code == 201, placed.text
    # A: 2 × 99.00 − 20.00 = 178.00; B: 99.00; then 10% of 277.00 = 27.70 off: 249.30
    assert placed.json()["paid_amount_fen"] == 24_930
    by_shop = {o["shop_id"]: o for o in placed.json()["orders"]}
    assert by_shop[world.a.shop_id]["merchant_discount_fen"] == 2_000
    assert (
        by_shop[world.a.shop_id]["platform_discount_fen"]
        + by_shop[world.b.shop_id]["platform_discount_fen"]
        == 2_770
    )
    assert paid.status_code == 200, paid.text
    assert {c["status"] for c in listed.json()["items"]} == {"redeemed"}


def test_a_buyer_cannot_see_or_spend_another_buyers_claims(world: World, engine: Engine) -> None:
    coupon = _coupon(world, "operator").json()
    theirs = _claim(world, coupon["id"], "k", who="other_buyer").json()

    spent = world.client.post(
        f"{API}/checkouts",
        json={
            "items": [{"sku_id": world.a.sku_id, "quantity": 2}],
            "coupon_claim_ids": [theirs["id"]],
        },
        headers={**world.as_("buyer"), "Idempotency-Key": "cart"},
    )
    seen = world.client.get(
        f"{API}/buyers/{world.other_buyer_id}/coupon-claims", headers=world.as_("buyer")
    )

    assert spent.status_code == 404
    assert seen.status_code == 403
    with session_factory(engine)() as s:  # the refused cart left nothing behind
        assert s.scalar(select(func.count()).select_from(Checkout)) == 0


def test_a_second_claim_past_the_limit_is_refused_with_its_code(world: World) -> None:
    coupon = _coupon(world, "operator").json()
    first = _claim(world, coupon["id"], "a")
    second = _claim(world, coupon["id"], "b")

    assert first.status_code == 201
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "coupon_limit_reached"


def test_an_operator_claiming_for_a_buyer_that_does_not_exist_is_told_so(world: World) -> None:
    coupon = _coupon(world, "operator").json()
    claimed = world.client.post(
        f"{API}/coupons/{coupon['id']}/claims",
        json={"buyer_id": 999_999},
        headers={**world.as_("operator"), "Idempotency-Key": "k"},
    )
    issued = _coupon(world, "operator", shop_id=999_999)

    assert claimed.status_code == 404 and "buyer" in claimed.json()["error"]["message"]
    assert issued.status_code == 404


def test_anyone_reads_a_coupons_terms_but_only_its_issuer_its_budget(world: World) -> None:
    coupon = _coupon(world, "merchant_a", shop_id=world.a.shop_id).json()
    path = f"{API}/coupons/{coupon['id']}"

    own = world.client.get(path, headers=world.as_("merchant_a")).json()
    rival = world.client.get(path, headers=world.as_("merchant_b")).json()
    buyer = world.client.get(path, headers=world.as_("buyer")).json()

    assert own["budget_fen"] == 100_000 and own["committed_fen"] == 0
    assert rival["threshold_fen"] == 15_000 and rival["budget_fen"] is None
    assert buyer["amount_fen"] == 2_000 and buyer["committed_fen"] is None
