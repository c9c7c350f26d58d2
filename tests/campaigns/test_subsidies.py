"""Product subsidies (商品补贴): the platform pays part of an approved registration's campaign
price from the campaign's subsidy budget, within the shop's cap; what a cancellation or a
full refund gives back comes back once; and every refusal names its numbers."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests import factories
from trustflow.aftersales import service as aftersales_service
from trustflow.aftersales.models import ActorRole, AfterSalesKind, AfterSalesReason
from trustflow.aftersales.rules import Actor
from trustflow.campaigns import bulk as campaigns_bulk
from trustflow.campaigns import checkout as campaign_checkout
from trustflow.campaigns import festivals, results, subsidies
from trustflow.campaigns.models import (
    Campaign,
    CampaignEvent,
    CampaignRegistration,
    CampaignSale,
    CampaignShopSubsidy,
    SaleStatus,
)
from trustflow.campaigns.rules import OutsideWindow
from trustflow.db import transaction
from trustflow.errors import Conflict, ErrorCode, IllegalTransition, InvalidInput
from trustflow.orders import checkout as orders_checkout
from trustflow.orders import service as orders_service
from trustflow.orders.bulk import OrderBatch
from trustflow.orders.models import Checkout, OrderLine
from trustflow.vocabulary import Channel

from .setup import MAIN, REGISTERED, approved_offer, festival, grant, listed_seller


def _setup(s: Session, **spec: int) -> tuple[factories.Seller, int, int, int]:
    """A festival with a subsidy budget (1,000.00 unless told), the seller's SKU (list 99.00)
    registered at 79.00 for 100 units and approved, and a buyer."""
    campaign = festival(s, **({"subsidy_budget_fen": 100_000} | spec))
    seller = listed_seller(s)
    return seller, factories.buyer(s), campaign, approved_offer(s, campaign, seller)


def _buy(s: Session, buyer: int, seller: factories.Seller, key: str, units: int = 2) -> Checkout:
    return campaign_checkout.place_with_coupons(
        s,
        buyer_id=buyer,
        items=[orders_checkout.CheckoutItem(seller.sku_id, units)],
        claim_ids=[],
        idempotency_key=key,
        at=MAIN,
    )


def _shop_held(s: Session, campaign: int, shop: int) -> int:
    return s.get_one(CampaignShopSubsidy, (campaign, shop)).committed_fen


def test_a_subsidised_line_costs_the_buyer_the_campaign_price_less_the_subsidy(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as s:
        seller, buyer, campaign, registration = _setup(s)
        grant(s, registration, 1_000)
    with transaction(factory) as s:
        checkout = _buy(s, buyer, seller, "c")
        orders_checkout.pay_checkout(s, checkout_id=checkout.id, idempotency_key="p", at=MAIN)
    with factory() as s:
        # 2 × (99.00 − 20.00 the merchant takes off − 10.00 the platform pays)
        assert s.get_one(Checkout, checkout.id).paid_amount_fen == 13_800
        line = s.scalars(select(OrderLine)).one()
        assert (line.merchant_discount_fen, line.platform_discount_fen) == (4_000, 2_000)
        assert s.scalars(select(CampaignSale.unit_subsidy_fen)).one() == 1_000
        assert s.get_one(Campaign, campaign).subsidy_committed_fen == 2_000
        assert _shop_held(s, campaign, seller.shop_id) == 2_000
        got = results.campaign_results(s, campaign)
        assert (got.subsidy_spent_fen, got.subsidy_spent_by_kind) == (
            2_000,
            {"coupons": 0, "products": 2_000},
        )
        granted = s.scalars(select(CampaignEvent).where(CampaignEvent.action == "subsidise")).one()
        assert (granted.amount_fen, granted.reason, granted.actor) == (
            1_000,
            "C-position brand",
            "operator:1",
        )


def test_the_shops_cap_and_then_the_campaigns_budget_end_the_subsidy_not_the_sale(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as s:
        seller, buyer, campaign, registration = _setup(s, subsidy_budget_fen=5_000)
        grant(s, registration, 1_000)
        subsidies.set_shop_cap(
            s,
            campaign_id=campaign,
            shop_id=seller.shop_id,
            cap_fen=3_000,
            reason="spread the budget",
            actor="operator:1",
            at=REGISTERED,
        )
    with transaction(factory) as s:
        paid = [_buy(s, buyer, seller, key).paid_amount_fen for key in ("a", "b")]
    # the first 2 units take 20.00 of the 30.00 cap; the next 2 would need 40.00: the
    # campaign price alone
    assert paid == [13_800, 15_800]
    with transaction(factory) as s:
        subsidies.set_shop_cap(
            s,
            campaign_id=campaign,
            shop_id=seller.shop_id,
            cap_fen=None,
            reason="lifted",
            actor="operator:1",
            at=MAIN,
        )
        # the campaign's 50.00 budget has 30.00 left: one more pair, then none
        paid = [_buy(s, buyer, seller, key).paid_amount_fen for key in ("c", "d")]
    assert paid == [13_800, 15_800]
    with factory() as s:
        assert s.get_one(Campaign, campaign).subsidy_committed_fen == 4_000
        assert _shop_held(s, campaign, seller.shop_id) == 4_000
        sales = s.scalars(select(CampaignSale.unit_subsidy_fen).order_by(CampaignSale.id)).all()
        assert sales == [1_000, 0, 1_000, 0]


def test_a_cancelled_order_gives_its_subsidy_back_once_and_a_full_refund_too(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as s:
        seller, buyer, campaign, registration = _setup(s)
        grant(s, registration, 1_000)
    with transaction(factory) as s:
        cancelled = _buy(s, buyer, seller, "cancelled")
        refunded = _buy(s, buyer, seller, "refunded")
        orders_checkout.pay_checkout(s, checkout_id=refunded.id, idempotency_key="p", at=MAIN)
        (gone,) = orders_checkout.checkout_orders(s, cancelled.id)
        orders_service.cancel_order(s, order_id=gone.id, at=MAIN + timedelta(minutes=5))
    for _ in range(2):  # the job runs twice: nothing comes back twice
        with transaction(factory) as s:
            campaign_checkout.settle_claims(s, at=MAIN + timedelta(hours=1))
    with factory() as s:
        assert s.get_one(Campaign, campaign).subsidy_committed_fen == 2_000
        assert s.get_one(CampaignRegistration, registration).sold == 2
    with transaction(factory) as s:
        (order,) = orders_checkout.checkout_orders(s, refunded.id)
        orders_service.ship_order(s, order_id=order.id, at=MAIN + timedelta(hours=2))
        # one unit refunded keeps the subsidy; the other refunded too gives it back
        for hours in (3, 4):
            request = aftersales_service.request_after_sales(
                s,
                order_id=order.id,
                kind=AfterSalesKind.REFUND_ONLY,
                reason=AfterSalesReason.QUALITY,
                quantity=1,
                actor=Actor(ActorRole.BUYER),
                at=MAIN + timedelta(hours=hours),
            )
            aftersales_service.approve(
                s,
                request_id=request.id,
                actor=Actor(ActorRole.MERCHANT),
                at=MAIN + timedelta(hours=hours),
            )
            campaign_checkout.settle_claims(s, at=MAIN + timedelta(hours=hours))
            held = s.get_one(Campaign, campaign).subsidy_committed_fen
            assert held == (2_000 if hours == 3 else 0)
    with transaction(factory) as s:
        campaign_checkout.settle_claims(s, at=MAIN + timedelta(hours=5))
    with factory() as s:
        assert s.get_one(Campaign, campaign).subsidy_committed_fen == 0
        assert _shop_held(s, campaign, seller.shop_id) == 0
        statuses = s.scalars(select(CampaignSale.status).order_by(CampaignSale.id)).all()
        assert statuses == [SaleStatus.RETURNED, SaleStatus.REFUNDED]
        # the refunded units stay sold: the merchant sold them at the campaign price
        assert s.get_one(CampaignRegistration, registration).sold == 2


def test_the_bulk_path_pays_subsidies_in_row_order_while_the_cap_lasts(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as s:
        seller, _, campaign, registration = _setup(s)
        buyers = [factories.buyer(s, f"b{i}") for i in range(4)]
        grant(s, registration, 1_000)
        subsidies.set_shop_cap(
            s,
            campaign_id=campaign,
            shop_id=seller.shop_id,
            cap_fen=5_000,
            reason="cap",
            actor="operator:1",
            at=REGISTERED,
        )
    n = len(buyers)
    batch = OrderBatch(
        buyer_id=np.array(buyers, dtype=np.int64),
        sku_id=np.full(n, seller.sku_id, dtype=np.int64),
        quantity=np.array([2, 2, 1, 2], dtype=np.int64),
        channel=[Channel.SHELF_SEARCH] * n,
        idempotency_key=[f"k{i}" for i in range(n)],
        creator_id=np.zeros(n, dtype=np.int64),
        content_kind=[None] * n,
        content_id=np.zeros(n, dtype=np.int64),
        surface=[None] * n,
        merchant_discount_fen=np.zeros(n, dtype=np.int64),
        platform_discount_fen=np.zeros(n, dtype=np.int64),
    )
    with transaction(factory) as s:
        placed, given = campaigns_bulk.place_batch(s, batch, at=MAIN)
    # 20.00 + 20.00 fit the 50.00 cap; the third row's 20.00 would not: 10.00 does, and the
    # fourth row's 20.00 no longer
    assert given.unit_subsidy_fen.tolist() == [1_000, 1_000, 1_000, 0]
    assert given.platform_fen.tolist() == [2_000, 2_000, 1_000, 0]
    with factory() as s:
        assert s.get_one(Campaign, campaign).subsidy_committed_fen == 5_000
        assert _shop_held(s, campaign, seller.shop_id) == 5_000
        paid = s.scalars(select(OrderLine.paid_amount_fen).order_by(OrderLine.id)).all()
        assert paid == [13_800, 13_800, 6_900, 15_800]
        assert placed.order_id.tolist() == sorted(placed.order_id.tolist())
    with transaction(factory) as s:  # a retried batch replays and takes nothing more
        campaigns_bulk.place_batch(s, batch, at=MAIN)
    with factory() as s:
        assert s.get_one(Campaign, campaign).subsidy_committed_fen == 5_000


def test_a_grant_is_refused_with_its_numbers(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as s:
        _, _, campaign, registration = _setup(s)
    with pytest.raises(InvalidInput) as too_much, transaction(factory) as s:
        grant(s, registration, 7_900)
    assert too_much.value.message == "subsidy 79.00 is not below campaign price 79.00"
    with pytest.raises(OutsideWindow) as late, transaction(factory) as s:
        grant(s, registration, 1_000, at=MAIN)
    assert late.value.code is ErrorCode.CAMPAIGN_WINDOW_CLOSED
    assert late.value.details["closes"] == "2026-10-28T00:00:00+00:00"
    with pytest.raises(InvalidInput) as no_reason, transaction(factory) as s:
        subsidies.grant_subsidy(
            s, registration_id=registration, unit_subsidy_fen=1, reason=" ", actor="op", at=MAIN
        )
    assert "reason of 1..500 characters" in no_reason.value.message
    with transaction(factory) as s:  # a registration the rules refused is not subsidised
        refused = festivals.register(
            s,
            campaign_id=campaign,
            request=festivals.RegistrationRequest(
                sku_id=listed_seller(s, "Other").sku_id,
                campaign_price_fen=7_900,
                quantity=10**6,
            ),
            at=REGISTERED,
            actor="merchant:2",
        ).id
    with pytest.raises(IllegalTransition), transaction(factory) as s:
        grant(s, refused, 1_000)


def test_a_campaign_without_a_subsidy_budget_grants_none(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as s:
        _, _, campaign, registration = _setup(s, subsidy_budget_fen=0)
    with pytest.raises(InvalidInput) as refused, transaction(factory) as s:
        grant(s, registration, 500)
    assert refused.value.message == (
        f"campaign {campaign} has no subsidy budget to pay a subsidy from"
    )


def test_a_cap_below_what_the_shops_sales_hold_is_refused_with_both_numbers(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as s:
        seller, buyer, campaign, registration = _setup(s)
        grant(s, registration, 1_000)
    with transaction(factory) as s:
        _buy(s, buyer, seller, "c")
    with pytest.raises(Conflict) as refused, transaction(factory) as s:
        subsidies.set_shop_cap(
            s,
            campaign_id=campaign,
            shop_id=seller.shop_id,
            cap_fen=1_000,
            reason="cut",
            actor="operator:1",
            at=MAIN,
        )
    assert refused.value.code is ErrorCode.SUBSIDY_CAP_BELOW_COMMITTED
    assert refused.value.message == (
        f"cap 10.00 is below the 20.00 shop {seller.shop_id}'s sales already hold"
    )


def test_registering_again_withdraws_a_subsidy_granted_against_the_old_offer(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as s:
        _, _, campaign, _ = _setup(s)
        other = listed_seller(s, "Other")
        request = festivals.RegistrationRequest(
            sku_id=other.sku_id, campaign_price_fen=7_900, quantity=5
        )
        pending = festivals.register(
            s, campaign_id=campaign, request=request, at=REGISTERED, actor="merchant:2"
        ).id
        grant(s, pending, 1_000)  # a pending registration may be granted one
        festivals.review(
            s, registration_id=pending, approve=False, reason="no", actor="op", at=REGISTERED
        )
        again = festivals.register(
            s, campaign_id=campaign, request=request, at=REGISTERED, actor="merchant:2"
        )
        assert (again.id, again.unit_subsidy_fen) == (pending, 0)
