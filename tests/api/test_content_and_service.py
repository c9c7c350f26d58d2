"""Content, follows, offers and chats through the API, with who may do what."""

from __future__ import annotations

from tests.api.conftest import World

API = "/api/v1"


def test_a_creator_runs_its_own_live_room_and_no_one_else_can(world: World) -> None:
    c, creator = world.client, world.as_("creator")
    live = c.post(
        f"{API}/live-sessions", json={"product_ids": [world.a.product_id]}, headers=creator
    ).json()
    assert live["creator_id"] == world.creator_id and live["status"] == "scheduled"

    assert (
        c.post(
            f"{API}/live-sessions/{live['id']}/start", headers=world.as_("merchant_a")
        ).status_code
        == 403
    )
    assert c.post(f"{API}/live-sessions/{live['id']}/end", headers=creator).status_code == 409
    assert (
        c.post(f"{API}/live-sessions/{live['id']}/start", headers=creator).json()["status"]
        == "live"
    )

    # the buyer opens the live room: its token attributes the order to the creator and room
    entered = c.post(
        f"{API}/attribution-tokens",
        json={"live_session_id": live["id"]},
        headers=world.as_("buyer"),
    )
    assert entered.status_code == 201, entered.text
    token = entered.json()["attribution_token"]
    r = c.post(
        f"{API}/orders",
        json={"sku_id": world.a.sku_id, "attribution_token": token},
        headers={**world.as_("buyer"), "Idempotency-Key": "live-1"},
    )
    assert r.status_code == 201, r.text
    placed = r.json()
    assert (placed["channel"], placed["creator_id"], placed["content_id"]) == (
        "distribution",
        world.creator_id,
        live["id"],
    )
    assert placed["commission_fen"] > 0

    assert (
        c.post(f"{API}/live-sessions/{live['id']}/end", headers=creator).json()["status"] == "ended"
    )
    closed = c.post(
        f"{API}/attribution-tokens",
        json={"live_session_id": live["id"]},
        headers=world.as_("buyer"),
    )
    assert closed.status_code == 409 and closed.json()["error"]["code"] == "content_not_live"
    late = c.post(
        f"{API}/orders",
        json={"sku_id": world.a.sku_id, "attribution_token": token},
        headers={**world.as_("buyer"), "Idempotency-Key": "live-2"},
    )
    assert late.status_code == 409 and late.json()["error"]["code"] == "content_not_live"


def test_a_shops_room_vouches_only_for_its_own_goods(world: World) -> None:
    c = world.client
    room_b = c.post(
        f"{API}/live-sessions", json={"shop_id": world.b.shop_id}, headers=world.as_("merchant_b")
    ).json()
    c.post(f"{API}/live-sessions/{room_b['id']}/start", headers=world.as_("merchant_b"))
    token = c.post(
        f"{API}/attribution-tokens",
        json={"live_session_id": room_b["id"]},
        headers=world.as_("buyer"),
    ).json()["attribution_token"]

    own = c.post(
        f"{API}/orders",
        json={"sku_id": world.b.sku_id, "attribution_token": token},
        headers={**world.as_("buyer"), "Idempotency-Key": "sb-own"},
    ).json()
    rival = c.post(
        f"{API}/orders",
        json={"sku_id": world.a.sku_id, "attribution_token": token},
        headers={**world.as_("buyer"), "Idempotency-Key": "sb-rival"},
    ).json()

    assert (own["channel"], own["content_id"]) == ("self_broadcast", room_b["id"])
    # shop A's goods are not self-broadcast in shop B's room: a plain product-card sale
    assert (rival["channel"], rival["content_id"], rival["creator_id"]) == (
        "shelf_card",
        None,
        None,
    )
    assert (
        c.post(
            f"{API}/live-sessions",
            json={"shop_id": world.b.shop_id},
            headers=world.as_("merchant_a"),
        ).status_code
        == 403
    )


def test_buyers_follow_and_unfollow_their_own_follows_only(world: World) -> None:
    c = world.client
    f = c.post(f"{API}/follows", json={"creator_id": world.creator_id}, headers=world.as_("buyer"))
    again = c.post(
        f"{API}/follows", json={"creator_id": world.creator_id}, headers=world.as_("buyer")
    )
    assert f.status_code == 201 and again.json()["id"] == f.json()["id"]

    assert (
        c.delete(f"{API}/follows/{f.json()['id']}", headers=world.as_("other_buyer")).status_code
        == 404
    )
    assert (
        c.delete(f"{API}/follows/{f.json()['id']}", headers=world.as_("buyer")).status_code == 204
    )
    assert c.get(f"{API}/follows", headers=world.as_("buyer")).json()["items"] == []


def test_a_follow_names_exactly_one_creator_or_shop(world: World) -> None:
    c, buyer = world.client, world.as_("buyer")
    shop = c.post(f"{API}/follows", json={"shop_id": world.a.shop_id}, headers=buyer)
    assert shop.status_code == 201
    assert (shop.json()["shop_id"], shop.json()["creator_id"]) == (world.a.shop_id, None)
    missing = c.post(f"{API}/follows", json={"shop_id": 999_999}, headers=buyer)
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "shop 999999 not found"

    both = {"creator_id": world.creator_id, "shop_id": world.a.shop_id}
    for body in (both, {}):
        refused = c.post(f"{API}/follows", json=body, headers=buyer)
        assert refused.json()["error"] == {
            **refused.json()["error"],
            "code": "invalid_input",
            "message": "follow exactly one of creator_id or shop_id",
        }


def test_offers_belong_to_their_goods_owner_and_creators_select_them(world: World) -> None:
    c = world.client
    body = {"product_id": world.b.product_id, "commission_bps": 2500}
    assert c.post(f"{API}/offers", json=body, headers=world.as_("merchant_a")).status_code == 403
    offer = c.post(f"{API}/offers", json=body, headers=world.as_("merchant_b")).json()

    picked = c.post(f"{API}/offers/{offer['id']}/selections", json={}, headers=world.as_("creator"))
    assert picked.status_code == 201
    assert (
        c.post(
            f"{API}/offers/{offer['id']}/selections", json={}, headers=world.as_("buyer")
        ).status_code
        == 403
    )
    mine = c.get(f"{API}/selections", headers=world.as_("creator")).json()["items"]
    assert offer["id"] in [s["offer_id"] for s in mine]


def test_chat_first_response_is_timed_and_only_the_shop_answers(world: World) -> None:
    c = world.client
    chat = c.post(
        f"{API}/chats", json={"shop_id": world.a.shop_id}, headers=world.as_("buyer")
    ).json()

    assert (
        c.post(f"{API}/chats/{chat['id']}/respond", headers=world.as_("buyer")).status_code == 403
    )
    assert (
        c.post(f"{API}/chats/{chat['id']}/respond", headers=world.as_("merchant_b")).status_code
        == 404
    )
    answered = c.post(f"{API}/chats/{chat['id']}/respond", headers=world.as_("merchant_a")).json()
    assert (
        answered["first_response_seconds"] is not None and answered["first_response_seconds"] >= 0
    )
