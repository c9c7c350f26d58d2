"""Festival boost: from warm-up to the end of the main window, an approved shop's room and its
registered products' cards weigh double in the daily traffic plan."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests import factories
from trustflow.campaigns import boosts, fast_brands, festivals, rules
from trustflow.campaigns.models import CampaignBoost, CampaignRegistration
from trustflow.catalog import service as catalog_service
from trustflow.config import get_settings
from trustflow.content import service as content_service
from trustflow.scoring.models import ScoreKind, ScoreStatus, Tier
from trustflow.traffic import festival as traffic_festival
from trustflow.traffic import service as traffic_service
from trustflow.traffic.plan import service as plan_service
from trustflow.traffic.plan.models import CandidateKind
from trustflow.vocabulary import ItemKind, Surface

from ..scoring.test_gates import _publish
from .test_campaign_prices import REGISTERED, _festival

WARMUP = datetime(2026, 10, 20, tzinfo=UTC)


def test_an_approved_shop_and_its_products_are_boosted_while_the_festival_runs(
    session: Session,
) -> None:
    category = factories.category(session)
    a = factories.seller(
        session, category_id=category, name="A", at=REGISTERED - timedelta(days=60)
    )
    b = factories.seller(
        session, category_id=category, name="B", at=REGISTERED - timedelta(days=60)
    )
    campaign = session.get_one(CampaignRegistration, _festival(session, a)).campaign_id
    refused = festivals.register(  # stock 100 < 1000: refused, so never boosted
        session,
        campaign_id=campaign,
        request=festivals.RegistrationRequest(
            sku_id=b.sku_id, campaign_price_fen=7_900, quantity=1_000
        ),
        at=REGISTERED,
        actor="merchant:2",
    )
    assert refused.status.value == "refused"

    assert boosts.festival_boosts(session, date(2026, 10, 19)) == (set(), set())  # before warm-up
    assert boosts.festival_boosts(session, date(2026, 10, 20)) == ({a.shop_id}, {a.product_id})
    assert boosts.festival_boosts(session, date(2026, 11, 12)) == (set(), set())  # after

    room, card = (
        plan_service.KINDS.index(k) for k in (CandidateKind.SHOP_ROOM, CandidateKind.PRODUCT_CARD)
    )
    multiplier = plan_service._multipliers(
        session,
        np.array([room, room, card, card]),
        np.array([a.shop_id, b.shop_id, a.product_id, b.product_id]),
        np.array([0, 0, a.shop_id, b.shop_id]),
        date(2026, 11, 1),
    )
    assert multiplier.tolist() == [boosts.FESTIVAL_BOOST, 1.0, boosts.FESTIVAL_BOOST, 1.0]


def _running_festival(session: Session, seller: factories.Seller, traffic_budget: int) -> int:
    campaign = festivals.create_campaign(
        session,
        festivals.CampaignSpec(
            name="116",
            registration_from=datetime(2026, 9, 1, tzinfo=UTC),
            registration_to=datetime(2026, 9, 28, tzinfo=UTC),
            warmup_from=WARMUP,
            main_from=datetime(2026, 10, 28, tzinfo=UTC),
            main_to=datetime(2026, 11, 12, tzinfo=UTC),
            traffic_budget=traffic_budget,
        ),
        actor="operator:1",
        at=REGISTERED,
    ).id
    registration = festivals.register(
        session,
        campaign_id=campaign,
        request=festivals.RegistrationRequest(
            sku_id=seller.sku_id, campaign_price_fen=7_900, quantity=5
        ),
        at=REGISTERED,
        actor="merchant:1",
    )
    festivals.review(
        session,
        registration_id=registration.id,
        approve=True,
        reason="ok",
        actor="op",
        at=REGISTERED,
    )
    return campaign


def _history(session: Session, seller: factories.Seller, day: datetime) -> None:
    """The shop's organic impressions: 700 a day over the week before ``day``, its live the
    evening before, and three new followers that day."""
    for back in range(1, 8):
        traffic_service.log_impression_counts(
            session,
            [Surface.MALL],
            [ItemKind.PRODUCT_CARD],
            [seller.product_id],
            [700],
            shown_at=day - timedelta(days=back, hours=-12),
        )
    live = content_service.schedule_live(
        session, shop_id=seller.shop_id, scheduled_at=day - timedelta(hours=5)
    )
    content_service.start_live(session, live_id=live.id, at=day - timedelta(hours=4))
    for i in range(3):
        buyer = factories.buyer(session, name=f"fan {i}")
        catalog_service.follow_shop(
            session, buyer_id=buyer, shop_id=seller.shop_id, at=day - timedelta(hours=2)
        )


def test_a_shop_is_promised_what_it_earned_and_its_boost(session: Session) -> None:
    seller = factories.seller(
        session, category_id=factories.category(session), at=REGISTERED - timedelta(days=60)
    )
    campaign = _running_festival(session, seller, traffic_budget=1_000_000)
    _history(session, seller, WARMUP)

    day = traffic_festival.promise_boosts(session, campaign, WARMUP.date())
    row = session.scalars(select(CampaignBoost)).one()

    # registering (first warm-up day) 2,000; live the evening before 1,000; 3 followers × 50;
    # the boost: its 4,900 organic impressions of the week, per day, once more: 700
    assert (row.registration_impressions, row.live_impressions, row.fan_impressions) == (
        boosts.REGISTRATION_REWARD,
        boosts.LIVE_REWARD,
        3 * boosts.FAN_REWARD_PER_FOLLOWER,
    )
    assert row.promised_impressions == 2_000 + 1_000 + 150 + 700
    assert (day.shops, day.promised) == (1, 3_850)
    # the day's traffic plan puts the promise on the shop's room as the campaign's reward
    # promise (served as its reward traffic, not Chuanliu's: the Chuanliu promise stays its own)
    room = plan_service.KINDS.index(CandidateKind.SHOP_ROOM)
    rooms, shops = np.array([room]), np.array([seller.shop_id])
    promised, campaign_of, unlabelled = plan_service._campaign_promises(
        session, WARMUP.date(), rooms, shops
    )
    assert (promised.tolist(), campaign_of.tolist(), unlabelled.tolist()) == (
        [3_850],
        [campaign],
        [0],
    )
    assert plan_service._guarantees(session, WARMUP.date(), rooms, shops).tolist() == [0]
    chuanliu = plan_service._promises(session, WARMUP.date(), rooms, shops, get_settings())
    assert chuanliu.tolist() == [0]
    # promising the day again changes nothing
    assert traffic_festival.promise_boosts(session, campaign, WARMUP.date()).promised == 3_850


def test_rewards_come_first_when_the_traffic_budget_runs_short(session: Session) -> None:
    seller = factories.seller(
        session, category_id=factories.category(session), at=REGISTERED - timedelta(days=60)
    )
    campaign = _running_festival(session, seller, traffic_budget=2_500)
    _history(session, seller, WARMUP)

    traffic_festival.promise_boosts(session, campaign, WARMUP.date())
    row = session.scalars(select(CampaignBoost)).one()

    # 2,500 to give: the registration reward whole, 500 of the live reward, nothing more
    assert (row.registration_impressions, row.live_impressions, row.fan_impressions) == (
        2_000,
        500,
        0,
    )
    assert row.promised_impressions == 2_500
    next_day = WARMUP.date() + timedelta(days=1)
    assert traffic_festival.promise_boosts(session, campaign, next_day).promised == 0


def test_the_fan_reward_is_capped_per_day() -> None:
    assert boosts.rewards(first_day=False, went_live=False, new_followers=10_000).fans == (
        boosts.FAN_REWARD_CAP
    )
    assert boosts.rewards(first_day=False, went_live=False, new_followers=-3).total == 0


def test_a_new_products_card_weighs_more_while_it_is_new(session: Session) -> None:
    day = date(2026, 11, 1)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    category = factories.category(session)
    new = factories.seller(session, category_id=category, name="N", at=start - timedelta(days=10))
    old = factories.seller(session, category_id=category, name="O", at=start - timedelta(days=91))
    card = plan_service.KINDS.index(CandidateKind.PRODUCT_CARD)

    multiplier = plan_service._multipliers(
        session,
        np.array([card, card]),
        np.array([new.product_id, old.product_id]),
        np.array([new.shop_id, old.shop_id]),
        day,
    )

    assert multiplier.tolist() == [rules.NEW_PRODUCT_BOOST, 1.0]


def test_benchmark_fast_brands_are_guaranteed_traffic_in_the_plan(session: Session) -> None:
    category = factories.category(session)
    good = factories.seller(session, category_id=category, name="G")
    fair = factories.seller(session, category_id=category, name="F")
    held = factories.seller(session, category_id=category, name="H")
    _publish(
        session,
        (ScoreKind.STORE, good.shop_id, 85.0, Tier.GOOD, ScoreStatus.SCORED, False),
        (ScoreKind.STORE, fair.shop_id, 70.0, Tier.FAIR, ScoreStatus.SCORED, False),
        (ScoreKind.STORE, held.shop_id, 90.0, Tier.EXCELLENT, ScoreStatus.SCORED, True),
    )
    room = plan_service.KINDS.index(CandidateKind.SHOP_ROOM)

    assert fast_brands.benchmark_fast_brands(session) == [good.shop_id]
    guaranteed = plan_service._guarantees(
        session,
        date(2026, 11, 1),
        np.array([room] * 3),
        np.array([good.shop_id, fair.shop_id, held.shop_id]),
    )
    assert guaranteed.tolist() == [rules.FAST_BRAND_GUARANTEE, 0, 0]


def test_promising_days_out_of_order_never_passes_the_traffic_budget(session: Session) -> None:
    seller = factories.seller(
        session, category_id=factories.category(session), at=REGISTERED - timedelta(days=60)
    )
    campaign = _running_festival(session, seller, traffic_budget=2_500)
    _history(session, seller, WARMUP)
    later = WARMUP.date() + timedelta(days=1)

    traffic_festival.promise_boosts(session, campaign, later)  # the later day first
    traffic_festival.promise_boosts(session, campaign, WARMUP.date())

    total = session.scalar(select(func.sum(CampaignBoost.promised_impressions)))
    assert total == 2_500
