"""The impressions API: operators append, viewers must exist, a bad batch stores nothing."""

from __future__ import annotations

from typing import Any

from .conftest import World

API = "/api/v1"


def _row(**overrides: Any) -> dict[str, Any]:
    row = {
        "surface": "discover",
        "item_kind": "live_session",
        "item_id": 11,
        "shown_at": "2026-03-02T12:00:00Z",
    }
    return row | overrides


def _logged(world: World) -> list[dict[str, Any]]:
    r = world.client.get(f"{API}/impressions", headers=world.as_("operator"))
    assert r.status_code == 200
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def test_operators_log_impressions_with_their_viewers(world: World) -> None:
    r = world.client.post(
        f"{API}/impressions",
        json={"impressions": [_row(buyer_id=world.buyer_id), _row(count=3)]},
        headers=world.as_("operator"),
    )
    assert r.status_code == 201 and r.json() == {"logged": 2}
    assert sorted((i["buyer_id"] or 0, i["count"]) for i in _logged(world)) == [
        (0, 3),
        (world.buyer_id, 1),
    ]


def test_a_batch_naming_an_unknown_viewer_is_refused_whole(world: World) -> None:
    r = world.client.post(
        f"{API}/impressions",
        json={"impressions": [_row(buyer_id=world.buyer_id), _row(buyer_id=999_999)]},
        headers=world.as_("operator"),
    )
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found" and "999999" in r.json()["error"]["message"]
    assert _logged(world) == []


def test_only_operators_log_impressions(world: World) -> None:
    r = world.client.post(
        f"{API}/impressions", json={"impressions": [_row()]}, headers=world.as_("buyer")
    )
    assert r.status_code == 403
    assert _logged(world) == []
