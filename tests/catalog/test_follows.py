"""Shop actions that name a shop: buyers following it, a service provider operating it."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests import factories
from trustflow.accounts import service as accounts_service
from trustflow.accounts.models import Follow
from trustflow.catalog import bulk as catalog_bulk
from trustflow.catalog import service as catalog_service
from trustflow.errors import NotFound

AT = datetime(2025, 3, 1, tzinfo=UTC)
MISSING = 999_999


def test_following_a_shop_twice_keeps_the_first_follow(session: Session) -> None:
    shop = factories.seller(session, category_id=factories.category(session)).shop_id
    buyer = factories.buyer(session)

    first = catalog_service.follow_shop(session, buyer_id=buyer, shop_id=shop, at=AT)
    again = catalog_service.follow_shop(session, buyer_id=buyer, shop_id=shop)

    assert again.id == first.id
    assert (first.shop_id, first.creator_id, first.created_at) == (shop, None, AT)


def test_a_shop_follow_names_a_buyer_and_a_shop_that_exist(session: Session) -> None:
    shop = factories.seller(session, category_id=factories.category(session)).shop_id
    buyer = factories.buyer(session)

    with pytest.raises(NotFound, match=f"buyer {MISSING} not found"):
        catalog_service.follow_shop(session, buyer_id=MISSING, shop_id=MISSING)
    with pytest.raises(NotFound, match=f"shop {MISSING} not found"):
        catalog_service.follow_shop(session, buyer_id=buyer, shop_id=MISSING)
    assert catalog_service.follow_shop(session, buyer_id=buyer, shop_id=shop).buyer_id == buyer


def test_shops_followed_in_bulk_skip_repeats_and_follows_that_exist(session: Session) -> None:
    cat = factories.category(session)
    shops = [factories.seller(session, category_id=cat, name=n).shop_id for n in ("A", "B")]
    buyers = [factories.buyer(session, n) for n in ("one", "two")]
    catalog_service.follow_shop(session, buyer_id=buyers[0], shop_id=shops[0])

    added = catalog_bulk.follow_shops(
        session,
        np.array([buyers[0], buyers[0], buyers[1], buyers[1]]),
        np.array([shops[0], shops[1], shops[1], shops[1]]),
        at=AT,
    )

    assert added == 2
    assert session.scalar(select(func.count()).select_from(Follow)) == 3


def test_shops_followed_in_bulk_are_refused_whole_for_a_missing_shop(session: Session) -> None:
    shop = factories.seller(session, category_id=factories.category(session)).shop_id
    buyer = factories.buyer(session)

    with pytest.raises(NotFound, match=f"shop {MISSING} not found"):
        catalog_bulk.follow_shops(
            session, np.array([buyer, buyer]), np.array([shop, MISSING]), at=AT
        )
    assert session.scalar(select(func.count()).select_from(Follow)) == 0


def test_a_shop_handed_to_a_provider_twice_keeps_one_link(session: Session) -> None:
    shop = factories.seller(session, category_id=factories.category(session)).shop_id
    provider = accounts_service.create_service_provider(session, name="Agency").id

    first = catalog_service.assign_shop_to_provider(
        session, provider_id=provider, shop_id=shop, at=AT
    )
    again = catalog_service.assign_shop_to_provider(session, provider_id=provider, shop_id=shop)

    assert again.id == first.id and first.since == AT
    assert accounts_service.provider_shop_ids(session, provider) == [shop]


def test_a_provider_link_names_a_provider_and_a_shop_that_exist(session: Session) -> None:
    shop = factories.seller(session, category_id=factories.category(session)).shop_id
    provider = accounts_service.create_service_provider(session, name="Agency").id

    with pytest.raises(NotFound, match=f"service provider {MISSING} not found"):
        catalog_service.assign_shop_to_provider(session, provider_id=MISSING, shop_id=shop)
    with pytest.raises(NotFound, match=f"shop {MISSING} not found"):
        catalog_service.assign_shop_to_provider(session, provider_id=provider, shop_id=MISSING)
