"""Attribution comes from a token the server handed out, never from the order's body."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.api.conftest import World
from trustflow.db import utcnow

API = "/api/v1"


def _order(world: World, key: str, **body: Any) -> Any:
    return world.client.post(
        f"{API}/orders",
        json={"sku_id": world.a.sku_id, **body},
        headers={**world.as_("buyer"), "Idempotency-Key": key},
    )


def test_a_genuine_token_earns_the_creator_its_commission(world: World) -> None:
    placed = _order(world, "ok", attribution_token=world.creator_token())

    assert placed.status_code == 201, placed.text
    assert (placed.json()["channel"], placed.json()["creator_id"]) == (
        "distribution",
        world.creator_id,
    )
    assert placed.json()["commission_fen"] > 0


def _forged(world: World) -> str:
    # the creator's fields in another token, its MAC kept: any edit breaks the signature
    genuine = world.creator_token()
    head, mac = genuine.rsplit(".", 1)
    fields = head.split(".")
    fields[5] = str(world.creator_id + 1)
    return ".".join(fields) + "." + mac


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(lambda w: _forged(w), id="forged"),
        pytest.param(
            lambda w: w.creator_token(expires_at=utcnow() - timedelta(seconds=1)), id="expired"
        ),
        pytest.param(lambda w: w.creator_token(buyer_id=w.other_buyer_id), id="another buyer's"),
        pytest.param(lambda w: "1.2.3.4.5.6.7.8.9.10.AAAAAAAAAAAAAAAAAAAAAA", id="made up"),
        pytest.param(lambda w: w.creator_token(shop_id=w.b.shop_id), id="other goods"),
    ],
)
def test_a_token_that_does_not_vouch_gives_no_creator_and_no_commission(
    world: World, token: Any
) -> None:
    placed = _order(world, "bad", attribution_token=token(world))

    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert (order["channel"], order["creator_id"], order["commission_fen"]) == (
        "shelf_card",
        None,
        0,
    )
    sold = world.client.get(f"{API}/orders", headers=world.as_("creator")).json()["items"]
    assert sold == []  # the creator sold nothing


def test_an_order_body_naming_a_creator_is_refused_and_orders_nothing(world: World) -> None:
    refused = _order(world, "named", channel="distribution", creator_id=world.creator_id)

    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "invalid_input"
    mine = world.client.get(f"{API}/orders", headers=world.as_("buyer")).json()["items"]
    assert mine == []


def test_a_shop_page_token_attributes_that_shops_goods_to_the_shelf(world: World) -> None:
    issued = world.client.post(
        f"{API}/attribution-tokens", json={"shop_id": world.a.shop_id}, headers=world.as_("buyer")
    )
    assert issued.status_code == 201, issued.text
    token = issued.json()["attribution_token"]

    order = _order(world, "shop", attribution_token=token).json()

    assert (order["channel"], order["surface"], order["creator_id"]) == (
        "shelf_shop",
        "shop",
        None,
    )


def test_a_token_is_for_the_buyer_asking_only(world: World) -> None:
    c = world.client
    mine = c.post(
        f"{API}/attribution-tokens",
        json={"shop_id": world.a.shop_id, "buyer_id": world.other_buyer_id},
        headers=world.as_("buyer"),
    )
    creators = c.post(
        f"{API}/attribution-tokens", json={"shop_id": world.a.shop_id}, headers=world.as_("creator")
    )
    both = c.post(
        f"{API}/attribution-tokens",
        json={"shop_id": world.a.shop_id, "live_session_id": 1},
        headers=world.as_("buyer"),
    )

    assert mine.status_code == 403
    assert creators.status_code == 403
    assert both.status_code == 422 and both.json()["error"]["code"] == "invalid_input"
