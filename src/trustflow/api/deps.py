"""What every route may ask for: a session, the caller, a page window."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader
from sqlalchemy.orm import Session, sessionmaker

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
