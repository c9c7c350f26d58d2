"""Creating a campaign or a coupon once: an operator's or a merchant's double submit, or a
script's retry, with the same ``Idempotency-Key`` gets the first one back, never a second
budget. The key is the creator's own (unique per ``created_by``); the same key with another
request is refused (``idempotency_key_reused``)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from trustflow.campaigns.models import Campaign, Coupon
from trustflow.errors import Conflict, ErrorCode

__all__ = ["create_once", "fingerprint"]

Created = TypeVar("Created", Campaign, Coupon)


def fingerprint(spec: Any) -> str:
    """The request a key was used for: a digest of the spec's fields (a dataclass)."""
    return hashlib.sha256(repr(sorted(asdict(spec).items())).encode()).hexdigest()


def create_once(
    session: Session,
    model: type[Created],
    *,
    actor: str,
    key: str | None,
    digest: str,
    create: Callable[[], Created],
) -> tuple[Created, bool]:
    """``create()`` unless ``actor`` created one with ``key`` before: then that one, and
    False. ``create`` stamps the key and digest on what it makes (and flushes). A concurrent
    retry that loses the race to the unique key gets the winner's."""
    if key is None:
        return create(), True
    found = _found(session, model, actor, key, digest)
    if found is not None:
        return found, False
    try:
        with session.begin_nested():
            return create(), True
    except IntegrityError:
        found = _found(session, model, actor, key, digest)
        if found is None:
            raise
        return found, False


def _found(
    session: Session, model: type[Created], actor: str, key: str, digest: str
) -> Created | None:
    existing = session.scalar(
        select(model).where(model.created_by == actor, model.idempotency_key == key)
    )
    if existing is not None and existing.request_hash != digest:
        raise Conflict(
            f"this idempotency key was used for another {model.__tablename__[:-1]}",
            code=ErrorCode.IDEMPOTENCY_KEY_REUSED,
            id=existing.id,
        )
    return existing
