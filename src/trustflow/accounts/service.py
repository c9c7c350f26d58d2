"""Accounts: create participants, issue and check API keys, follow creators and unfollow.

Following a shop and linking a shop to a service provider name a shop, so those actions are
catalog's (:mod:`trustflow.catalog.service`); they store their rows in this context's models."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from trustflow.accounts.models import (
    ApiKey,
    Buyer,
    Creator,
    Follow,
    Merchant,
    Role,
    ServiceProvider,
    ServiceProviderShop,
)
from trustflow.accounts.principal import Principal
from trustflow.bulk import rowcount
from trustflow.db import get_or_raise, utcnow
from trustflow.errors import InvalidInput, NotFound, Unauthenticated

__all__ = [
    "authenticate",
    "create_api_key",
    "create_buyer",
    "create_creator",
    "create_merchant",
    "create_service_provider",
    "follow_creator",
    "get_buyer",
    "get_creator",
    "get_merchant",
    "get_service_provider",
    "provider_shop_ids",
    "record_follow",
    "revoke_api_key",
    "set_buyer_region",
    "unfollow",
]

KEY_SCHEME = "tfk"

_SUBJECT_TABLE: dict[Role, type[Merchant | Creator | Buyer | ServiceProvider]] = {
    Role.MERCHANT: Merchant,
    Role.CREATOR: Creator,
    Role.BUYER: Buyer,
    Role.SERVICE_PROVIDER: ServiceProvider,
}


def _hash_secret(secret: str) -> str:
    # Keys are 256-bit random secrets, so a fast digest is safe (no dictionary to guess from).
    return hashlib.sha256(secret.encode()).hexdigest()


def create_merchant(session: Session, *, name: str) -> Merchant:
    merchant = Merchant(name=name)
    session.add(merchant)
    session.flush()
    return merchant


def create_creator(session: Session, *, name: str, fans: int = 0) -> Creator:
    creator = Creator(name=name, fans=fans)
    session.add(creator)
    session.flush()
    return creator


def create_buyer(session: Session, *, name: str, region: str | None = None) -> Buyer:
    buyer = Buyer(name=name, region=region)
    session.add(buyer)
    session.flush()
    return buyer


def set_buyer_region(session: Session, *, buyer_id: int, region: str | None) -> Buyer:
    """Where the buyer's parcels go from now on (orders placed keep their destination)."""
    buyer = get_buyer(session, buyer_id)
    buyer.region = region
    session.flush()
    return buyer


def create_service_provider(session: Session, *, name: str) -> ServiceProvider:
    provider = ServiceProvider(name=name)
    session.add(provider)
    session.flush()
    return provider


def get_merchant(session: Session, merchant_id: int) -> Merchant:
    return get_or_raise(session, Merchant, merchant_id, "merchant")


def get_creator(session: Session, creator_id: int) -> Creator:
    return get_or_raise(session, Creator, creator_id, "creator")


def get_buyer(session: Session, buyer_id: int) -> Buyer:
    return get_or_raise(session, Buyer, buyer_id, "buyer")


def get_service_provider(session: Session, provider_id: int) -> ServiceProvider:
    return get_or_raise(session, ServiceProvider, provider_id, "service provider")


def provider_shop_ids(session: Session, provider_id: int) -> list[int]:
    return list(
        session.scalars(
            select(ServiceProviderShop.shop_id).where(
                ServiceProviderShop.provider_id == provider_id,
                ServiceProviderShop.until.is_(None),
            )
        )
    )


def create_api_key(
    session: Session, *, role: Role, subject_id: int | None, label: str = ""
) -> tuple[ApiKey, str]:
    """Issue a key; return it with its secret, which is never stored and never shown again."""
    if role is Role.OPERATOR:
        subject_id = None
    else:
        if subject_id is None:
            raise InvalidInput(f"a {role.value} key needs a subject_id")
        model = _SUBJECT_TABLE[role]
        if session.get(model, subject_id) is None:
            raise NotFound(f"{role.value} {subject_id} not found")
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    key = ApiKey(
        prefix=prefix,
        secret_hash=_hash_secret(secret),
        role=role,
        subject_id=subject_id,
        label=label,
    )
    session.add(key)
    session.flush()
    return key, f"{KEY_SCHEME}_{prefix}_{secret}"


def revoke_api_key(session: Session, *, key_id: int) -> ApiKey:
    key = session.get(ApiKey, key_id)
    if key is None:
        raise NotFound(f"api key {key_id} not found")
    key.revoked = True
    session.flush()
    return key


def authenticate(session: Session, raw_key: str) -> Principal:
    """The principal behind a presented key, or :class:`Unauthenticated`."""
    parts = raw_key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_SCHEME:
        raise Unauthenticated("malformed API key")
    key = session.scalar(select(ApiKey).where(ApiKey.prefix == parts[1]))
    if (
        key is None
        or key.revoked
        or not hmac.compare_digest(key.secret_hash, _hash_secret(parts[2]))
    ):
        raise Unauthenticated("unknown or revoked API key")
    return Principal(role=key.role, subject_id=key.subject_id, key_id=key.id)


def follow_creator(
    session: Session, *, buyer_id: int, creator_id: int, at: datetime | None = None
) -> Follow:
    """Follow a creator. Following twice is harmless: the first follow is returned."""
    get_buyer(session, buyer_id)
    get_creator(session, creator_id)
    return record_follow(session, buyer_id=buyer_id, creator_id=creator_id, at=at)


def record_follow(
    session: Session,
    *,
    buyer_id: int,
    creator_id: int | None = None,
    shop_id: int | None = None,
    at: datetime | None = None,
) -> Follow:
    """Store a buyer's follow of exactly one creator or one shop, both of which the caller has
    found (:func:`follow_creator`, :func:`trustflow.catalog.service.follow_shop`). A follow
    already stored is returned."""
    existing = session.scalar(
        select(Follow).where(
            Follow.buyer_id == buyer_id,
            Follow.creator_id.is_(None) if creator_id is None else Follow.creator_id == creator_id,
            Follow.shop_id.is_(None) if shop_id is None else Follow.shop_id == shop_id,
        )
    )
    if existing is not None:
        return existing
    row = Follow(
        buyer_id=buyer_id, creator_id=creator_id, shop_id=shop_id, created_at=at or utcnow()
    )
    session.add(row)
    session.flush()
    return row


def unfollow(session: Session, *, buyer_id: int, follow_id: int) -> None:
    result = session.execute(
        delete(Follow).where(Follow.id == follow_id, Follow.buyer_id == buyer_id)
    )
    if rowcount(result) == 0:
        raise NotFound(f"follow {follow_id} not found")
