"""Governance over the API: a merchant is admitted with its identity, banned by an operator,
and neither its new shop nor the same person's new account gets in; refusals are logged even
though the request fails."""

from __future__ import annotations

from httpx2 import Response
from sqlalchemy import func, select

from tests.api.conftest import World
from trustflow.governance.models import RefusedApplication

API = "/api/v1"
PERSON = "11010519491231002X"


def _apply(world: World, id_number: str, phone: str, who: str = "operator") -> Response:
    return world.client.post(
        f"{API}/merchants",
        json={"name": "Hill Farm", "id_number": id_number, "phone": phone},
        headers=world.as_(who),
    )


def test_a_banned_merchant_and_its_person_stay_out(world: World) -> None:
    admitted = _apply(world, PERSON, "13800138000")
    merchant = admitted.json()["id"]
    by_merchant = _apply(world, PERSON, "13800138000", who="merchant_a")
    ban = world.client.post(
        f"{API}/merchants/{world.a.merchant_id}/ban",
        json={"reason": "sold counterfeit goods"},
        headers=world.as_("operator"),
    )
    new_shop = world.client.post(
        f"{API}/shops",
        json={"name": "Second Try", "kind": "other", "category_id": world.category_id},
        headers=world.as_("merchant_a"),
    )
    banned = world.client.post(
        f"{API}/merchants/{merchant}/ban", json={"reason": "fakes"}, headers=world.as_("operator")
    )
    again = _apply(world, " 11010519491231002x ", "+86 139 0013 9000")
    bad = _apply(world, "110105194912310021", "13800138000")

    assert admitted.status_code == 201
    assert set(admitted.json()) == {"id", "name", "created_at"}
    assert by_merchant.status_code == 403
    assert ban.status_code == 200, ban.text
    assert ban.json()["shops_closed"] == [world.a.shop_id]
    assert new_shop.status_code == 409
    assert new_shop.json()["error"]["code"] == "identity_blocked"
    assert banned.status_code == 200
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "identity_blocked"
    assert bad.status_code == 422
    factory = world.client.app.state.session_factory  # type: ignore[attr-defined]
    with factory() as s:
        # both refusals were logged, though both requests failed
        assert s.scalar(select(func.count()).select_from(RefusedApplication)) == 2


def test_operators_record_violations_and_the_merchant_reads_its_standing(world: World) -> None:
    path = f"{API}/shops/{world.a.shop_id}/violations"
    body = {"rule": "unauthorised_brand", "reason": "sold a brand without a licence"}

    by_merchant = world.client.post(path, json=body, headers=world.as_("merchant_a"))
    recorded = world.client.post(path, json=body, headers=world.as_("operator"))
    unknown = world.client.post(
        path, json=body | {"rule": "rudeness"}, headers=world.as_("operator")
    )
    own = world.client.get(path, headers=world.as_("merchant_a")).json()
    rival = world.client.get(path, headers=world.as_("merchant_b"))
    revoked = world.client.post(
        f"{API}/violations/{recorded.json()['id']}/revoke",
        json={"reason": "the licence was on file"},
        headers=world.as_("operator"),
    )
    after = world.client.get(path, headers=world.as_("merchant_a")).json()

    assert by_merchant.status_code == 403
    assert recorded.status_code == 201 and recorded.json()["points"] == 12
    assert unknown.status_code == 422
    assert own["standing"] == {"shop_id": world.a.shop_id, "points": 12, "level": "traffic_limit"}
    assert rival.status_code == 403
    assert revoked.json()["revoke_reason"] == "the licence was on file"
    assert after["standing"]["points"] == 0 and after["standing"]["level"] == "none"


def test_hostile_inputs_to_governance_get_clear_refusals(world: World) -> None:
    op = world.as_("operator")
    ancient = world.client.get(f"{API}/governance/stats?first=0001-01-01", headers=op)
    backwards = world.client.get(
        f"{API}/governance/stats?first=2026-03-02&last=2026-03-01", headers=op
    )
    extra = world.client.post(f"{API}/brands", json={"name": "Nike", "verified": True}, headers=op)
    huge = world.client.post(
        f"{API}/brands",
        content=b'{"name": "' + b"x" * (9 * 1024 * 1024) + b'"}',
        headers=op | {"Content-Type": "application/json"},
    )
    by_buyer = world.client.get(f"{API}/governance/stats", headers=world.as_("buyer"))

    assert ancient.json()["error"]["code"] == "time_out_of_range"
    assert backwards.status_code == 422
    assert extra.status_code == 422
    assert huge.status_code == 413 and huge.json()["error"]["code"] == "body_too_large"
    assert by_buyer.status_code == 403
