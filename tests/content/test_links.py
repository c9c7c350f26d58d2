"""Content links only what its host may: the service and the bulk path give the same answer."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests import factories
from trustflow.catalog import service as catalog_service
from trustflow.content import bulk as content_bulk
from trustflow.content import service as content_service
from trustflow.content.models import LiveSession
from trustflow.errors import ErrorCode, TrustflowError

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


@pytest.fixture
def shops(session: Session) -> tuple[factories.Seller, factories.Seller, int, int]:
    """Shops A and B (each with a listed product), B's draft, and a creator."""
    cat = factories.category(session)
    a = factories.seller(session, category_id=cat, name="A")
    b = factories.seller(session, category_id=cat, name="B")
    draft = catalog_service.create_product(session, shop_id=b.shop_id, title="B's draft").id
    creator, _ = factories.creator_selling(session, b.product_id)
    session.commit()
    return a, b, draft, creator


def _lives(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(LiveSession)) or 0)


def _both_paths(
    session: Session, creator_id: int, shop_id: int, product_ids: list[int]
) -> tuple[ErrorCode | None, ErrorCode | None]:
    """The code each path refuses with (None: accepted), with nothing kept either way."""

    def code(act: Callable[[], object]) -> ErrorCode | None:
        try:
            act()
        except TrustflowError as refused:
            return refused.code
        finally:
            session.rollback()
        return None

    one = code(
        lambda: content_service.schedule_live(
            session,
            creator_id=creator_id or None,
            shop_id=shop_id or None,
            product_ids=product_ids,
        )
    )
    many = code(
        lambda: content_bulk.go_live(
            session, np.array([creator_id]), np.array([shop_id]), [product_ids], at=T0
        )
    )
    return one, many


@pytest.mark.parametrize(
    ("host", "link", "expected"),
    [
        ("shop A", "A's product", None),
        ("shop A", "B's product", ErrorCode.PRODUCT_NOT_IN_SHOP),
        ("shop A", "B's draft", ErrorCode.NOT_FOUND),
        ("creator", "B's product", None),
        ("creator", "B's draft", ErrorCode.NOT_FOUND),
        ("shop B", "B's draft", None),
    ],
)
def test_the_bulk_path_links_what_the_service_links(
    session: Session,
    shops: tuple[factories.Seller, factories.Seller, int, int],
    host: str,
    link: str,
    expected: ErrorCode | None,
) -> None:
    a, b, draft, creator = shops
    hosts = {"shop A": (0, a.shop_id), "shop B": (0, b.shop_id), "creator": (creator, 0)}
    links = {"A's product": a.product_id, "B's product": b.product_id, "B's draft": draft}
    before = _lives(session)

    assert _both_paths(session, *hosts[host], [links[link]]) == (expected, expected)
    assert _lives(session) == before
