"""Product subsidies under real concurrent clients, each thread its own connection: a shop's
cap and a campaign's budget are never passed, and checkouts taking subsidies of two shops in
either cart order, with a campaign-paid coupon or not, never wait on each other in a circle."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests import factories
from tests.integration.test_concurrency import _run_together
from trustflow.campaigns import checkout as campaign_checkout
from trustflow.campaigns import coupons, subsidies
from trustflow.campaigns.models import (
    Campaign,
    CampaignRegistration,
    CampaignSale,
    CampaignShopSubsidy,
    ClaimStatus,
    CouponClaim,
)
from trustflow.db import transaction
from trustflow.errors import Conflict, ErrorCode
from trustflow.orders import checkout as orders_checkout
from trustflow.orders import service as orders_service
from trustflow.orders.models import Checkout

from .setup import MAIN, REGISTERED, approved_offer, festival, listed_seller
from .test_coupons import spec


def _subsidised_seller(s: Session, campaign: int, name: str, category: int) -> factories.Seller:
    """A shop selling at 99.00 (stock 200), registered at 79.00 with 10.00 of subsidy."""
    seller = listed_seller(s, name, category=category, stock=200)
    approved_offer(s, campaign, seller, quantity=200, subsidy=1_000)
    return seller


def test_a_hundred_checkouts_against_a_shop_cap_for_thirty_subsidise_thirty(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as s:
        campaign = festival(s, subsidy_budget_fen=1_000_000)
        seller = _subsidised_seller(s, campaign, "Shop", factories.category(s))
        subsidies.set_shop_cap(
            s,
            campaign_id=campaign,
            shop_id=seller.shop_id,
            cap_fen=30 * 1_000,
            reason="cap",
            actor="op",
            at=REGISTERED,
        )
        buyers = [factories.buyer(s, f"b{i}") for i in range(100)]

    def buy(i: int) -> int:
        with transaction(factory) as s:
            return campaign_checkout.place_with_coupons(
                s,
                buyer_id=buyers[i],
                items=[orders_checkout.CheckoutItem(seller.sku_id, 1)],
                claim_ids=[],
                idempotency_key="k",
                at=MAIN,
            ).paid_amount_fen

    paid = _run_together(100, buy)

    # every buyer bought at the campaign price; thirty had 10.00 of it paid by the platform
    assert sorted(paid) == [6_900] * 30 + [7_900] * 70  # type: ignore[type-var]
    with factory() as s:
        assert s.get_one(CampaignShopSubsidy, (campaign, seller.shop_id)).committed_fen == 30_000
        assert s.get_one(Campaign, campaign).subsidy_committed_fen == 30_000


def test_subsidies_of_two_shops_in_either_cart_order_and_coupons_share_a_budget_exactly(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as s:
        campaign = festival(s, subsidy_budget_fen=50 * 1_000)
        category = factories.category(s)
        shops = [_subsidised_seller(s, campaign, name, category) for name in ("A", "B")]
        plain = factories.seller(s, category_id=category, stock=200, name="C")
        coupon = coupons.create_coupon(
            s,
            spec(
                valid_from=MAIN - timedelta(days=1),
                threshold_fen=10_000,
                amount_fen=1_000,
                budget_fen=10**6,
                budget_count=10**6,
                campaign_id=campaign,
            ),
            actor="op",
        ).id
        buyers = [factories.buyer(s, f"b{i}") for i in range(40)]
        claims = [
            coupons.claim_coupon(s, coupon_id=coupon, buyer_id=b, idempotency_key="k", at=MAIN).id
            for b in buyers
        ]

    def buy(i: int) -> int:
        # A then B with the coupon; B then A without; B then A with it; the coupon alone on
        # goods no campaign subsidises
        carts = [(shops, True), (shops[::-1], False), (shops[::-1], True), ([plain], True)]
        sellers, couponed = carts[i % 4]
        with transaction(factory) as s:
            return campaign_checkout.place_with_coupons(
                s,
                buyer_id=buyers[i],
                items=[
                    orders_checkout.CheckoutItem(seller.sku_id, 2 // len(sellers))
                    for seller in sellers
                ],
                claim_ids=[claims[i]] if couponed else [],
                idempotency_key="k",
                at=MAIN,
            ).id

    results = _run_together(40, buy)

    # no checkout failed but by the rule that a coupon the budget cannot pay refuses it (no
    # two waited on each other in a circle: the database would have aborted one)
    refused = [r for r in results if isinstance(r, Exception)]
    assert all(
        isinstance(r, Conflict) and r.code is ErrorCode.CAMPAIGN_SUBSIDY_EXHAUSTED for r in refused
    ), refused
    with factory() as s:
        held_by_sales = s.scalar(
            select(func.sum(CampaignSale.unit_subsidy_fen * CampaignSale.quantity))
        )
        held_by_claims = s.scalar(
            select(func.coalesce(func.sum(CouponClaim.amount_fen), 0)).where(
                CouponClaim.status == ClaimStatus.RESERVED
            )
        )
        committed = s.get_one(Campaign, campaign).subsidy_committed_fen
        assert committed == held_by_sales + held_by_claims
        assert committed == 50_000  # the budget, spent to the fen: 20.00 or 30.00 a cart
        for seller in shops:
            row = s.get_one(CampaignShopSubsidy, (campaign, seller.shop_id))
            from_sales = s.scalar(
                select(func.sum(CampaignSale.unit_subsidy_fen * CampaignSale.quantity))
                .join(CampaignRegistration)
                .where(CampaignRegistration.shop_id == seller.shop_id)
            )
            assert row.committed_fen == from_sales
        placed = s.scalar(select(func.count()).select_from(Checkout))
        assert placed == len(results) - len(refused)


def test_the_settling_job_beside_checkouts_gives_back_and_takes_without_a_deadlock(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as s:
        campaign = festival(s, subsidy_budget_fen=1_000_000)
        category = factories.category(s)
        shops = [_subsidised_seller(s, campaign, name, category) for name in ("A", "B")]
        buyers = [factories.buyer(s, f"b{i}") for i in range(30)]
    # ten carts of both shops, placed and then cancelled: the job gives their subsidy back
    with transaction(factory) as s:
        for i in range(10):
            placed = campaign_checkout.place_with_coupons(
                s,
                buyer_id=buyers[i],
                items=[orders_checkout.CheckoutItem(seller.sku_id, 1) for seller in shops],
                claim_ids=[],
                idempotency_key="first",
                at=MAIN,
            )
            for order in orders_checkout.checkout_orders(s, placed.id):
                orders_service.cancel_order(s, order_id=order.id, at=MAIN)

    def work(i: int) -> int:
        with transaction(factory) as s:
            if i % 2 == 0:  # the job, over every checkout
                return campaign_checkout.settle_claims(s, at=MAIN + timedelta(minutes=1))
            return campaign_checkout.place_with_coupons(
                s,
                buyer_id=buyers[10 + i],
                items=[orders_checkout.CheckoutItem(seller.sku_id, 1) for seller in shops[::-1]],
                claim_ids=[],
                idempotency_key="second",
                at=MAIN,
            ).id

    results = _run_together(20, work)

    assert not [r for r in results if isinstance(r, Exception)], results
    with factory() as s:
        held = s.scalar(
            select(func.sum(CampaignSale.unit_subsidy_fen * CampaignSale.quantity)).where(
                CampaignSale.status == "held"
            )
        )
        # the ten cancelled carts gave back 20 x 10.00; the ten new ones hold 20 x 10.00
        assert s.get_one(Campaign, campaign).subsidy_committed_fen == held == 20 * 1_000
