"""The bulk order path's campaign prices and platform coupons under real concurrent
clients, each thread a batch in its own transaction on its own connection: no interleaving
spends past a coupon's or a campaign's budget, or sells past a registration's quantity.

PostgreSQL only (SQLite serialises its writers): skipped locally without
``TRUSTFLOW_TEST_POSTGRES_URL``, never in CI (tests/conftest.py)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.integration.test_concurrency import _run_together
from trustflow.campaigns.models import (
    Campaign,
    CampaignSale,
    ClaimStatus,
    Coupon,
    CouponClaim,
    SaleStatus,
)
from trustflow.db import transaction
from trustflow.orders.models import Checkout, Order, OrderLine

from .test_bulk import claim_all, market, place, platform_coupon, registration_of

pytestmark = pytest.mark.parametrize("engine", ["postgres"], indirect=True)

THREADS, PER_THREAD = 8, 5


def test_batches_racing_for_one_coupon_never_spend_past_its_budget(
    factory: sessionmaker[Session],
) -> None:
    # 40 orders of 198.00 each want 10.00 off; the coupon's budget pays for 12 of them
    with transaction(factory) as s:
        m = market(s, buyers=THREADS * PER_THREAD, units=None, stock=1_000)
        coupon = platform_coupon(s, m, budget_fen=12_500, budget_count=1_000)
        claims = claim_all(s, coupon, m.buyers)

    def batch(t: int) -> list[int]:
        buyers = m.buyers[t * PER_THREAD : (t + 1) * PER_THREAD]
        with transaction(factory) as s:
            placed = place(
                s, buyers, [m.sku] * PER_THREAD, [2] * PER_THREAD, [f"t{t}-{b}" for b in buyers]
            )
        return [int(fen) for fen in placed.discounts.platform_fen.tolist()]

    results = _run_together(THREADS, batch)

    assert not [r for r in results if isinstance(r, Exception)], results
    given = [fen for r in results if not isinstance(r, Exception) for fen in r]
    with factory() as s:
        coupon_row = s.get_one(Coupon, coupon)
        assert 0 < coupon_row.committed_fen <= coupon_row.budget_fen == 12_500
        reserved = s.execute(
            select(func.count(), func.coalesce(func.sum(CouponClaim.amount_fen), 0)).where(
                CouponClaim.coupon_id == coupon, CouponClaim.status == ClaimStatus.RESERVED
            )
        ).one()
        assert tuple(reserved) == (coupon_row.committed_count, coupon_row.committed_fen)
        assert s.get_one(Campaign, m.campaign).subsidy_committed_fen == coupon_row.committed_fen
        # what the orders were given off is what the budget holds, one checkout per use
        assert sum(given) == coupon_row.committed_fen
        assert s.scalar(select(func.sum(Order.platform_discount_fen))) == coupon_row.committed_fen
        assert s.scalar(select(func.count()).select_from(Checkout)) == coupon_row.committed_count
        # every claim the budget did not cover is still the buyer's to use
        unused = s.scalar(
            select(func.count()).where(
                CouponClaim.coupon_id == coupon,
                CouponClaim.status == ClaimStatus.CLAIMED,
                CouponClaim.amount_fen == 0,
                CouponClaim.checkout_id.is_(None),
            )
        )
        assert unused == len(claims) - coupon_row.committed_count
        assert s.scalar(select(func.count()).select_from(Order)) == THREADS * PER_THREAD


def test_batches_racing_for_one_registrations_units_never_sell_past_its_quantity(
    factory: sessionmaker[Session],
) -> None:
    # 8 batches of 5 orders of 2 units: 80 units wanted at the campaign price, 13 registered
    with transaction(factory) as s:
        m = market(s, buyers=THREADS * PER_THREAD, units=13, stock=1_000)

    def batch(t: int) -> list[int]:
        buyers = m.buyers[t * PER_THREAD : (t + 1) * PER_THREAD]
        with transaction(factory) as s:
            placed = place(
                s, buyers, [m.sku] * PER_THREAD, [2] * PER_THREAD, [f"t{t}-{b}" for b in buyers]
            )
        return [int(fen) for fen in placed.discounts.merchant_fen.tolist()]

    results = _run_together(THREADS, batch)

    assert not [r for r in results if isinstance(r, Exception)], results
    given = [fen for r in results if not isinstance(r, Exception) for fen in r]
    with factory() as s:
        registration = registration_of(s, m)
        assert 0 < registration.sold <= registration.quantity == 13
        sales = s.execute(
            select(
                func.count(),
                func.sum(CampaignSale.quantity),
                func.sum(CampaignSale.quantity * CampaignSale.unit_discount_fen),
            ).where(CampaignSale.status == SaleStatus.HELD)
        ).one()
        assert sales[1] == registration.sold
        # each discounted line has its sale, and its discount is the sale's
        discounted = s.scalar(select(func.count()).where(OrderLine.merchant_discount_fen > 0))
        assert sales[0] == discounted == sum(1 for fen in given if fen)
        assert sales[2] == s.scalar(select(func.sum(OrderLine.merchant_discount_fen))) == sum(given)
        assert s.scalar(select(func.count()).select_from(Order)) == THREADS * PER_THREAD
