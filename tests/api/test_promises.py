"""Each order is promised a ship-by time and a delivery window, from its shop's settings."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import Engine

from tests.api.conftest import World
from trustflow.db import session_factory, transaction
from trustflow.orders import bulk as order_bulk
from trustflow.orders import rules
from trustflow.vocabulary import Channel

API = "/api/v1"


def _order(world: World, key: str) -> dict[str, Any]:
    placed = world.client.post(
        f"{API}/orders",
        json={"sku_id": world.a.sku_id},
        headers={**world.as_("buyer"), "Idempotency-Key": key},
    )
    assert placed.status_code == 201, placed.text
    return dict(placed.json())


def _hours(order: dict[str, Any], field: str, since: str = "created_at") -> float:
    delta = datetime.fromisoformat(order[field]) - datetime.fromisoformat(order[since])
    return delta / timedelta(hours=1)


def _set(world: World, body: dict[str, Any], who: str = "merchant_a") -> Any:
    return world.client.put(
        f"{API}/shops/{world.a.shop_id}/fulfilment", json=body, headers=world.as_(who)
    )


def test_an_order_is_promised_the_shops_handling_and_its_regions_transit(world: World) -> None:
    c = world.client
    default = _order(world, "before")
    set_ = _set(
        world,
        {
            "handling_hours": 24,
            "transit_times": [
                {"region": "310000", "min_hours": 12, "max_hours": 36},
                {"region": "*", "min_hours": 48, "max_hours": 120},
            ],
        },
    )
    assert set_.status_code == 200, set_.text
    elsewhere = _order(world, "elsewhere")
    c.patch(f"{API}/buyers/{world.buyer_id}", json={"region": "310000"}, headers=world.as_("buyer"))
    near = _order(world, "near")

    low, high = rules.DEFAULT_TRANSIT_HOURS
    assert (_hours(default, "ship_by"), _hours(default, "deliver_from", "ship_by")) == (48, low)
    assert _hours(default, "deliver_by", "ship_by") == high
    assert _hours(elsewhere, "ship_by") == 24
    assert (_hours(elsewhere, "deliver_from", "ship_by"), elsewhere["ship_to_region"]) == (48, None)
    assert (near["ship_to_region"], _hours(near, "deliver_by", "ship_by")) == ("310000", 36)
    # an order placed keeps its promise when the shop changes its settings
    _set(world, {"handling_hours": 96})
    again = c.get(f"{API}/orders/{near['id']}", headers=world.as_("buyer")).json()
    assert again["deliver_by"] == near["deliver_by"]


def test_only_the_owner_sets_promises_and_bad_settings_are_refused(world: World) -> None:
    rival = _set(world, {"handling_hours": 1}, who="merchant_b")
    inverted = _set(
        world,
        {"handling_hours": 24, "transit_times": [{"region": "1", "min_hours": 9, "max_hours": 3}]},
    )
    twice = _set(
        world,
        {
            "handling_hours": 24,
            "transit_times": [{"region": "1", "min_hours": 1, "max_hours": 3}] * 2,
        },
    )
    link = _set(
        world,
        {
            "handling_hours": 24,
            "transit_times": [{"region": "<a href=x>", "min_hours": 1, "max_hours": 3}],
        },
    )

    assert rival.status_code == 403
    assert [r.status_code for r in (inverted, twice, link)] == [422, 422, 422]
    shown = world.client.get(
        f"{API}/shops/{world.a.shop_id}/fulfilment", headers=world.as_("buyer")
    )
    assert shown.json() == {"shop_id": world.a.shop_id, "handling_hours": 48, "transit_times": []}


def test_the_bulk_path_promises_as_one_at_a_time(world: World, engine: Engine) -> None:
    _set(
        world,
        {"handling_hours": 12, "transit_times": [{"region": "*", "min_hours": 5, "max_hours": 7}]},
    )
    one = _order(world, "one")
    with transaction(session_factory(engine)) as s:
        at = datetime.fromisoformat(one["created_at"])
        placed = order_bulk.place_orders(
            s,
            order_bulk.OrderBatch(
                buyer_id=np.array([world.buyer_id]),
                sku_id=np.array([world.a.sku_id]),
                quantity=np.array([1]),
                channel=[Channel.SHELF_SEARCH],
                idempotency_key=["bulk-1"],
                creator_id=np.array([0]),
                content_kind=[None],
                content_id=np.array([0]),
                surface=[None],
                merchant_discount_fen=np.array([0]),
                platform_discount_fen=np.array([0]),
            ),
            at=at,
        ).order_id
    bulk = world.client.get(f"{API}/orders/{int(placed[0])}", headers=world.as_("buyer")).json()

    assert [bulk[f] for f in ("ship_by", "deliver_from", "deliver_by")] == [
        one[f] for f in ("ship_by", "deliver_from", "deliver_by")
    ]
