"""API keys: a key says who is asking, a changed or revoked key says no one, and the store
never holds a secret it could leak."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import buyer
from trustflow.accounts import service as accounts
from trustflow.accounts.models import ApiKey, Role
from trustflow.errors import InvalidInput, NotFound, Unauthenticated


def test_a_key_authenticates_as_its_subject_and_only_as_it(session: Session) -> None:
    buyer_id = buyer(session)
    key, raw = accounts.create_api_key(session, role=Role.BUYER, subject_id=buyer_id)

    principal = accounts.authenticate(session, raw)

    assert (principal.role, principal.subject_id, principal.key_id) == (
        Role.BUYER,
        buyer_id,
        key.id,
    )
    last = raw[-1]
    tampered = raw[:-1] + ("A" if last != "A" else "B")
    with pytest.raises(Unauthenticated):
        accounts.authenticate(session, tampered)
    with pytest.raises(Unauthenticated):
        accounts.authenticate(session, raw.replace("tfk_", "xyz_", 1))


def test_a_revoked_key_no_longer_authenticates(session: Session) -> None:
    key, raw = accounts.create_api_key(session, role=Role.OPERATOR, subject_id=None)
    accounts.revoke_api_key(session, key_id=key.id)

    with pytest.raises(Unauthenticated):
        accounts.authenticate(session, raw)


def test_the_store_keeps_a_digest_not_the_secret(session: Session) -> None:
    _, raw = accounts.create_api_key(session, role=Role.OPERATOR, subject_id=None)
    secret = raw.split("_", 2)[2]

    row = session.execute(select(ApiKey.__table__)).one()

    assert all(secret not in str(value) for value in row)


def test_a_key_for_a_subject_needs_that_subject(session: Session) -> None:
    with pytest.raises(InvalidInput):
        accounts.create_api_key(session, role=Role.MERCHANT, subject_id=None)
    with pytest.raises(NotFound):
        accounts.create_api_key(session, role=Role.CREATOR, subject_id=999_999)
