"""The dashboard at / and the operators' overview it draws."""

from __future__ import annotations

import re

import pytest

from tests.api.conftest import World

API = "/api/v1"


def test_the_dashboard_page_is_served_with_its_own_plotly(world: World) -> None:
    page = world.client.get("/")
    js = world.client.get("/static/plotly.min.js")

    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert '<script src="/static/plotly.min.js">' in page.text
    assert 'src="http' not in page.text  # nothing fetched from outside: works offline
    assert 'lang="zh"' in page.text and 'lang="en"' in page.text
    assert js.status_code == 200 and len(js.content) > 1_000_000


def test_the_overview_is_for_operators_only(world: World) -> None:
    assert world.client.get(f"{API}/analytics/overview").status_code == 401
    r = world.client.get(f"{API}/analytics/overview", headers=world.as_("merchant_a"))
    assert r.status_code == 403


def test_the_overview_counts_paid_orders_by_field(world: World) -> None:
    buyer = world.as_("buyer")
    for key, body in (
        ("a", {"sku_id": world.a.sku_id, "quantity": 2}),
        (
            "b",
            {"sku_id": world.a.sku_id, "attribution_token": world.creator_token()},
        ),
        ("c", {"sku_id": world.b.sku_id}),  # left unpaid
    ):
        order = world.client.post(
            f"{API}/orders", json=body, headers={**buyer, "Idempotency-Key": key}
        ).json()
        if key != "c":
            world.client.post(
                f"{API}/orders/{order['id']}/pay", headers={**buyer, "Idempotency-Key": f"p{key}"}
            )

    data = world.client.get(f"{API}/analytics/overview", headers=world.as_("operator")).json()

    summary = data["summary"]
    assert summary["orders"] == 2
    # money leaves the API as exact decimal strings
    assert summary["gmv_by_channel_yuan"] == {
        "self_broadcast": "0.00",
        "distribution": "99.00",
        "shelf": "198.00",
    }
    assert [s["name"] for s in data["top_shops"]] == ["A"]
    assert sum(r["orders"] for r in data["daily"]) == 2


def _references(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', html) + re.findall(
        r"""(?:url|spec-url)\s*[:=]\s*['"]([^'"]+)['"]""", html
    )


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/", "/scores"])
def test_the_pages_load_nothing_from_outside_the_app(world: World, path: str) -> None:
    page = world.client.get(path)

    assert page.status_code == 200
    assert re.findall(r"https?://[^\s\"'<>]+", page.text) == []
    for ref in _references(page.text):
        assert ref.startswith("/"), ref  # served by this app
        asset = world.client.get(ref)
        assert asset.status_code == 200, ref
        if ref.endswith(".css"):  # a stylesheet pulls in nothing but inline data
            assert all(u.startswith("data:") for u in _css_urls(asset.text)), ref


def _css_urls(css: str) -> list[str]:
    return [u.strip("'\"") for u in re.findall(r"url\(\s*([^)]+?)\s*\)", css)]


def test_the_docs_name_their_assets_and_serve_no_other_file(world: World) -> None:
    docs, redoc = world.client.get("/docs").text, world.client.get("/redoc").text

    assert "/static/docs/swagger-ui-bundle.js" in docs and "/static/docs/swagger-ui.css" in docs
    assert "/static/docs/redoc.standalone.js" in redoc
    assert '"validatorUrl": null' in docs  # Swagger UI's badge would send the spec outside
    for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        policy = world.client.get(path).headers["content-security-policy"]
        assert "default-src 'self'" in policy and "img-src 'self' data:" in policy
    missing = world.client.get("/static/docs/core.py")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
