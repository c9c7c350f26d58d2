"""Limits at the API's edge: request bodies over the limit get 413 without being read, and
keys and addresses over their rate get 429 with Retry-After, until the window has passed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any

import limits.storage.memory
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.api.conftest import World
from tests.traffic.serving.test_feed import _key as feed_key
from tests.traffic.serving.test_feed import _market as feed_market
from tests.traffic.serving.test_feed import _plan as feed_plan
from trustflow.accounts.models import Role
from trustflow.aftersales.models import ChatThread
from trustflow.api import limits as api_limits
from trustflow.api.app import create_app
from trustflow.config import Settings

LIMIT = 4_096
CHUNK = 1_024
CHATS = "/api/v1/chats"


@dataclass
class Answer:
    status: int
    headers: dict[bytes, bytes]
    body: bytes
    chunks_read: int  # of the request body, as the server was asked for them


@dataclass
class Clock:
    """The time the rate limiter keeps: ``limits``' memory storage and the Retry-After."""

    now: float = 1_000_000.0

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    moved = Clock()
    monkeypatch.setattr(limits.storage.memory, "time", moved)
    monkeypatch.setattr(api_limits, "_clock", moved.time)
    return moved


def _call(
    app: FastAPI, method: str, path: str, headers: list[tuple[bytes, bytes]], chunks: int
) -> Answer:
    """One request straight through the ASGI app, its body ``chunks`` × 1 KiB handed out one
    chunk at a time as the app asks for them (as a server streams a chunked body)."""
    read = 0
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> MutableMapping[str, Any]:
        nonlocal read
        if read == chunks:
            return {"type": "http.disconnect"}
        read += 1
        return {"type": "http.request", "body": b"x" * CHUNK, "more_body": read < chunks}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "scheme": "http",
        "query_string": b"",
        "headers": headers,
        "client": ("203.0.113.7", 50000),
        "server": ("testserver", 80),
    }
    asyncio.run(asyncio.wait_for(app(scope, receive, send), 30))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return Answer(start["status"], dict(start["headers"]), body, read)


def _error(answer: Answer) -> dict[str, Any]:
    error: dict[str, Any] = json.loads(answer.body)["error"]
    return error


def _chats(factory: sessionmaker[Session]) -> int:
    with factory() as s:
        return int(s.scalar(select(func.count()).select_from(ChatThread)) or 0)


def test_a_declared_body_over_the_limit_is_refused_before_it_is_read(
    world: World, engine: Engine, factory: sessionmaker[Session]
) -> None:
    app = create_app(engine, Settings(max_body_bytes=LIMIT))
    chunks = 300  # 300 KiB declared, no key at all
    answer = _call(
        app,
        "POST",
        CHATS,
        [(b"content-type", b"application/json"), (b"content-length", b"%d" % (chunks * CHUNK))],
        chunks,
    )
    assert answer.status == 413
    assert _error(answer)["code"] == "body_too_large"
    assert _error(answer)["details"] == {"limit_bytes": LIMIT}
    assert answer.chunks_read == 0
    assert answer.headers[b"connection"] == b"close"


def test_a_streamed_body_is_cut_at_the_limit(
    world: World, engine: Engine, factory: sessionmaker[Session]
) -> None:
    app = create_app(engine, Settings(max_body_bytes=LIMIT))
    chunks = 300  # 300 KiB, chunked: no length to refuse it by
    headers = [
        (b"content-type", b"application/json"),
        (b"transfer-encoding", b"chunked"),
        (b"x-api-key", world.keys["buyer"].encode()),
    ]
    answer = _call(app, "POST", CHATS, headers, chunks)
    assert answer.status == 413
    assert _error(answer)["code"] == "body_too_large"
    assert answer.chunks_read == LIMIT // CHUNK + 1  # the chunk that crossed the limit, no more
    assert _chats(factory) == 0


def test_a_body_within_the_limit_is_served(world: World, engine: Engine) -> None:
    with TestClient(create_app(engine, Settings(max_body_bytes=LIMIT))) as client:
        r = client.post(CHATS, json={"shop_id": world.b.shop_id}, headers=world.as_("buyer"))
    assert r.status_code == 201


