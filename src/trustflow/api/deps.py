"""What every route may ask for: a session, the caller, a page window."""

from __future__ import annotations

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
_seen: dict[str, tuple[float, Principal]] = {}


async def get_principal_cached(
    request: Request, api_key: Annotated[str | None, Security(api_key_header)]
) -> Principal:
    """:func:`get_principal` for hot read paths: a key seen in the last
    :data:`PRINCIPAL_TTL` seconds is not looked up again (only keys that authenticated are
    remembered, by digest). A hit costs no thread hop and no database round trip."""
    if not api_key:
        raise Unauthenticated("send your API key in the X-API-Key header")
    digest = hashlib.sha256(api_key.encode()).hexdigest()
    now = time.monotonic()
    hit = _seen.get(digest)
    if hit is not None and now - hit[0] < PRINCIPAL_TTL:
        return hit[1]
    principal = await run_in_threadpool(_authenticate, request, api_key)
    if len(_seen) > 100_000:
        _seen.clear()
    _seen[digest] = (now, principal)
    return principal


def _authenticate(request: Request, api_key: str) -> Principal:
    factory: sessionmaker[Session] = request.app.state.session_factory
    with factory() as session:
        return accounts_service.authenticate(session, api_key)


CachedPrincipalDep = Annotated[Principal, Depends(get_principal_cached)]
