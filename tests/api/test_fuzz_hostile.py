"""Hostile inputs from issue 14, sent as explicit cases: whatever they are, the API answers without
a 5xx, and every refusal is its one error shape, ``{"error": {"code", "message", "details"}}``.

These check the edge, not each rule: whether a shop named with a right-to-left override is refused
or stored normalised is for the names tests to say; here it must not crash the API nor reach the
client as anything but the error shape.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.api.conftest import World

EDGE_DATETIMES = [
    "0001-01-01T00:00:00+14:00",
    "0001-01-02T00:00:00+00:00",
    "9999-12-31T23:00:00-12:00",
]
HUGE_INT = 99999999999999999999
HOSTILE_NAMES = {
    "right-to-left override": "Shop\u202e2 pohs",
    "zero-width only": "\u200b\u200c\u200d\u2060",
    "control characters": "bell\x07 null\x00 escape\x1b",
    "markup": '<a href="https://evil.example/login">Verify operator account</a>',
}
LOOSE_QUANTITIES: dict[str, Any] = {"string": "1", "float": 1.0, "boolean": True}
TWO_MB = 2 * 1024 * 1024

Body = Callable[[World], bytes]


@dataclass(frozen=True)
class Hostile:
    """One request: who sends it (a ``world`` key, or no key), its method, path and body."""

    who: str | None
    method: str
    path: Callable[[World], str]
    body: Body | None = None


def _json(build: Callable[[World], dict[str, Any]]) -> Body:
    return lambda w: json.dumps(build(w)).encode()


def _cases() -> list[Any]:
    cases: list[Any] = []

    def add(case_id: str, request: Hostile) -> None:
        cases.append(pytest.param(request, id=case_id))

    for at in EDGE_DATETIMES:
        query = at.replace("+", "%2B")
        add(
            f"lowest-price at={at}",
            Hostile(
                "buyer", "GET", lambda w, q=query: f"/api/v1/skus/{w.a.sku_id}/lowest-price?at={q}"
            ),
        )
        add(
            f"live-session scheduled_at={at}",
            Hostile(
                "merchant_a",
                "POST",
                lambda w: "/api/v1/live-sessions",
                _json(lambda w, at=at: {"shop_id": w.a.shop_id, "title": "t", "scheduled_at": at}),
            ),
        )
        add(
            f"offer valid_from={at}",
            Hostile(
                "merchant_a",
                "POST",
                lambda w: "/api/v1/offers",
                _json(
                    lambda w, at=at: {
                        "product_id": w.a.product_id,
                        "commission_bps": 1000,
                        "valid_from": at,
                    }
                ),
            ),
        )
        add(
            f"impression shown_at={at}",
            Hostile(
                "operator",
                "POST",
                lambda w: "/api/v1/impressions",
                _json(
                    lambda w, at=at: {
                        "impressions": [
                            {
                                "surface": "mall",
                                "item_kind": "product_card",
                                "item_id": w.a.product_id,
                                "shown_at": at,
                            }
                        ]
                    }
                ),
            ),
        )

    add(
        "huge shop id in the path",
        Hostile("operator", "GET", lambda w: f"/api/v1/shops/{HUGE_INT}"),
    )
    add(
        "huge limit",
        Hostile("operator", "GET", lambda w: f"/api/v1/shops?limit={HUGE_INT}"),
    )
    add(
        "huge key subject id",
        Hostile(
            "operator",
            "POST",
            lambda w: "/api/v1/keys",
            _json(lambda w: {"role": "buyer", "subject_id": HUGE_INT}),
        ),
    )
    add(
        "huge quantity",
        Hostile(
            "buyer",
            "POST",
            lambda w: "/api/v1/orders",
            _json(lambda w: {"sku_id": w.a.sku_id, "quantity": HUGE_INT}),
        ),
    )
    add(
        "huge price",
        Hostile(
            "merchant_a",
            "PATCH",
            lambda w: f"/api/v1/skus/{w.a.sku_id}",
            _json(lambda w: {"price_fen": HUGE_INT}),
        ),
    )

    for kind, name in HOSTILE_NAMES.items():
        add(
            f"new shop named with {kind}",
            Hostile(
                "merchant_a",
                "POST",
                lambda w: "/api/v1/shops",
                _json(lambda w, n=name: {"name": n, "kind": "brand", "category_id": w.category_id}),
            ),
        )
        add(
            f"shop renamed with {kind}",
            Hostile(
                "merchant_a",
                "PATCH",
                lambda w: f"/api/v1/shops/{w.a.shop_id}",
                _json(lambda w, n=name: {"name": n}),
            ),
        )

    for kind, quantity in LOOSE_QUANTITIES.items():
        add(
            f"quantity as a {kind}",
            Hostile(
                "buyer",
                "POST",
                lambda w: "/api/v1/orders",
                _json(
                    lambda w, q=quantity: {
                        "sku_id": w.a.sku_id,
                        "quantity": q,
                    }
                ),
            ),
        )

    add(
        "duplicated JSON key",
        Hostile(
            "buyer",
            "POST",
            lambda w: "/api/v1/orders",
            lambda w: (f'{{"sku_id": {w.a.sku_id}, "quantity": 1, "quantity": 5}}').encode(),
        ),
    )
    for who in ("merchant_a", None):
        add(
            f"2 MB body, {'with' if who else 'without'} a key",
            Hostile(
                who,
                "POST",
                lambda w: "/api/v1/shops",
                _json(
                    lambda w: {"name": "x" * TWO_MB, "kind": "brand", "category_id": w.category_id}
                ),
            ),
        )
    return cases


@pytest.mark.parametrize("request_", _cases())
def test_hostile_input_gets_no_server_error(world: World, request_: Hostile) -> None:
    headers = {"content-type": "application/json"}
    if request_.who is not None:
        headers.update(world.as_(request_.who))
    body = request_.body(world) if request_.body is not None else None

    response = world.client.request(
        request_.method, request_.path(world), content=body, headers=headers
    )

    assert response.status_code < 500, f"{response.status_code}: {response.text[:500]}"
    if response.status_code >= 400:
        error = response.json()["error"]
        assert set(error) == {"code", "message", "details"}, response.text[:500]
        assert isinstance(error["code"], str) and error["code"]
        assert isinstance(error["message"], str) and isinstance(error["details"], dict)
