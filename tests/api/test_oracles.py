"""Another party's ids answer as missing ones do, and content links only what its host may.

For every route that takes an id another party owns, that id and an id that does not exist
must give the same status, code and message (with the id in it): otherwise the difference
tells a caller what exists.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from tests.api.conftest import World
from trustflow.aftersales.models import ChatThread
from trustflow.db import session_factory

API = "/api/v1"
MISSING = 999_999


def _answer(response: Any, the_id: int) -> tuple[int, str, str]:
    """What a caller learns: the status, the code, the message with the id taken out."""
    error = response.json()["error"]
    return response.status_code, error["code"], error["message"].replace(str(the_id), "<id>")


def _order(world: World, who: str, key: str, *, paid: bool = False) -> dict[str, Any]:
    headers = {**world.as_(who), "Idempotency-Key": key}
    r = world.client.post(
        f"{API}/orders",
        json={"sku_id": world.a.sku_id, "quantity": 1},
        headers=headers,
    )
    assert r.status_code == 201, r.text
    if paid:
        r = world.client.post(f"{API}/orders/{r.json()['id']}/pay", headers=headers)
        assert r.status_code == 200, r.text
    return dict(r.json())


def _chats(engine: Engine) -> int:
    with session_factory(engine)() as s:
        return int(s.scalar(select(func.count()).select_from(ChatThread)) or 0)


def _lives(world: World) -> list[dict[str, Any]]:
    r = world.client.get(f"{API}/live-sessions?limit=200", headers=world.as_("operator"))
    return list(r.json()["items"])


def _draft_of_shop_b(world: World) -> int:
    r = world.client.post(
        f"{API}/shops/{world.b.shop_id}/products",
        json={"title": "B's next tee"},
        headers=world.as_("merchant_b"),
    )
    assert r.status_code == 201 and r.json()["status"] == "draft", r.text
    return int(r.json()["id"])


def test_a_chat_about_another_buyers_order_answers_as_a_missing_order(
    world: World, engine: Engine
) -> None:
    theirs = _order(world, "other_buyer", "o-1")
    chats = _chats(engine)

    def open_about(order_id: int) -> Any:
        return world.client.post(
            f"{API}/chats",
            json={"shop_id": world.a.shop_id, "order_id": order_id},
            headers=world.as_("buyer"),
        )

    other = open_about(theirs["id"])
    missing = open_about(MISSING)

    assert _answer(other, theirs["id"]) == _answer(missing, MISSING)
    assert other.status_code == 404
    assert _chats(engine) == chats


def test_a_chat_about_ones_own_order_with_another_shop_says_so(
    world: World, engine: Engine
) -> None:
    mine = _order(world, "buyer", "o-2")
    chats = _chats(engine)

    r = world.client.post(
        f"{API}/chats",
        json={"shop_id": world.b.shop_id, "order_id": mine["id"]},
        headers=world.as_("buyer"),
    )

    assert r.status_code == 422, r.text
    assert f"shop {world.b.shop_id}" in r.json()["error"]["message"]
    assert _chats(engine) == chats


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "orders/{id}", None),
        ("GET", "orders/{id}/events", None),
        ("POST", "orders/{id}/pay", None),
        ("POST", "orders/{id}/cancel", {}),
        ("POST", "orders/{id}/confirm-receipt", None),
        ("POST", "orders/{id}/review", {"stars": 1}),
        ("POST", "orders/{id}/after-sales", {"kind": "refund_only", "reason": "changed_mind"}),
    ],
)
def test_another_buyers_order_answers_as_a_missing_one(
    world: World, method: str, path: str, body: dict[str, Any] | None
) -> None:
    theirs = _order(world, "other_buyer", "o-3")
    before = world.client.get(
        f"{API}/orders/{theirs['id']}", headers=world.as_("other_buyer")
    ).json()

    def call(order_id: int) -> Any:
        return world.client.request(
            method,
            f"{API}/{path.format(id=order_id)}",
            json=body,
            headers={**world.as_("buyer"), "Idempotency-Key": f"k-{order_id}"},
        )

    other, missing = call(theirs["id"]), call(MISSING)

    assert _answer(other, theirs["id"]) == _answer(missing, MISSING)
    assert other.status_code == 404
    after = world.client.get(f"{API}/orders/{theirs['id']}", headers=world.as_("other_buyer"))
    assert after.json() == before


def test_another_buyers_chat_and_after_sales_request_answer_as_missing_ones(world: World) -> None:
    c = world.client
    theirs = _order(world, "other_buyer", "o-4", paid=True)
    for step in ("ship", "deliver"):
        r = c.post(f"{API}/orders/{theirs['id']}/{step}", headers=world.as_("merchant_a"))
        assert r.status_code == 200, r.text
    request = c.post(
        f"{API}/orders/{theirs['id']}/after-sales",
        json={"kind": "refund_only", "reason": "changed_mind"},
        headers=world.as_("other_buyer"),
    ).json()
    chat = c.post(
        f"{API}/chats", json={"shop_id": world.a.shop_id}, headers=world.as_("other_buyer")
    ).json()
    h = world.as_("buyer")

    for path, the_id in (
        ("after-sales/{id}", request["id"]),
        ("after-sales/{id}/withdraw", request["id"]),
        ("chats/{id}", chat["id"]),
    ):
        method = "POST" if path.endswith("withdraw") else "GET"
        other = c.request(method, f"{API}/{path.format(id=the_id)}", headers=h)
        missing = c.request(method, f"{API}/{path.format(id=MISSING)}", headers=h)

        assert _answer(other, the_id) == _answer(missing, MISSING), path
        assert other.status_code == 404
    still = c.get(f"{API}/after-sales/{request['id']}", headers=world.as_("other_buyer"))
    assert still.json()["status"] == request["status"]


@pytest.mark.parametrize("content", ["live-sessions", "short-videos"])
def test_a_shops_content_cannot_link_another_shops_product(world: World, content: str) -> None:
    lives = _lives(world)

    r = world.client.post(
        f"{API}/{content}",
        json={"shop_id": world.a.shop_id, "product_ids": [world.a.product_id, world.b.product_id]},
        headers=world.as_("merchant_a"),
    )

    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "product_not_in_shop"
    assert error["details"] == {"product_id": world.b.product_id, "shop_id": world.a.shop_id}
    assert _lives(world) == lives


def test_a_shops_live_links_its_own_products_listed_or_not(world: World) -> None:
    draft = world.client.post(
        f"{API}/shops/{world.a.shop_id}/products",
        json={"title": "A's next tee"},
        headers=world.as_("merchant_a"),
    ).json()

    r = world.client.post(
        f"{API}/live-sessions",
        json={"shop_id": world.a.shop_id, "product_ids": [world.a.product_id, draft["id"]]},
        headers=world.as_("merchant_a"),
    )

    assert r.status_code == 201, r.text
    assert r.json()["product_ids"] == [world.a.product_id, draft["id"]]


@pytest.mark.parametrize(
    ("who", "host"), [("merchant_a", "shop"), ("creator", "creator")], ids=["shop", "creator"]
)
def test_another_shops_draft_product_answers_as_a_missing_one(
    world: World, who: str, host: str
) -> None:
    draft = _draft_of_shop_b(world)
    hosted = {"shop_id": world.a.shop_id} if host == "shop" else {"creator_id": world.creator_id}
    lives = _lives(world)

    def link(product_id: int) -> Any:
        return world.client.post(
            f"{API}/live-sessions",
            json={**hosted, "product_ids": [product_id]},
            headers=world.as_(who),
        )

    other, missing = link(draft), link(MISSING)

    assert _answer(other, draft) == _answer(missing, MISSING)
    assert other.status_code == 404
    assert _lives(world) == lives


def _sku_and_offer_of_draft(world: World, draft: int) -> tuple[int, int]:
    """A SKU and a distribution offer on shop B's draft, made by its merchant."""
    b = world.as_("merchant_b")
    sku = world.client.post(
        f"{API}/products/{draft}/skus", json={"price_fen": 990, "stock": 3}, headers=b
    )
    assert sku.status_code == 201, sku.text
    offer = world.client.post(
        f"{API}/offers", json={"product_id": draft, "commission_bps": 1000}, headers=b
    )
    assert offer.status_code == 201, offer.text
    return int(sku.json()["id"]), int(offer.json()["id"])


