"""The fast-brand plan's growth stages: fans put each fast brand in a stage, at the plan's
boundaries, and the report lists active fast brands only, most followed first."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from tests import factories
from trustflow.accounts.models import Follow
from trustflow.campaigns import fast_brands, rules
from trustflow.catalog import service as catalog_service
from trustflow.catalog.models import ShopStatus


@pytest.mark.parametrize(
    ("fans", "stage"),
    [
        (0, "seed"),
        (99_999, "seed"),
        (100_000, "growing"),
        (999_999, "growing"),
        (1_000_000, "rising"),
        (4_999_999, "rising"),
        (5_000_000, "leading"),
    ],
)
def test_the_stage_boundaries_are_the_plans(fans: int, stage: str) -> None:
    assert rules.fast_brand_stage(fans) == stage


def test_the_report_counts_each_fast_brands_followers(session: Session) -> None:
    category = factories.category(session)
    quiet = factories.seller(session, category_id=category, name="Quiet")
    loved = factories.seller(session, category_id=category, name="Loved")
    closed = factories.seller(session, category_id=category, name="Closed")
    buyers = [factories.buyer(session, f"b{i}") for i in range(3)]
    session.add_all(
        [Follow(buyer_id=b, shop_id=loved.shop_id) for b in buyers]
        + [Follow(buyer_id=buyers[0], shop_id=closed.shop_id)]
    )
    catalog_service.set_shop_status(session, shop_id=closed.shop_id, status=ShopStatus.CLOSED)
    session.flush()

    report = fast_brands.fast_brands(session)

    assert [(b.shop_id, b.fans, b.stage) for b in report] == [
        (loved.shop_id, 3, "seed"),
        (quiet.shop_id, 0, "seed"),
    ]