@pytest.fixture
def limited(world: World, engine: Engine, clock: Clock) -> Iterator[TestClient]:
    settings = Settings(
        rate_limit_writes_per_minute=3,
        rate_limit_reads_per_minute=4,
        rate_limit_anonymous_per_minute=2,
    )
    with TestClient(create_app(engine, settings)) as client:
        yield client


def _chat(client: TestClient, world: World, who: str) -> Any:
    return client.post(CHATS, json={"shop_id": world.b.shop_id}, headers=world.as_(who))


def test_writes_over_the_keys_limit_wait_for_the_window(
    limited: TestClient, world: World, clock: Clock, factory: sessionmaker[Session]
) -> None:
    assert [_chat(limited, world, "buyer").status_code for _ in range(3)] == [201] * 3
    refused = _chat(limited, world, "buyer")
    assert refused.status_code == 429
    retry_after = int(refused.headers["retry-after"])
    assert 60 <= retry_after <= 61  # the minute's window, in whole seconds
    error = refused.json()["error"]
    assert error["code"] == "rate_limited"
    assert error["details"]["limit"] == 3
    assert error["details"]["window_seconds"] == 60
    assert error["details"]["counted"] == "writes per API key"
    assert _chats(factory) == 3  # the refused one wrote nothing

    # another key is not affected, and the same key still reads
    assert _chat(limited, world, "other_buyer").status_code == 201
    assert limited.get(f"/api/v1/chats/{1}", headers=world.as_("buyer")).status_code == 200

    assert error["details"]["retry_after_seconds"] == retry_after

    # half a second before the end of the wait: still refused, with one more second to wait
    # (exactly at the window's end the storage may already have let the oldest request go)
    clock.now += retry_after - 1.5
    later = _chat(limited, world, "buyer")
    assert later.status_code == 429 and later.headers["retry-after"] == "1"
    clock.now += 1.5  # as told
    assert _chat(limited, world, "buyer").status_code == 201
    assert _chats(factory) == 5


def test_reads_have_their_own_limit(limited: TestClient, world: World) -> None:
    reads = [limited.get("/api/v1/orders", headers=world.as_("buyer")) for _ in range(5)]
    assert [r.status_code for r in reads] == [200] * 4 + [429]
    assert reads[-1].json()["error"]["details"]["counted"] == "reads per API key"
    assert _chat(limited, world, "buyer").status_code == 201  # writes are counted apart


def test_the_feed_is_not_counted_against_the_key(
    engine: Engine, session: Session, clock: Clock
) -> None:
    market = feed_market(session)
    feed_plan(session, market)
    key = feed_key(session, Role.BUYER, market.buyers[1])
    session.close()
    settings = Settings(rate_limit_reads_per_minute=2)
    with TestClient(create_app(engine, settings)) as client:
        params: dict[str, str | int] = {"user_id": market.buyers[1], "surface": "discover"}
        feeds = [client.get("/api/v1/feed", params=params, headers=key) for _ in range(10)]
        assert [r.status_code for r in feeds] == [200] * 10
        reads = [client.get("/api/v1/orders", headers=key) for _ in range(3)]
        assert [r.status_code for r in reads] == [200, 200, 429]


def test_requests_without_a_working_key_are_limited_by_address(
    limited: TestClient, world: World, clock: Clock
) -> None:
    assert _chat(limited, world, "buyer").status_code == 201  # a key known to work
    bad = {"X-API-Key": "tfk_not-a-key"}
    answers = [limited.post(CHATS, json={"shop_id": 1}, headers=bad) for _ in range(2)]
    assert [r.status_code for r in answers] == [401, 401]
    assert limited.post(CHATS, json={"shop_id": 1}, headers=bad).status_code == 429
    assert limited.get("/api/v1/orders").status_code == 429  # no key: the same address
    refused = limited.post(CHATS, json={"shop_id": 1}, headers={"X-API-Key": "tfk_another"})
    assert refused.status_code == 429
    assert refused.json()["error"]["details"]["counted"] == "anonymous per client address"
    # the working key from that address is served; health checks are never counted
    assert _chat(limited, world, "buyer").status_code == 201
    assert {limited.get("/api/v1/health").status_code for _ in range(5)} == {200}
    clock.now += 60
    assert limited.post(CHATS, json={"shop_id": 1}, headers=bad).status_code == 401
