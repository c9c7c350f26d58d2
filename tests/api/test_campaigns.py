"""Festivals over the API: operators open them, merchants register their own SKUs and read
their own answers, operators review with a reason."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.api.conftest import World
from trustflow.db import utcnow

API = "/api/v1"


def _festival(world: World, who: str = "operator", opens_in: timedelta = timedelta(0)) -> Any:
    now = utcnow() + opens_in
    body = {
        "name": "116 shopping festival",
        "registration_from": (now - timedelta(days=1)).isoformat(),
        "registration_to": (now + timedelta(days=10)).isoformat(),
        "warmup_from": (now + timedelta(days=20)).isoformat(),
        "main_from": (now + timedelta(days=25)).isoformat(),
        "main_to": (now + timedelta(days=40)).isoformat(),
        "min_tier": "fair",
        "subsidy_budget_fen": 1_000_000,
    }
    return world.client.post(f"{API}/campaigns", json=body, headers=world.as_(who))


def _register(world: World, campaign_id: int, who: str, sku_id: int, **fields: Any) -> Any:
    body = {"sku_id": sku_id, "campaign_price_fen": 9_900, "quantity": 5, **fields}
    return world.client.post(
        f"{API}/campaigns/{campaign_id}/registrations", json=body, headers=world.as_(who)
    )


def test_only_operators_open_festivals(world: World) -> None:
    assert _festival(world, "merchant_a").status_code == 403
    assert _festival(world).status_code == 201


def test_a_merchant_registers_its_own_sku_and_sees_only_its_own_answers(world: World) -> None:
    campaign = _festival(world).json()["id"]

    mine = _register(world, campaign, "merchant_a", world.a.sku_id, campaign_price_fen=9_950)
    theirs = _register(world, campaign, "merchant_b", world.a.sku_id)
    pending = _register(world, campaign, "merchant_b", world.b.sku_id)
    seen_by_a = world.client.get(
        f"{API}/campaigns/{campaign}/registrations", headers=world.as_("merchant_a")
    ).json()["items"]

    assert mine.status_code == 201, mine.text
    assert mine.json()["status"] == "refused"
    assert mine.json()["reasons"][0]["message"] == "campaign price 99.50 > 30-day low 99.00"
    assert theirs.status_code == 403  # another merchant's SKU
    assert pending.json()["status"] == "pending"
    assert [r["shop_id"] for r in seen_by_a] == [world.a.shop_id]


def test_the_operator_decides_with_a_reason_and_never_without_one(world: World) -> None:
    campaign = _festival(world).json()["id"]
    registration = _register(world, campaign, "merchant_b", world.b.sku_id).json()
    path = f"{API}/registrations/{registration['id']}"

    by_merchant = world.client.post(
        f"{path}/approve", json={"reason": "me"}, headers=world.as_("merchant_b")
    )
    silent = world.client.post(f"{path}/approve", json={}, headers=world.as_("operator"))
    approved = world.client.post(
        f"{path}/approve", json={"reason": "main venue"}, headers=world.as_("operator")
    )
    twice = world.client.post(
        f"{path}/reject", json={"reason": "changed mind"}, headers=world.as_("operator")
    )

    assert by_merchant.status_code == 403
    assert silent.status_code == 422
    assert approved.json()["status"] == "approved"
    assert approved.json()["review_reason"] == "main venue"
    assert twice.status_code == 409


def test_registering_before_the_window_opens_says_when_it_does(world: World) -> None:
    campaign = _festival(world, opens_in=timedelta(days=3)).json()["id"]

    early = _register(world, campaign, "merchant_b", world.b.sku_id)

    assert early.status_code == 409
    error = early.json()["error"]
    assert error["code"] == "campaign_window_closed"
    assert set(error["details"]) == {"opens", "closes"}


def test_results_are_for_operators(world: World) -> None:
    campaign = _festival(world).json()["id"]
    _register(world, campaign, "merchant_a", world.a.sku_id, quantity=1_000)  # refused: stock

    by_merchant = world.client.get(
        f"{API}/campaigns/{campaign}/results", headers=world.as_("merchant_a")
    )
    by_operator = world.client.get(
        f"{API}/campaigns/{campaign}/results", headers=world.as_("operator")
    )

    assert by_merchant.status_code == 403
    body = by_operator.json()
    assert (body["orders"], body["gmv_yuan"], body["registrations_refused"]) == (0, "0.00", 1)
    assert body["gmv_per_subsidy_yuan"] is None


def test_fast_brand_stages_are_the_operators_and_each_merchants_own(world: World) -> None:
    everyone = world.client.get(f"{API}/fast-brands", headers=world.as_("operator")).json()
    own = world.client.get(f"{API}/fast-brands", headers=world.as_("merchant_a")).json()

    assert {b["shop_id"] for b in everyone["brands"]} == {world.a.shop_id, world.b.shop_id}
    assert everyone["stages"] == {"seed": 2, "growing": 0, "rising": 0, "leading": 0}
    assert [b["shop_id"] for b in own["brands"]] == [world.a.shop_id]


def test_campaigns_are_listed_newest_first_for_merchants_too(world: World) -> None:
    first = _festival(world).json()["id"]
    second = _festival(world).json()["id"]

    page = world.client.get(f"{API}/campaigns?limit=1", headers=world.as_("merchant_a")).json()

    assert [c["id"] for c in page["items"]] == [second]
    rest = world.client.get(
        f"{API}/campaigns?limit=1&offset=1", headers=world.as_("merchant_a")
    ).json()
    assert [c["id"] for c in rest["items"]] == [first]


def test_operators_grant_subsidies_and_cap_shops_and_merchants_read_their_own(
    world: World,
) -> None:
    campaign = _festival(world).json()["id"]
    registration = _register(
        world, campaign, "merchant_b", world.b.sku_id, campaign_price_fen=8_000
    ).json()["id"]
    grant = f"{API}/registrations/{registration}/subsidy"
    cap = f"{API}/campaigns/{campaign}/shops/{world.b.shop_id}/subsidy-cap"
    read = f"{API}/campaigns/{campaign}/shops/{world.b.shop_id}/subsidy"

    by_merchant = world.client.post(
        grant, json={"unit_subsidy_fen": 500, "reason": "me"}, headers=world.as_("merchant_b")
    )
    too_much = world.client.post(
        grant, json={"unit_subsidy_fen": 8_000, "reason": "x"}, headers=world.as_("operator")
    )
    granted = world.client.post(
        grant, json={"unit_subsidy_fen": 500, "reason": "brand"}, headers=world.as_("operator")
    )
    capped = world.client.put(
        cap, json={"cap_fen": 20_000, "reason": "spread"}, headers=world.as_("operator")
    )
    cap_by_merchant = world.client.put(
        cap, json={"cap_fen": None, "reason": "more"}, headers=world.as_("merchant_b")
    )
    own = world.client.get(read, headers=world.as_("merchant_b"))
    rivals = world.client.get(read, headers=world.as_("merchant_a"))

    assert by_merchant.status_code == 403
    assert too_much.status_code == 422
    assert too_much.json()["error"]["message"] == "subsidy 80.00 is not below campaign price 80.00"
    assert granted.status_code == 200, granted.text
    assert granted.json()["unit_subsidy_fen"] == 500
    assert capped.json() == {
        "campaign_id": campaign,
        "shop_id": world.b.shop_id,
        "cap_fen": 20_000,
        "committed_fen": 0,
    }
    assert cap_by_merchant.status_code == 403
    assert own.json()["cap_fen"] == 20_000
    assert rivals.status_code == 403


def test_the_venue_opens_with_the_warm_up_and_buyers_look_as_themselves(world: World) -> None:
    campaign = _festival(world).json()["id"]
    path = f"{API}/campaigns/{campaign}/venue"

    early = world.client.get(path, headers=world.as_("buyer"))
    as_another = world.client.get(
        f"{path}?buyer_id={world.other_buyer_id}", headers=world.as_("buyer")
    )
    merchant_as_buyer = world.client.get(
        f"{path}?buyer_id={world.buyer_id}", headers=world.as_("merchant_a")
    )

    assert early.status_code == 409
    assert early.json()["error"]["code"] == "campaign_window_closed"
    assert set(early.json()["error"]["details"]) == {"opens", "closes"}
    assert as_another.status_code == 403
    assert merchant_as_buyer.status_code == 403


def test_a_double_submitted_festival_with_one_key_opens_once(world: World) -> None:
    now = utcnow()
    body = {
        "name": "618",
        "registration_from": now.isoformat(),
        "registration_to": (now + timedelta(days=5)).isoformat(),
        "warmup_from": (now + timedelta(days=6)).isoformat(),
        "main_from": (now + timedelta(days=7)).isoformat(),
        "main_to": (now + timedelta(days=9)).isoformat(),
        "subsidy_budget_fen": 5_000,
    }
    keyed = world.as_("operator") | {"Idempotency-Key": "open-618"}

    first = world.client.post(f"{API}/campaigns", json=body, headers=keyed)
    again = world.client.post(f"{API}/campaigns", json=body, headers=keyed)
    other = world.client.post(
        f"{API}/campaigns", json=body | {"subsidy_budget_fen": 9_000}, headers=keyed
    )
    bad_key = world.client.post(
        f"{API}/campaigns",
        json=body,
        headers=world.as_("operator") | {"Idempotency-Key": "<a href=x>"},
    )
    listed = world.client.get(f"{API}/campaigns", headers=world.as_("operator")).json()

    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert bad_key.status_code == 422
    assert [c["id"] for c in listed["items"]] == [first.json()["id"]]
