"""Violations and graduated penalties: points by rule for a year; at 12 the traffic plan
holds the shop down, at 24 campaigns and Chuanliu refuse it, at 48 it is closed; revoked
points and expired ones count no more; traffic, Chuanliu and campaigns read one standing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests import factories
from tests.integration.test_concurrency import _run_together
from trustflow.campaigns import festivals
from trustflow.catalog import service as catalog_service
from trustflow.catalog.models import ShopStatus
from trustflow.db import transaction
from trustflow.errors import IllegalTransition, InvalidInput
from trustflow.governance import listings, penalties
from trustflow.governance.models import ListingInterception
from trustflow.governance.penalties import PenaltyLevel
from trustflow.traffic.chuanliu.eligibility import eligibility
from trustflow.traffic.chuanliu.rules import DecisionCode
from trustflow.traffic.plan import service as plan_service
from trustflow.traffic.plan.models import CandidateKind

from ..campaigns.setup import REGISTERED, festival, listed_seller

AT = datetime(2026, 3, 1, tzinfo=UTC)


def _violate(s: Session, shop_id: int, rule: str, at: datetime = AT) -> penalties.Standing:
    _, now = catalog_service.record_violation(
        s, shop_id=shop_id, rule=rule, reason="found on patrol", actor="operator:1", at=at
    )
    return now


def test_points_climb_the_levels_and_expire_a_year_later(session: Session) -> None:
    seller = factories.seller(session, category_id=factories.category(session), at=AT)
    climb = [
        _violate(session, seller.shop_id, rule)
        for rule in ("misleading_listing", "price_fraud", "fake_shipment", "unauthorised_brand")
    ]

    assert [(s.points, s.level) for s in climb] == [
        (2, PenaltyLevel.WARNING),
        (8, PenaltyLevel.WARNING),
        (14, PenaltyLevel.TRAFFIC_LIMIT),
        (26, PenaltyLevel.CAMPAIGN_BAN),
    ]
    later = AT + timedelta(days=penalties.POINTS_VALID_DAYS)
    assert penalties.standing(session, seller.shop_id, later - timedelta(seconds=1)).points == 26
    assert penalties.standing(session, seller.shop_id, later).level is PenaltyLevel.NONE


def test_forty_eight_points_close_the_shop_and_a_revoked_violation_counts_no_more(
    session: Session,
) -> None:
    seller = factories.seller(session, category_id=factories.category(session), at=AT)
    first = _violate(session, seller.shop_id, "prohibited_item")
    violation, _ = catalog_service.record_violation(
        session,
        shop_id=seller.shop_id,
        rule="price_fraud",
        reason="raised before the festival",
        actor="operator:1",
        at=AT,
    )
    penalties.revoke_violation(
        session, violation_id=violation.id, reason="the raise predates it", actor="op", at=AT
    )
    with pytest.raises(IllegalTransition):
        penalties.revoke_violation(
            session, violation_id=violation.id, reason="again", actor="op", at=AT
        )
    open_shop = catalog_service.get_shop(session, seller.shop_id).status
    closing = _violate(session, seller.shop_id, "prohibited_item")

    assert (first.points, open_shop) == (24, ShopStatus.ACTIVE)
    assert (closing.points, closing.level) == (48, PenaltyLevel.SHOP_CLOSURE)
    assert catalog_service.get_shop(session, seller.shop_id).status is ShopStatus.CLOSED
    with pytest.raises(InvalidInput) as unknown:
        _violate(session, seller.shop_id, "rudeness")
    assert "no violation rule 'rudeness'" in unknown.value.message


def test_traffic_chuanliu_and_campaigns_read_one_standing(session: Session) -> None:
    category = factories.category(session)
    limited = listed_seller(session, "Limited", category=category)
    banned = listed_seller(session, "Banned", category=category)
    clean = listed_seller(session, "Clean", category=category)
    day = (REGISTERED + timedelta(days=1)).date()
    _violate(session, limited.shop_id, "unauthorised_brand", at=REGISTERED)
    _violate(session, banned.shop_id, "prohibited_item", at=REGISTERED)

    room, card = (
        plan_service.KINDS.index(k) for k in (CandidateKind.SHOP_ROOM, CandidateKind.PRODUCT_CARD)
    )
    sellers = (limited, banned, clean)
    multipliers = plan_service._multipliers(
        session,
        np.array([room] * 3 + [card] * 3),
        np.array([s.shop_id for s in sellers] + [s.product_id for s in sellers]),
        np.array([s.shop_id for s in sellers] * 2),
        day,
    )
    decisions = {d.shop_id: d for d in eligibility(session, day)}
    campaign = festival(session)
    refused = festivals.register(
        session,
        campaign_id=campaign,
        request=festivals.RegistrationRequest(
            sku_id=banned.sku_id, campaign_price_fen=7_900, quantity=10
        ),
        at=REGISTERED + timedelta(days=1),
        actor="merchant",
    )

    # the limited and the banned shop's room and card at most ×0.5, though the cards are new
    # (the new-product boost lifts only the clean shop's card: ×1.3)
    assert multipliers.tolist() == [0.5, 0.5, 1.0, 0.5, 0.5, 1.3]
    assert decisions[banned.shop_id].code is DecisionCode.UNDER_PENALTY
    assert DecisionCode.UNDER_PENALTY not in decisions[limited.shop_id].failed
    assert refused.reasons[0] == {
        "code": "under_penalty",
        "message": "the shop carries 24 violation points (a campaign ban from 24): no campaign"
        " registration",
        "message_zh": "店铺违规扣分 24 分（24 分起禁止报名活动）",
    }


def test_an_upheld_interception_records_its_violation_once(session: Session) -> None:
    listings.register_brand(session, name="Nike", actor="operator:1")
    seller = factories.seller(session, category_id=factories.category(session), at=AT)
    product = catalog_service.create_product(
        session, shop_id=seller.shop_id, title="Nike Air", at=AT
    )
    (interception,) = session.scalars(
        select(ListingInterception.id).where(ListingInterception.product_id == product.id)
    )
    listings.appeal(session, interception_id=interception, text="ours", at=AT)

    catalog_service.decide_interception(
        session, interception_id=interception, uphold=True, reason="no licence", actor="op", at=AT
    )

    now = penalties.standing(session, seller.shop_id, AT)
    assert (now.points, now.level) == (12, PenaltyLevel.TRAFFIC_LIMIT)


def test_violations_recorded_at_once_each_count_toward_closure(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as s:
        seller = factories.seller(s, category_id=factories.category(s), at=AT)
        _violate(s, seller.shop_id, "prohibited_item")  # 24 points

    def record(_: int) -> int:
        with transaction(factory) as s:
            return _violate(s, seller.shop_id, "unauthorised_brand").points

    seen = _run_together(2, record)

    # one saw 36, the other 48: the shop is closed
    assert sorted(seen) == [36, 48]  # type: ignore[type-var]
    with factory() as s:
        assert catalog_service.get_shop(s, seller.shop_id).status is ShopStatus.CLOSED


def test_a_reason_with_a_control_character_is_refused(session: Session) -> None:
    seller = factories.seller(session, category_id=factories.category(session), at=AT)
    with pytest.raises(InvalidInput) as refused:
        catalog_service.record_violation(
            session,
            shop_id=seller.shop_id,
            rule="fake_shipment",
            reason="no parcel\x1b[31m",
            actor="op",
            at=AT,
        )
    assert refused.value.message == (
        "a violation needs a reason of 1..500 characters, no control characters"
    )
