"""Coupon limits under real concurrent clients, each thread its own connection: no
interleaving overspends a budget, passes a buyer's limit or returns a refund twice."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests import factories
from tests.integration.test_concurrency import _run_together
from trustflow.campaigns import coupons, festivals
from trustflow.campaigns.models import (
    Campaign,
    CampaignRegistration,
    ClaimStatus,
    Coupon,
    CouponClaim,
    CouponHolding,
)
from trustflow.db import transaction
from trustflow.errors import Conflict, ErrorCode

from .test_coupons import T0, spec


def test_two_hundred_reservations_against_a_budget_for_fifty_leave_fifty(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as s:
        coupon_id = coupons.create_coupon(
            s, spec(budget_fen=50 * 1_000, budget_count=1_000), actor="operator:1"
        ).id
        buyers = [factories.buyer(s, f"b{i}") for i in range(200)]
        claims = [
            coupons.claim_coupon(s, coupon_id=coupon_id, buyer_id=b, idempotency_key="k", at=T0).id
            for b in buyers
        ]

    def redeem(i: int) -> int:
        with transaction(factory) as s:
            coupons.reserve_claim(
                s, claim_id=claims[i], buyer_id=buyers[i], goods_fen=10_000, checkout_id=None, at=T0
            )
            coupons.redeem_claim(s, claim_id=claims[i], at=T0)
            return claims[i]

    results = _run_together(200, redeem)

    refused = [r for r in results if isinstance(r, Exception)]
    assert len(results) - len(refused) == 50
    assert all(
        isinstance(r, Conflict) and r.code is ErrorCode.COUPON_BUDGET_EXHAUSTED for r in refused
    )
    with factory() as s:
        coupon = s.get_one(Coupon, coupon_id)
        assert coupon.budget_fen - coupon.committed_fen == 0
        redeemed = s.scalar(select(func.count()).where(CouponClaim.status == ClaimStatus.REDEEMED))
        assert redeemed == 50


def test_one_buyer_bursting_twenty_claims_on_separate_connections_gets_one(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as s:
        coupon_id = coupons.create_coupon(s, spec(per_buyer_limit=1), actor="operator:1").id
        buyer = factories.buyer(s)

    def claim(i: int) -> int:
        with transaction(factory) as s:
            return coupons.claim_coupon(
                s, coupon_id=coupon_id, buyer_id=buyer, idempotency_key=f"k{i}", at=T0
            ).id

    results = _run_together(20, claim)

    assert sum(isinstance(r, int) for r in results) == 1
    assert all(r.code is ErrorCode.COUPON_LIMIT_REACHED for r in results if isinstance(r, Conflict))
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(CouponClaim)) == 1
        assert s.scalar(select(CouponHolding.claims)) == 1


def test_fifty_refunds_of_the_same_redemption_return_the_budget_once(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as s:
        coupon_id = coupons.create_coupon(s, spec(), actor="operator:1").id
        buyer = factories.buyer(s)
        claim_id = coupons.claim_coupon(
            s, coupon_id=coupon_id, buyer_id=buyer, idempotency_key="k", at=T0
        ).id
        coupons.reserve_claim(
            s, claim_id=claim_id, buyer_id=buyer, goods_fen=10_000, checkout_id=None, at=T0
        )
        coupons.redeem_claim(s, claim_id=claim_id, at=T0)

    def refund(_: int) -> ClaimStatus:
        with transaction(factory) as s:
            return coupons.refund_claim(s, claim_id=claim_id, at=T0).status

    results = _run_together(50, refund)

    assert results == [ClaimStatus.REFUNDED] * 50
    with factory() as s:
        coupon = s.get_one(Coupon, coupon_id)
        assert (coupon.committed_fen, coupon.committed_count) == (0, 0)


def test_two_coupons_of_one_campaign_never_spend_more_than_its_subsidy(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as s:
        campaign = festivals.create_campaign(
            s,
            festivals.CampaignSpec(
                name="116",
                registration_from=T0 - timedelta(days=30),
                registration_to=T0 - timedelta(days=20),
                warmup_from=T0 - timedelta(days=10),
                main_from=T0,
                main_to=T0 + timedelta(days=30),
                subsidy_budget_fen=30 * 1_000,
            ),
            actor="operator:1",
            at=T0,
        ).id
        # each coupon alone could pay for 100: together the campaign pays for 30
        coupon_ids = [
            coupons.create_coupon(
                s,
                spec(budget_fen=100 * 1_000, budget_count=100, campaign_id=campaign),
                actor="operator:1",
            ).id
            for _ in range(2)
        ]
        buyers = [factories.buyer(s, f"b{i}") for i in range(100)]
        claims = [
            coupons.claim_coupon(
                s, coupon_id=coupon_ids[i % 2], buyer_id=b, idempotency_key="k", at=T0
            ).id
            for i, b in enumerate(buyers)
        ]

    def reserve(i: int) -> int:
        with transaction(factory) as s:
            return coupons.reserve_claim(
                s, claim_id=claims[i], buyer_id=buyers[i], goods_fen=10_000, checkout_id=None, at=T0
            ).id

    results = _run_together(100, reserve)

    refused = [r for r in results if isinstance(r, Exception)]
    assert len(results) - len(refused) == 30
    assert {r.code for r in refused if isinstance(r, Conflict)} == {
        ErrorCode.CAMPAIGN_SUBSIDY_EXHAUSTED
    }
    with factory() as s:
        assert s.get_one(Campaign, campaign).subsidy_committed_fen == 30 * 1_000
        assert sum(s.get_one(Coupon, c).committed_fen for c in coupon_ids) == 30 * 1_000


def test_ten_tabs_registering_one_sku_at_once_make_one_registration_and_nine_duplicates(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as s:
        seller = factories.seller(s, category_id=factories.category(s), at=T0 - timedelta(days=60))
        campaign = festivals.create_campaign(
            s,
            festivals.CampaignSpec(
                name="116",
                registration_from=T0 - timedelta(days=1),
                registration_to=T0 + timedelta(days=10),
                warmup_from=T0 + timedelta(days=20),
                main_from=T0 + timedelta(days=25),
                main_to=T0 + timedelta(days=40),
            ),
            actor="operator:1",
            at=T0,
        ).id

    def register(_: int) -> int:
        with transaction(factory) as s:
            return festivals.register(
                s,
                campaign_id=campaign,
                request=festivals.RegistrationRequest(
                    sku_id=seller.sku_id, campaign_price_fen=9_000, quantity=5
                ),
                at=T0,
                actor="merchant:1",
            ).id

    results = _run_together(10, register)

    assert sum(isinstance(r, int) for r in results) == 1
    refused = [r for r in results if not isinstance(r, int)]
    assert all(isinstance(r, Conflict) and r.code is ErrorCode.DUPLICATE for r in refused), refused
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(CampaignRegistration)) == 1
