"""Coupons at checkout: what each takes off which line and who pays for it, the stacking
policy, and what happens to the claims when the checkout is paid, expires or is refunded."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests import factories
from trustflow.campaigns import checkout as coupon_checkout
from trustflow.campaigns import coupons
from trustflow.campaigns.models import ClaimStatus, Coupon, CouponClaim, CouponIssuer, CouponKind
from trustflow.db import transaction
from trustflow.errors import Conflict, ErrorCode, InvalidInput, NotFound
from trustflow.orders import checkout as orders_checkout
from trustflow.orders import service as orders_service
from trustflow.orders.models import Checkout, Order, OrderLine

from .test_coupons import T0, spec

AT = T0 + timedelta(hours=1)


class Cart:
    """Two shops: A sells at 99.00 (two in the cart), B at 50.00 (one)."""

    def __init__(self, s: Session) -> None:
        category = factories.category(s)
        self.a = factories.seller(s, category_id=category, price_fen=9_900, name="A")
        self.b = factories.seller(s, category_id=category, price_fen=5_000, name="B")
        self.buyer = factories.buyer(s)
        self.items = [
            orders_checkout.CheckoutItem(self.a.sku_id, 2),
            orders_checkout.CheckoutItem(self.b.sku_id, 1),
        ]

    def claim(self, s: Session, key: str, **overrides: object) -> int:
        coupon = coupons.create_coupon(s, spec(**overrides), actor="operator:1")
        return coupons.claim_coupon(
            s, coupon_id=coupon.id, buyer_id=self.buyer, idempotency_key=key, at=AT
        ).id


def _lines(s: Session, checkout_id: int) -> dict[int, tuple[int, int, int]]:
    """Per shop: (merchant discount, platform discount, paid) of its lines."""
    rows = s.execute(
        select(
            Order.shop_id,
            func.sum(OrderLine.merchant_discount_fen),
            func.sum(OrderLine.platform_discount_fen),
            func.sum(OrderLine.paid_amount_fen),
        )
        .join(Order, Order.id == OrderLine.order_id)
        .where(Order.checkout_id == checkout_id)
        .group_by(Order.shop_id)
    ).all()
    return {shop: (int(m), int(p), int(paid)) for shop, m, p, paid in rows}


def test_the_merchant_coupon_applies_first_to_its_shop_then_the_platform_one_to_all(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as s:
        cart = Cart(s)
        merchant = cart.claim(
            s,
            "m",
            issuer=CouponIssuer.MERCHANT,
            shop_id=cart.a.shop_id,
            threshold_fen=15_000,
            amount_fen=2_000,
        )
        platform = cart.claim(s, "p", threshold_fen=10_000, amount_fen=1_500)
    with transaction(factory) as s:
        checkout = coupon_checkout.place_with_coupons(
            s,
            buyer_id=cart.buyer,
            items=cart.items,
            claim_ids=[platform, merchant],
            idempotency_key="c1",
            at=AT,
        )
    with factory() as s:
        # A: 198.00 − 20.00 = 178.00 left; B: 50.00. The platform's 15.00 splits 178 : 50,
        # 11.7105 : 3.2895 → 11.71 and 3.29 (the larger remainder takes the spare fen)
        assert _lines(s, checkout.id) == {
            cart.a.shop_id: (2_000, 1_171, 19_800 - 2_000 - 1_171),
            cart.b.shop_id: (0, 329, 5_000 - 329),
        }
        assert s.get_one(Checkout, checkout.id).paid_amount_fen == 24_800 - 3_500
        orders = {o.shop_id: o for o in s.scalars(select(Order))}
        assert orders[cart.a.shop_id].paid_amount_fen == 16_629
        assert orders[cart.a.shop_id].merchant_discount_fen == 2_000


def test_a_retry_returns_the_checkout_and_takes_nothing_more_from_the_budget(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as s:
        cart = Cart(s)
        platform = cart.claim(s, "p", threshold_fen=10_000, amount_fen=1_500)
    placed = []
    for _ in range(2):
        with transaction(factory) as s:
            placed.append(
                coupon_checkout.place_with_coupons(
                    s,
                    buyer_id=cart.buyer,
                    items=cart.items,
                    claim_ids=[platform],
                    idempotency_key="c1",
                    at=AT,
                ).id
            )
    assert placed[0] == placed[1]
    with pytest.raises(Conflict) as refused, transaction(factory) as s:
        coupon_checkout.place_with_coupons(
            s, buyer_id=cart.buyer, items=cart.items, claim_ids=[], idempotency_key="c1", at=AT
        )
    assert refused.value.code is ErrorCode.IDEMPOTENCY_KEY_REUSED
    with factory() as s:
        assert s.scalar(select(Coupon.committed_fen)) == 1_500
        assert s.get_one(Checkout, placed[0]).paid_amount_fen == 24_800 - 1_500


@pytest.mark.parametrize("case", ["two_platform", "foreign_shop", "below_threshold", "others"])
def test_a_refused_coupon_refuses_the_whole_checkout_with_its_reason(
    factory: sessionmaker[Session], case: str
) -> None:
    with transaction(factory) as s:
        cart = Cart(s)
        first = cart.claim(s, "p1", threshold_fen=10_000, amount_fen=1_500)
        expected: tuple[type[Exception], ErrorCode]
        if case == "two_platform":
            second = cart.claim(s, "p2", threshold_fen=10_000, amount_fen=500)
            claims, expected = [first, second], (InvalidInput, ErrorCode.COUPON_NOT_STACKABLE)
        elif case == "foreign_shop":
            elsewhere = factories.seller(s, category_id=factories.category(s, "food"), name="C")
            other = cart.claim(
                s,
                "m",
                issuer=CouponIssuer.MERCHANT,
                shop_id=elsewhere.shop_id,
                amount_fen=500,
                threshold_fen=1_000,
            )
            claims, expected = [other], (Conflict, ErrorCode.COUPON_NOT_APPLICABLE)
        elif case == "below_threshold":
            high = cart.claim(s, "p2", per_buyer_limit=1, threshold_fen=30_000, amount_fen=3_000)
            claims, expected = [high], (Conflict, ErrorCode.COUPON_THRESHOLD_NOT_MET)
        else:
            stranger = factories.buyer(s, "stranger")
            theirs = coupons.claim_coupon(
                s,
                coupon_id=s.get_one(CouponClaim, first).coupon_id,
                buyer_id=stranger,
                idempotency_key="x",
                at=AT,
            ).id
            claims, expected = [theirs], (NotFound, ErrorCode.NOT_FOUND)
    with pytest.raises(expected[0]) as refused, transaction(factory) as s:
        coupon_checkout.place_with_coupons(
            s, buyer_id=cart.buyer, items=cart.items, claim_ids=claims, idempotency_key="c", at=AT
        )
    assert refused.value.code is expected[1]
    with factory() as s:  # nothing was placed, nothing reserved
        assert s.scalar(select(func.count()).select_from(Checkout)) == 0
        assert s.scalar(select(func.sum(Coupon.committed_fen))) == 0
    if case == "below_threshold":
        assert refused.value.message == "goods 248.00 < threshold 300.00"


def test_paying_redeems_expiring_releases_and_a_full_refund_returns_the_budget_once(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as s:
        cart = Cart(s)
        paid_claim = cart.claim(s, "p", threshold_fen=10_000, amount_fen=1_500)
        left_claim = cart.claim(
            s,
            "m",
            issuer=CouponIssuer.MERCHANT,
            shop_id=cart.b.shop_id,
            kind=CouponKind.DISCOUNT,
            threshold_fen=0,
            amount_fen=0,
            discount_bps=1_000,
        )
    with transaction(factory) as s:
        paid = coupon_checkout.place_with_coupons(
            s,
            buyer_id=cart.buyer,
            items=cart.items,
            claim_ids=[paid_claim],
            idempotency_key="1",
            at=AT,
        )
        coupon_checkout.pay_with_coupons(s, checkout_id=paid.id, idempotency_key="pay", at=AT)
        coupon_checkout.place_with_coupons(
            s,
            buyer_id=cart.buyer,
            items=cart.items[1:],
            claim_ids=[left_claim],
            idempotency_key="2",
            at=AT,
        )
    with transaction(factory) as s:
        assert s.get_one(CouponClaim, paid_claim).status is ClaimStatus.REDEEMED
        assert s.get_one(CouponClaim, left_claim).amount_fen == 500
        orders_checkout.expire_unpaid(
            s, older_than=timedelta(minutes=30), at=AT + timedelta(hours=1)
        )
        assert coupon_checkout.settle_claims(s, at=AT + timedelta(hours=1)) == 1
        back = s.get_one(CouponClaim, left_claim)
        assert (back.status, back.amount_fen) == (ClaimStatus.CLAIMED, 0)
        for order in orders_checkout.checkout_orders(s, paid.id):
            orders_service.cancel_order(s, order_id=order.id, at=AT + timedelta(hours=2))
    for _ in range(2):  # the job runs again: nothing returns twice
        with transaction(factory) as s:
            coupon_checkout.settle_claims(s, at=AT + timedelta(hours=3))
    with factory() as s:
        assert s.get_one(CouponClaim, paid_claim).status is ClaimStatus.REFUNDED
        assert s.scalar(select(func.sum(Coupon.committed_fen))) == 0


def test_a_retry_of_a_cart_placed_without_coupons_cannot_add_them(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as s:
        cart = Cart(s)
        platform = cart.claim(s, "p", threshold_fen=10_000, amount_fen=1_500)
    with transaction(factory) as s:
        checkout = coupon_checkout.place_with_coupons(
            s, buyer_id=cart.buyer, items=cart.items, claim_ids=[], idempotency_key="c", at=AT
        )
    with pytest.raises(Conflict) as refused, transaction(factory) as s:
        coupon_checkout.place_with_coupons(
            s,
            buyer_id=cart.buyer,
            items=cart.items,
            claim_ids=[platform],
            idempotency_key="c",
            at=AT,
        )
    assert refused.value.code is ErrorCode.IDEMPOTENCY_KEY_REUSED
    with factory() as s:
        assert s.get_one(Checkout, checkout.id).paid_amount_fen == 24_800
        assert s.get_one(CouponClaim, platform).status is ClaimStatus.CLAIMED
