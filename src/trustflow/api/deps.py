"""What every route may ask for: a session, the caller, a page window."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from trustflow.accounts import service as accounts_service
from trustflow.accounts.principal import Principal
from trustflow.errors import Unauthenticated

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="tfk_… key")


def get_session(request: Request) -> Iterator[Session]:
    """One session per request. Routes commit explicitly; anything uncommitted rolls back."""
    factory: sessionmaker[Session] = request.app.state.session_factory
    with factory() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def get_principal(
    session: SessionDep, api_key: Annotated[str | None, Security(api_key_header)]
) -> Principal:
    if not api_key:
        raise Unauthenticated("send your API key in the X-API-Key header")
    principal = accounts_service.authenticate(session, api_key)
    session.rollback()  # end the read-only transaction the lookup opened
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


#: How long the hot paths (feed serving) trust a key they have seen, in seconds: a revoked
#: key keeps fetching feeds for at most this long.
PRINCIPAL_TTL = 5.0
#: the clock the cache keeps time by (tests move it)
_clock = time.monotonic
#: keys remembered, by digest: (monotonic time its lookup began, the principal)
_seen: dict[str, tuple[float, Principal]] = {}
#: lookups under way, by digest: concurrent requests with one key share one
_lookups: dict[str, asyncio.Task[Principal | Exception]] = {}


async def get_principal_cached(
    request: Request, api_key: Annotated[str | None, Security(api_key_header)]
) -> Principal:
    """:func:`get_principal` for hot read paths: a key that authenticated in the last
    :data:`PRINCIPAL_TTL` seconds is not looked up again. A hit costs no thread hop and no
    database round trip. Past half its life a remembered key is looked up again in the
    background, so under steady traffic no request waits for a lookup; a miss waits for the
    one lookup of its key under way, however many requests miss at once."""
    if not api_key:
        raise Unauthenticated("send your API key in the X-API-Key header")
    hit = remembered_principal(request, api_key)
    if hit is not None:
        return hit
    found = await _lookup(request, api_key, hashlib.sha256(api_key.encode()).hexdigest())
    if isinstance(found, Unauthenticated):
        raise Unauthenticated(str(found))
    if isinstance(found, Exception):
        raise found
    return found


def remembered_principal(request: Request, api_key: str) -> Principal | None:
    """The principal of a key that authenticated in the last :data:`PRINCIPAL_TTL` seconds,
    else ``None``; past half that life a lookup starts in the background (on the running
    event loop)."""
    digest = hashlib.sha256(api_key.encode()).hexdigest()
    hit = _seen.get(digest)
    if hit is None:
        return None
    age = _clock() - hit[0]
    if age >= PRINCIPAL_TTL:
        return None
    if age > PRINCIPAL_TTL / 2:
        _lookup(request, api_key, digest)
    return hit[1]


def _lookup(request: Request, api_key: str, digest: str) -> asyncio.Task[Principal | Exception]:
    """The lookup of ``digest`` under way, started if there is none. It never raises (a
    lookup in the background has no one to raise to): a key that no longer authenticates is
    forgotten and its error returned; any other failure (the store unreachable) is returned
    and the key stays remembered for the rest of its life."""
    task = _lookups.get(digest)
    if task is not None:
        return task

    async def look_up() -> Principal | Exception:
        began = _clock()
        try:
            principal = await run_in_threadpool(_authenticate, request, api_key)
        except Unauthenticated as exc:
            _seen.pop(digest, None)
            return exc
        except Exception as exc:
            return exc
        finally:
            _lookups.pop(digest, None)
        if len(_seen) > 100_000:
            _seen.clear()
        _seen[digest] = (began, principal)
        return principal

    task = _lookups[digest] = asyncio.get_running_loop().create_task(look_up())
    return task


def _authenticate(request: Request, api_key: str) -> Principal:
    factory: sessionmaker[Session] = request.app.state.session_factory
    with factory() as session:
        return accounts_service.authenticate(session, api_key)


CachedPrincipalDep = Annotated[Principal, Depends(get_principal_cached)]
