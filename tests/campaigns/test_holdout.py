"""A campaign keeps a hashed share of buyers out: they are offered neither its coupons nor
its prices, on the service path and the bulk path alike; what the rest bought more is its
incremental GMV, with an interval."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests import factories
from trustflow.analytics.campaign_lift import campaign_lift, campaign_report
from trustflow.campaigns import bulk as campaigns_bulk
from trustflow.campaigns import checkout as campaign_checkout
from trustflow.campaigns import coupons, festivals, rules
from trustflow.campaigns.models import Campaign, CampaignSale
from trustflow.db import transaction
from trustflow.errors import Conflict, ErrorCode, InvalidInput
from trustflow.orders import checkout as orders_checkout

from .test_coupons import spec

# in the future of the machine's clock: buyers made now exist before the campaign
REGISTERED = datetime(2027, 3, 1, tzinfo=UTC)
WARMUP = datetime(2027, 3, 20, tzinfo=UTC)
MAIN = datetime(2027, 3, 25, tzinfo=UTC)
MAIN_END = MAIN + timedelta(days=10)


def _campaign(s: Session, seller: factories.Seller, holdout_bps: int) -> int:
    campaign = festivals.create_campaign(
        s,
        festivals.CampaignSpec(
            name="116",
            registration_from=REGISTERED,
            registration_to=REGISTERED + timedelta(days=10),
            warmup_from=WARMUP,
            main_from=MAIN,
            main_to=MAIN_END,
            subsidy_budget_fen=100_000,
            holdout_bps=holdout_bps,
        ),
        actor="operator:1",
        at=REGISTERED,
    ).id
    registration = festivals.register(
        s,
        campaign_id=campaign,
        request=festivals.RegistrationRequest(
            sku_id=seller.sku_id, campaign_price_fen=7_900, quantity=50
        ),
        at=REGISTERED + timedelta(days=1),
        actor="merchant:1",
    )
    festivals.review(
        s,
        registration_id=registration.id,
        approve=True,
        reason="ok",
        actor="op",
        at=REGISTERED + timedelta(days=1),
    )
    return campaign


def _buyers(s: Session, campaign: int, n: int, holdout_bps: int) -> tuple[list[int], list[int]]:
    """``n`` buyers, split as the campaign splits them: (held out, reached)."""
    ids = np.array([factories.buyer(s, name=f"b{i}") for i in range(n)], dtype=np.int64)
    out = rules.in_holdout(campaign, ids, holdout_bps)
    return ids[out].tolist(), ids[~out].tolist()


def _seller(s: Session) -> factories.Seller:
    return factories.seller(
        s, category_id=factories.category(s), price_fen=10_000, at=REGISTERED - timedelta(days=60)
    )


def test_the_holdout_is_a_stable_hashed_share_of_buyers() -> None:
    ids = np.arange(1, 20_001, dtype=np.int64)

    out = rules.in_holdout(7, ids, 1_000)

    assert 0.09 < out.mean() < 0.11  # about 10%
    assert (rules.in_holdout(7, ids, 1_000) == out).all()  # the same buyers every time
    assert (rules.in_holdout(8, ids, 1_000) != out).any()  # another campaign, another split
    assert not rules.in_holdout(7, ids, 0).any()


def test_a_holdout_above_half_is_refused(session: Session) -> None:
    with pytest.raises(InvalidInput, match=r"holdout_bps 5001 is not within 0\.\.5000"):
        festivals.create_campaign(
            session,
            festivals.CampaignSpec(
                name="116",
                registration_from=REGISTERED,
                registration_to=WARMUP,
                warmup_from=WARMUP,
                main_from=MAIN,
                main_to=MAIN_END,
                holdout_bps=5_001,
            ),
            actor="op",
            at=REGISTERED,
        )


def test_a_held_out_buyer_is_offered_neither_the_coupon_nor_the_price(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as s:
        seller = _seller(s)
        campaign = _campaign(s, seller, 5_000)
        held_out, reached = _buyers(s, campaign, 12, 5_000)
        coupon = coupons.create_coupon(
            s, spec(campaign_id=campaign, valid_from=MAIN, valid_to=MAIN_END), actor="op"
        ).id
    with transaction(factory) as s, pytest.raises(Conflict) as refused:
        coupons.claim_coupon(
            s, coupon_id=coupon, buyer_id=held_out[0], idempotency_key="c", at=MAIN
        )
    assert refused.value.code is ErrorCode.CAMPAIGN_HOLDOUT
    with transaction(factory) as s:
        paid = {}
        for buyer in (held_out[0], reached[0]):
            checkout = campaign_checkout.place_with_coupons(
                s,
                buyer_id=buyer,
                items=[orders_checkout.CheckoutItem(seller.sku_id, 1)],
                claim_ids=[],
                idempotency_key=f"k{buyer}",
                at=MAIN + timedelta(hours=1),
            )
            paid[buyer] = s.get_one(type(checkout), checkout.id).paid_amount_fen
    assert paid == {held_out[0]: 10_000, reached[0]: 7_900}


def test_the_bulk_path_keeps_the_same_buyers_out(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as s:
        seller = _seller(s)
        campaign = _campaign(s, seller, 5_000)
        held_out, reached = _buyers(s, campaign, 12, 5_000)
        coupon = coupons.create_coupon(
            s, spec(campaign_id=campaign, valid_from=MAIN, valid_to=MAIN_END), actor="op"
        ).id
    with transaction(factory) as s:
        claimed = campaigns_bulk.claim_coupon_bulk(
            s, coupon_id=coupon, buyer_ids=np.array(held_out + reached), at=MAIN
        )
        d = campaigns_bulk.discount_batch(
            s,
            buyer_id=np.array([held_out[0], reached[0]], dtype=np.int64),
            sku_id=np.array([seller.sku_id] * 2, dtype=np.int64),
            quantity=np.array([1, 2], dtype=np.int64),
            at=MAIN + timedelta(hours=1),
        )
        held = s.scalar(select(func.count()).select_from(CampaignSale))
    assert sorted(claimed.tolist()) == sorted(reached)
    assert d.merchant_fen.tolist() == [0, 4_200]  # the list price; 2 × (100.00 − 79.00)
    # only the reached buyer holds a claim: 158.00 at campaign prices meets the 99.00
    assert d.platform_fen.tolist() == [0, 1_000]
    assert held == 0  # nothing recorded before the batch is placed


def test_the_incremental_gmv_is_what_the_reached_buyers_bought_more(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as s:
        seller = _seller(s)
        campaign = _campaign(s, seller, 5_000)
        held_out, reached = _buyers(s, campaign, 16, 5_000)
        for buyer in held_out + reached:  # everyone bought once before the festival
            factories.paid_order(
                s,
                buyer_id=buyer,
                sku_id=seller.sku_id,
                key=f"p{buyer}",
                at=WARMUP - timedelta(days=5),
            )
        for buyer in reached:  # during it, only the buyers it reached buy again (list price here)
            factories.paid_order(
                s,
                buyer_id=buyer,
                sku_id=seller.sku_id,
                key=f"t{buyer}",
                at=MAIN + timedelta(days=2),
            )
    with factory() as s:
        lift = campaign_lift(s, campaign)
        report = campaign_report(s, campaign)
        early = campaign_lift(s, campaign, as_of=MAIN - timedelta(hours=1))
    assert lift is not None and len(held_out) >= 2 and len(reached) >= 2
    figures = lift.as_dict()
    # each reached buyer bought 100.00 more than a held-out one: the campaign added that
    # much per reached buyer, exactly (no spread, so the interval is the point)
    assert figures["incremental_gmv_yuan"] == Decimal(100 * len(reached))
    assert (figures["ci_low_yuan"], figures["ci_high_yuan"]) == (
        figures["incremental_gmv_yuan"],
        figures["incremental_gmv_yuan"],
    )
    assert (figures["treated_buyers"], figures["holdout_buyers"]) == (len(reached), len(held_out))
    assert (figures["pre_days"], figures["test_days"]) == (5, 10)
    assert report["incremental_gmv"] == figures
    assert early is None  # before the main window there is nothing to measure


def test_a_campaign_without_a_holdout_reports_no_incremental_gmv(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as s:
        campaign = _campaign(s, _seller(s), 0)
    with factory() as s:
        assert campaign_report(s, campaign)["incremental_gmv"] is None


def test_a_buyer_held_out_of_one_campaign_gets_anothers_price_on_both_paths(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as s:
        seller = _seller(s)
        _campaign(s, seller, 5_000)  # 79.00, keeps half the buyers out
        other = festivals.create_campaign(
            s,
            festivals.CampaignSpec(
                name="brand day",
                registration_from=REGISTERED,
                registration_to=REGISTERED + timedelta(days=10),
                warmup_from=WARMUP,
                main_from=MAIN,
                main_to=MAIN_END,
            ),
            actor="operator:1",
            at=REGISTERED,
        ).id
        offer = festivals.register(
            s,
            campaign_id=other,
            request=festivals.RegistrationRequest(
                sku_id=seller.sku_id, campaign_price_fen=8_500, quantity=50
            ),
            at=REGISTERED + timedelta(days=1),
            actor="merchant:1",
        )
        festivals.review(
            s, registration_id=offer.id, approve=True, reason="ok", actor="op", at=REGISTERED
        )
        campaign = s.scalar(select(func.min(Campaign.id)))
        held_out, reached = _buyers(s, int(campaign), 12, 5_000)
    with transaction(factory) as s:
        checkout = campaign_checkout.place_with_coupons(
            s,
            buyer_id=held_out[0],
            items=[orders_checkout.CheckoutItem(seller.sku_id, 1)],
            claim_ids=[],
            idempotency_key="c",
            at=MAIN + timedelta(hours=1),
        )
        d = campaigns_bulk.discount_batch(
            s,
            buyer_id=np.array([held_out[1], reached[0]], dtype=np.int64),
            sku_id=np.array([seller.sku_id] * 2, dtype=np.int64),
            quantity=np.array([1, 1], dtype=np.int64),
            at=MAIN + timedelta(hours=1),
        )
    # held out of the 79.00 festival, both paths give the 85.00 of the other
    assert checkout.paid_amount_fen == 8_500
    assert d.merchant_fen.tolist() == [1_500, 2_100]
