"""The feed's cached authentication: revoked keys stop within the cache's life, and many
requests that miss at once share one lookup."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from trustflow.accounts.models import Role
from trustflow.accounts.principal import Principal
from trustflow.api import deps
from trustflow.errors import Unauthenticated

from .conftest import World

API = "/api/v1"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    fake = Clock()
    monkeypatch.setattr(deps, "_clock", fake)
    deps._seen.clear()
    yield fake
    deps._seen.clear()


def _feed(world: World, key: str) -> int:
    """Status of a feed request: 401 unauthenticated, else past authentication (there is no
    plan here, so 404)."""
    r = world.client.get(
        f"{API}/feed",
        params={"user_id": world.buyer_id, "surface": "discover"},
        headers={"X-API-Key": key},
    )
    return r.status_code


def _new_buyer_key(world: World) -> tuple[int, str]:
    r = world.client.post(
        f"{API}/keys",
        json={"role": "buyer", "subject_id": world.buyer_id},
        headers=world.as_("operator"),
    )
    return r.json()["id"], r.json()["key"]


def _revoke(world: World, key_id: int) -> None:
    r = world.client.post(f"{API}/keys/{key_id}/revoke", headers=world.as_("operator"))
    assert r.status_code == 200


def test_a_revoked_key_is_refused_once_its_cache_entry_expires(world: World, clock: Clock) -> None:
    key_id, key = _new_buyer_key(world)
    assert _feed(world, key) == 404
    _revoke(world, key_id)
    clock.now += deps.PRINCIPAL_TTL * 0.4
    assert _feed(world, key) == 404  # still trusted: seen less than the cache's life ago
    clock.now += deps.PRINCIPAL_TTL
    assert _feed(world, key) == 401


def test_past_half_its_life_a_key_is_checked_again_in_the_background(
    world: World, clock: Clock
) -> None:
    key_id, key = _new_buyer_key(world)
    assert _feed(world, key) == 404
    _revoke(world, key_id)
    clock.now += deps.PRINCIPAL_TTL * 0.6
    assert _feed(world, key) == 404  # answered from the cache, which starts a lookup ...

    async def settled() -> None:
        for lookup in list(deps._lookups.values()):
            await lookup

    world.client.portal.call(settled)  # type: ignore[union-attr]
    assert _feed(world, key) == 401  # ... that found the key revoked: well within its life
    assert _feed(world, "tfk_bad_key") == 401


def test_requests_that_miss_together_share_one_lookup(
    monkeypatch: pytest.MonkeyPatch, clock: Clock
) -> None:
    calls: list[str] = []
    release = threading.Event()

    def authenticate(_: Any, api_key: str) -> Principal:
        calls.append(api_key)
        release.wait(timeout=10)
        if api_key == "bad":
            raise Unauthenticated("unknown or revoked API key")
        return Principal(role=Role.BUYER, subject_id=7)

    monkeypatch.setattr(deps, "_authenticate", authenticate)
    request: Any = SimpleNamespace()

    async def many(key: str) -> list[Principal | BaseException]:
        waiting = [
            asyncio.ensure_future(deps.get_principal_cached(request, key)) for _ in range(20)
        ]
        await asyncio.sleep(0)  # all twenty are waiting now
        release.set()
        return await asyncio.gather(*waiting, return_exceptions=True)

    found = asyncio.run(many("good"))
    assert calls == ["good"]
    assert all(p == Principal(role=Role.BUYER, subject_id=7) for p in found)

    calls.clear()
    release.clear()
    refused = asyncio.run(many("bad"))
    assert calls == ["bad"]
    assert all(isinstance(e, Unauthenticated) for e in refused)


def test_a_failed_lookup_reaches_the_request_waiting_and_keeps_a_remembered_key(
    monkeypatch: pytest.MonkeyPatch, clock: Clock
) -> None:
    down = threading.Event()

    def authenticate(_: Any, api_key: str) -> Principal:
        if down.is_set():
            raise ConnectionError("the store is unreachable")
        return Principal(role=Role.BUYER, subject_id=7)

    monkeypatch.setattr(deps, "_authenticate", authenticate)
    request: Any = SimpleNamespace()
    known = Principal(role=Role.BUYER, subject_id=7)

    async def scenario() -> None:
        assert await deps.get_principal_cached(request, "key") == known
        down.set()
        clock.now += deps.PRINCIPAL_TTL * 0.6  # a background lookup starts, and fails
        assert await deps.get_principal_cached(request, "key") == known
        for lookup in list(deps._lookups.values()):
            assert isinstance(await lookup, ConnectionError)
        assert await deps.get_principal_cached(request, "key") == known  # still remembered
        clock.now += deps.PRINCIPAL_TTL
        with pytest.raises(ConnectionError):  # expired: the request waits, and sees why
            await deps.get_principal_cached(request, "key")

    asyncio.run(scenario())
