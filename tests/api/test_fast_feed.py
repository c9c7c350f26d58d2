"""The feed's fast path answers a warm server's plain requests exactly as the route would,
and leaves everything else to the route."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.traffic.serving.test_feed import Market, _key, _market, _plan
from trustflow.accounts.models import Role
from trustflow.api import deps, fast_feed
from trustflow.api.app import create_app
from trustflow.traffic.models import Impression
from trustflow.traffic.schemas import FeedOut
from trustflow.traffic.serving.server import FeedServer

FEED = "/api/v1/feed"


@pytest.fixture
def setup(
    engine: Engine,
    factory: sessionmaker[Session],
    session: Session,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[TestClient, Market, dict[str, str], list[int]]]:
    m = _market(session)
    _plan(session, m)
    key = _key(session, Role.BUYER, m.buyers[1])
    session.close()
    fast: list[int] = []
    answer = fast_feed.FastFeed._answer

    def counted(self: fast_feed.FastFeed, scope: Any) -> bytes | None:
        body = answer(self, scope)
        if body is not None:
            fast.append(1)
        return body

    monkeypatch.setattr(fast_feed.FastFeed, "_answer", counted)
    deps._seen.clear()
    app = create_app(engine)
    app.state.feed_server = FeedServer(factory, flush_seconds=60.0, refresh_seconds=60.0, seed=2)
    with TestClient(app) as client:
        yield client, m, key, fast
    deps._seen.clear()


def test_a_warm_servers_plain_request_is_answered_before_routing(
    setup: tuple[TestClient, Market, dict[str, str], list[int]], session: Session
) -> None:
    client, m, key, fast = setup
    params = {"user_id": m.buyers[1], "surface": "discover", "n": 3}
    first = client.get(FEED, params=params, headers=key)  # the route: a cold server, a new key
    assert first.status_code == 200 and fast == []
    second = client.get(FEED, params=params, headers=key)
    assert second.status_code == 200 and fast == [1]
    for r in (first, second):
        out = FeedOut.model_validate(r.json())
        assert out.user_id == m.buyers[1] and len(out.items) == 2  # both live rooms
        assert set(r.json()) == set(first.json())
        assert r.headers["content-type"] == first.headers["content-type"]
    third = client.get(FEED, params={"user_id": m.buyers[1], "surface": "mall"}, headers=key)
    assert third.status_code == 200 and len(third.json()["items"]) == 3  # n defaults to 10
    client.app.state.feed_server.close()  # type: ignore[attr-defined]
    assert session.scalar(select(func.count()).select_from(Impression)) == 7
    session.rollback()


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("user_id={buyer}&surface=moon", 422, "invalid_input"),
        ("user_id={buyer}&surface=discover&n=0", 422, "invalid_input"),
        ("user_id={buyer}&surface=discover&n=51", 422, "invalid_input"),
        ("user_id=+{buyer}&surface=discover", 200, None),  # pydantic reads it; so does the route
        ("user_id={buyer}&user_id={buyer}&surface=discover", 200, None),
        ("user_id={other}&surface=discover", 403, "forbidden"),
        ("surface=discover", 422, "invalid_input"),
        ("user_id={buyer}&surface=discover&n", 422, "invalid_input"),  # a pair without "="
    ],
)
def test_anything_but_a_plain_allowed_request_goes_to_the_route(
    setup: tuple[TestClient, Market, dict[str, str], list[int]],
    query: str,
    status: int,
    code: str | None,
) -> None:
    client, m, key, fast = setup
    plain = f"{FEED}?user_id={m.buyers[1]}&surface=discover"
    assert client.get(plain, headers=key).status_code == 200  # warm, key remembered
    assert client.get(plain, headers=key).status_code == 200 and fast == [1]
    r = client.get(f"{FEED}?" + query.format(buyer=m.buyers[1], other=m.buyers[0]), headers=key)
    assert r.status_code == status
    if code is not None:
        assert r.json()["error"]["code"] == code
    assert fast == [1]  # the route answered


def test_an_escaped_query_is_decoded_as_the_route_decodes_it(
    setup: tuple[TestClient, Market, dict[str, str], list[int]],
) -> None:
    client, m, key, fast = setup
    plain = f"{FEED}?user_id={m.buyers[1]}&surface=discover"
    assert client.get(plain, headers=key).status_code == 200  # warm, key remembered
    r = client.get(f"{FEED}?user_id={m.buyers[1]}&surface=%64iscover&n=1", headers=key)
    assert r.status_code == 200 and fast == [1]
    out = FeedOut.model_validate(r.json())
    assert out.surface == "discover" and len(out.items) == 1


def test_an_unknown_buyer_is_the_routes_404_and_serves_nothing(
    setup: tuple[TestClient, Market, dict[str, str], list[int]], session: Session
) -> None:
    client, m, _, fast = setup
    operator = _key(session, Role.OPERATOR, None)
    session.close()
    plain = {"user_id": m.buyers[1], "surface": "discover"}
    assert client.get(FEED, params=plain, headers=operator).status_code == 200
    assert client.get(FEED, params=plain, headers=operator).status_code == 200 and fast == [1]
    hole = min(set(range(1, max(m.buyers))) - set(m.buyers), default=None)
    missing = hole if hole is not None else max(m.buyers) + 10**6
    r = client.get(FEED, params={"user_id": missing, "surface": "discover"}, headers=operator)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert fast == [1]


def test_a_failure_on_the_fast_path_leaves_the_request_to_the_route(
    setup: tuple[TestClient, Market, dict[str, str], list[int]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client, m, key, _ = setup
    plain = {"user_id": m.buyers[1], "surface": "discover"}
    assert client.get(FEED, params=plain, headers=key).status_code == 200  # warm

    def broken(raw: bytes) -> list[tuple[str, str]]:
        raise RuntimeError("a bug on the fast path")

    monkeypatch.setattr(fast_feed, "_query", broken)
    r = client.get(FEED, params=plain, headers=key)
    assert r.status_code == 200
    assert FeedOut.model_validate(r.json()).user_id == m.buyers[1]


def test_health_answers_without_a_key(
    setup: tuple[TestClient, Market, dict[str, str], list[int]],
) -> None:
    r = setup[0].get("/api/v1/health")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
