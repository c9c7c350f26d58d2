"""During a festival's main window an approved SKU sells at its campaign price while its
quantity lasts, the merchant paying the difference; cancelled units go back, once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests import factories
from trustflow.campaigns import checkout as campaign_checkout
from trustflow.campaigns import coupons, festivals
from trustflow.campaigns.models import CampaignRegistration, CampaignSale, SaleStatus
from trustflow.campaigns.rules import CouponNotApplicable
from trustflow.db import transaction
from trustflow.orders import checkout as orders_checkout
from trustflow.orders import service as orders_service
from trustflow.orders.models import Checkout, OrderLine

from .test_coupons import spec

REGISTERED = datetime(2026, 9, 10, tzinfo=UTC)
MAIN = datetime(2026, 11, 1, tzinfo=UTC)


def _festival(s: Session, seller: factories.Seller, quantity: int = 3) -> int:
    campaign = festivals.create_campaign(
        s,
        festivals.CampaignSpec(
            name="116",
            registration_from=datetime(2026, 9, 1, tzinfo=UTC),
            registration_to=datetime(2026, 9, 28, tzinfo=UTC),
            warmup_from=datetime(2026, 10, 20, tzinfo=UTC),
            main_from=datetime(2026, 10, 28, tzinfo=UTC),
            main_to=datetime(2026, 11, 12, tzinfo=UTC),
        ),
        actor="operator:1",
        at=REGISTERED,
    ).id
    registration = festivals.register(
        s,
        campaign_id=campaign,
        request=festivals.RegistrationRequest(
            sku_id=seller.sku_id, campaign_price_fen=7_900, quantity=quantity
        ),
        at=REGISTERED,
        actor="merchant:1",
    )
    festivals.review(
        s, registration_id=registration.id, approve=True, reason="ok", actor="op", at=REGISTERED
    )
    return registration.id


def _seller_and_buyer(s: Session) -> tuple[factories.Seller, int]:
    """A shop selling at 99.00 since long before the festival, and a buyer."""
    seller = factories.seller(
        s, category_id=factories.category(s), at=REGISTERED - timedelta(days=60)
    )
    return seller, factories.buyer(s)


def _buy(
    s: Session, buyer: int, seller: factories.Seller, key: str, at: datetime, **kw: object
) -> Checkout:
    return campaign_checkout.place_with_coupons(
        s,
        buyer_id=buyer,
        items=[orders_checkout.CheckoutItem(seller.sku_id, 2)],
        claim_ids=kw.get("claims", []),  # type: ignore[arg-type]
        idempotency_key=key,
        at=at,
    )


def test_the_main_window_sells_at_the_campaign_price_while_the_quantity_lasts(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as s:
        seller, buyer = _seller_and_buyer(s)
        registration = _festival(s, seller)
    with transaction(factory) as s:
        early = _buy(s, buyer, seller, "early", REGISTERED + timedelta(days=1))
        first = _buy(s, buyer, seller, "first", MAIN)
        second = _buy(s, buyer, seller, "second", MAIN)

    with factory() as s:
        # 2 × 99.00 at list price before the main window; 2 × 79.00 in it; then only 1 of
        # the 3 campaign units is left for 2: list price again
        paid = [s.get_one(Checkout, c.id).paid_amount_fen for c in (early, first, second)]
        assert paid == [19_800, 15_800, 19_800]
        line = s.scalars(select(OrderLine).where(OrderLine.paid_amount_fen == 15_800)).one()
        assert line.merchant_discount_fen == 4_000
        assert s.get_one(CampaignRegistration, registration).sold == 2


def test_a_coupons_threshold_is_met_by_the_campaign_price_not_the_list_price(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as s:
        seller, buyer = _seller_and_buyer(s)
        _festival(s, seller)
        coupon = coupons.create_coupon(
            s, spec(valid_from=MAIN - timedelta(days=1), threshold_fen=16_000), actor="op"
        )
        claim = coupons.claim_coupon(
            s, coupon_id=coupon.id, buyer_id=buyer, idempotency_key="k", at=MAIN
        ).id
    with pytest.raises(CouponNotApplicable) as refused, transaction(factory) as s:
        _buy(s, buyer, seller, "c", MAIN, claims=[claim])
    assert refused.value.message == "goods 158.00 < threshold 160.00"


def test_a_cancelled_order_gives_its_campaign_units_back_once(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as s:
        seller, buyer = _seller_and_buyer(s)
        registration = _festival(s, seller)
        checkout = _buy(s, buyer, seller, "first", MAIN)
        (order,) = orders_checkout.checkout_orders(s, checkout.id)
        orders_service.cancel_order(s, order_id=order.id, at=MAIN + timedelta(minutes=5))
    for _ in range(2):
        with transaction(factory) as s:
            campaign_checkout.settle_claims(s, at=MAIN + timedelta(hours=1))
    with factory() as s:
        assert s.get_one(CampaignRegistration, registration).sold == 0
        assert s.scalars(select(CampaignSale.status)).all() == [SaleStatus.RETURNED]