def test_changing_another_shops_draft_answers_as_a_missing_product(world: World) -> None:
    """A rival merchant who edits, adds SKUs to, re-prices, or offers another shop's draft
    learns nothing: each answer is the one for an id that does not exist, and nothing moves."""
    draft = _draft_of_shop_b(world)
    sku, offer = _sku_and_offer_of_draft(world, draft)
    a = world.as_("merchant_a")
    calls = {
        "list it": lambda i: world.client.patch(
            f"{API}/products/{i}", json={"status": "listed"}, headers=a
        ),
        "add a sku": lambda i: world.client.post(
            f"{API}/products/{i}/skus", json={"price_fen": 1, "stock": 1}, headers=a
        ),
        "re-price a sku": lambda i: world.client.patch(
            f"{API}/skus/{i}", json={"price_fen": 1}, headers=a
        ),
        "offer it": lambda i: world.client.post(
            f"{API}/offers", json={"product_id": i, "commission_bps": 9000}, headers=a
        ),
        "end its offer": lambda i: world.client.post(f"{API}/offers/{i}/end", headers=a),
    }
    ids = {"re-price a sku": sku, "end its offer": offer}
    before = world.client.get(f"{API}/products/{draft}/skus", headers=world.as_("merchant_b"))

    for what, call in calls.items():
        own = ids.get(what, draft)
        other, missing = call(own), call(MISSING)
        assert other.status_code == 404, (what, other.text)
        assert _answer(other, own) == _answer(missing, MISSING), what

    assert (
        world.client.get(f"{API}/products/{draft}", headers=world.as_("merchant_b")).json()[
            "status"
        ]
        == "draft"
    )
    after = world.client.get(f"{API}/products/{draft}/skus", headers=world.as_("merchant_b"))
    assert after.json() == before.json()


def test_a_listed_product_of_another_shop_is_refused_as_not_yours(world: World) -> None:
    """A listed product is public: changing another shop's is a 403 that says why."""
    r = world.client.patch(
        f"{API}/products/{world.b.product_id}",
        json={"status": "delisted"},
        headers=world.as_("merchant_a"),
    )
    assert r.status_code == 403, r.text
    assert r.json()["error"]["code"] == "forbidden"


def test_ordering_a_drafts_sku_answers_as_a_missing_sku(world: World) -> None:
    draft = _draft_of_shop_b(world)
    sku, _ = _sku_and_offer_of_draft(world, draft)

    def order(sku_id: int) -> Any:
        return world.client.post(
            f"{API}/orders",
            json={"sku_id": sku_id, "quantity": 1},
            headers={**world.as_("buyer"), "Idempotency-Key": f"draft-{sku_id}"},
        )

    other, missing = order(sku), order(MISSING)

    assert other.status_code == 404, other.text
    assert _answer(other, sku) == _answer(missing, MISSING)
