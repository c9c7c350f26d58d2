from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests import factories
from trustflow.accounts import service as accounts_service
from trustflow.accounts.models import Role
from trustflow.api.app import create_app
from trustflow.db import session_factory, transaction, utcnow
from trustflow.orders.attribution import Attribution, TokenSigner
from trustflow.vocabulary import Channel


@dataclass
class World:
    """Two merchants with a shop each, a buyer, a second buyer, a creator and an operator."""

    client: TestClient
    keys: dict[str, str]
    a: factories.Seller
    b: factories.Seller
    buyer_id: int
    other_buyer_id: int
    creator_id: int
    category_id: int

    def as_(self, who: str) -> dict[str, str]:
        return {"X-API-Key": self.keys[who]}

    def creator_token(self, buyer_id: int | None = None, **fields: Any) -> str:
        """An attribution token the server would hand ``buyer_id`` (default: the buyer) in
        the creator's room: a distribution sale of the creator's."""
        signer: TokenSigner = self.client.app.state.token_signer  # type: ignore[attr-defined]
        return signer.issue(
            Attribution(
                **{
                    "buyer_id": buyer_id or self.buyer_id,
                    "channel": Channel.DISTRIBUTION,
                    "creator_id": self.creator_id,
                    "expires_at": utcnow() + signer.lifetime,
                    **fields,
                }
            )
        )


@pytest.fixture
def world(engine: Engine) -> Iterator[World]:
    factory = session_factory(engine)
    with transaction(factory) as s:
        cat = factories.category(s)
        a = factories.seller(s, category_id=cat, name="A", stock=10)
        b = factories.seller(s, category_id=cat, name="B", stock=10)
        buyer = factories.buyer(s, "buyer")
        other = factories.buyer(s, "other")
        creator, _ = factories.creator_selling(s, a.product_id, commission_bps=1500)
        keys = {
            "operator": accounts_service.create_api_key(s, role=Role.OPERATOR, subject_id=None)[1],
            "merchant_a": accounts_service.create_api_key(
                s, role=Role.MERCHANT, subject_id=a.merchant_id
            )[1],
            "merchant_b": accounts_service.create_api_key(
                s, role=Role.MERCHANT, subject_id=b.merchant_id
            )[1],
            "buyer": accounts_service.create_api_key(s, role=Role.BUYER, subject_id=buyer)[1],
            "other_buyer": accounts_service.create_api_key(s, role=Role.BUYER, subject_id=other)[1],
            "creator": accounts_service.create_api_key(s, role=Role.CREATOR, subject_id=creator)[1],
        }
    with TestClient(create_app(engine), raise_server_exceptions=False) as client:
        yield World(client, keys, a, b, buyer, other, creator, cat)
