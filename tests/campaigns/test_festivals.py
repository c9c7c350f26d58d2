"""Festivals and registration: windows, every refusal with its numbers, and an operator's
review, each leaving its reason on the record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests import factories
from trustflow.campaigns import festivals, rules
from trustflow.campaigns.models import CampaignEvent, RegistrationStatus
from trustflow.catalog import service as catalog_service
from trustflow.catalog.models import ListingStatus, ShopStatus
from trustflow.errors import Conflict, ErrorCode, IllegalTransition, InvalidInput
from trustflow.scoring.models import Tier

#: the 116 festival: registration in September, warm-up in late October, main to Nov 11
REG_FROM = datetime(2026, 9, 1, tzinfo=UTC)
AT = datetime(2026, 9, 10, tzinfo=UTC)


def _campaign(session: Session, **overrides: object) -> int:
    values: dict[str, object] = {
        "name": "116 shopping festival",
        "registration_from": REG_FROM,
        "registration_to": datetime(2026, 9, 28, tzinfo=UTC),
        "warmup_from": datetime(2026, 10, 20, tzinfo=UTC),
        "main_from": datetime(2026, 10, 28, tzinfo=UTC),
        "main_to": datetime(2026, 11, 12, tzinfo=UTC),
        "min_tier": Tier.GOOD,
        "subsidy_budget_fen": 100_000_000,
    }
    spec = festivals.CampaignSpec(**(values | overrides))  # type: ignore[arg-type]
    return festivals.create_campaign(session, spec, actor="operator:1", at=AT).id


def _seller(session: Session, *, stock: int = 500, name: str = "Shop") -> factories.Seller:
    """A shop whose SKU sold at 99.00, dropped to 79.00 twenty days ago, and is 99.00 again."""
    seller = factories.seller(
        session,
        category_id=factories.category(session, name.lower()),
        stock=stock,
        name=name,
        at=AT - timedelta(days=60),
    )
    catalog_service.change_price(
        session, sku_id=seller.sku_id, price_fen=7_900, at=AT - timedelta(days=20)
    )
    catalog_service.change_price(
        session, sku_id=seller.sku_id, price_fen=9_900, at=AT - timedelta(days=5)
    )
    return seller


def _register(session: Session, campaign: int, sku: int, **fields: object) -> object:
    values: dict[str, object] = {"sku_id": sku, "campaign_price_fen": 7_900, "quantity": 100}
    request = festivals.RegistrationRequest(**(values | fields))  # type: ignore[arg-type]
    return festivals.register(
        session, campaign_id=campaign, request=request, at=AT, actor="merchant:1"
    )


def test_windows_out_of_order_are_refused_with_each_pair(session: Session) -> None:
    with pytest.raises(InvalidInput) as refused:
        _campaign(session, warmup_from=datetime(2026, 11, 20, tzinfo=UTC))
    assert "warmup_from 2026-11-20T00:00:00+00:00 is after main_from" in refused.value.message


def test_registration_outside_its_window_is_refused_with_the_windows_times(
    session: Session,
) -> None:
    campaign = _campaign(session, registration_from=AT + timedelta(days=1))
    seller = _seller(session)
    with pytest.raises(rules.OutsideWindow) as refused:
        _register(session, campaign, seller.sku_id)
    assert refused.value.code is ErrorCode.CAMPAIGN_WINDOW_CLOSED
    assert refused.value.details == {
        "opens": "2026-09-11T00:00:00+00:00",
        "closes": "2026-09-28T00:00:00+00:00",
    }


@pytest.mark.parametrize(
    ("fields", "code", "message"),
    [
        (
            {"campaign_price_fen": 8_900},
            "price_above_30d_low",
            "campaign price 89.00 > 30-day low 79.00",
        ),
        ({"quantity": 501}, "stock_short", "stock 500 < campaign quantity 501"),
        (
            {
                "c_position": True,
                "benchmark_price_fen": 7_500,
                "commission_floor_bps": 1_500,
                "commission_bps": 1_500,
            },
            "price_above_benchmark",
            "campaign price 79.00 > benchmark promotion price 75.00",
        ),
        (
            {
                "c_position": True,
                "benchmark_price_fen": 8_000,
                "commission_floor_bps": 1_500,
                "commission_bps": 1_000,
            },
            "commission_below_floor",
            "commission 10.00% < declared floor 15.00%",
        ),
        ({"c_position": True}, "c_position_undeclared", "declares the benchmark platform's"),
    ],
)
def test_each_rule_refuses_with_its_numbers(
    session: Session, fields: dict[str, object], code: str, message: str
) -> None:
    campaign = _campaign(session)
    seller = _seller(session)

    registration = _register(session, campaign, seller.sku_id, **fields)

    assert registration.status is RegistrationStatus.REFUSED  # type: ignore[attr-defined]
    reasons = registration.reasons  # type: ignore[attr-defined]
    assert [r["code"] for r in reasons] == [code]
    assert message in reasons[0]["message"]
    assert reasons[0]["message_zh"]


def test_a_suspended_shop_a_delisted_product_and_a_shop_without_the_tier_are_refused(
    session: Session,
) -> None:
    campaign = _campaign(session, min_tier=Tier.EXCELLENT)
    seller = _seller(session)
    catalog_service.set_shop_status(session, shop_id=seller.shop_id, status=ShopStatus.SUSPENDED)
    catalog_service.set_listing_status(
        session, product_id=seller.product_id, status=ListingStatus.DELISTED
    )

    registration = _register(session, campaign, seller.sku_id)

    codes = [r["code"] for r in registration.reasons]  # type: ignore[attr-defined]
    assert codes == ["no_score", "shop_not_active", "product_not_listed"]
    assert "needs a proven excellent" in registration.reasons[0]["message"]  # type: ignore[attr-defined]


def test_a_clean_registration_waits_for_review_and_the_operator_decides_with_a_reason(
    session: Session,
) -> None:
    campaign = _campaign(session)
    seller = _seller(session)
    registration = _register(session, campaign, seller.sku_id)
    assert registration.status is RegistrationStatus.PENDING  # type: ignore[attr-defined]
    with pytest.raises(Conflict) as twice:
        _register(session, campaign, seller.sku_id)
    assert twice.value.code is ErrorCode.DUPLICATE
    with pytest.raises(InvalidInput, match="needs a reason"):
        festivals.review(
            session,
            registration_id=registration.id,
            approve=True,
            reason=" ",
            actor="op",
            at=AT,  # type: ignore[attr-defined]
        )

    approved = festivals.review(
        session,
        registration_id=registration.id,  # type: ignore[attr-defined]
        approve=True,
        reason="main venue, apparel row",
        actor="operator:7",
        at=AT,
    )

    assert (approved.status, approved.review_reason) == (
        RegistrationStatus.APPROVED,
        "main venue, apparel row",
    )
    with pytest.raises(IllegalTransition):
        festivals.override(
            session, registration_id=approved.id, reason="again", actor="operator:7", at=AT
        )
    trail = session.scalars(
        select(
            CampaignEvent.action,
        ).where(CampaignEvent.registration_id == approved.id)
    ).all()
    assert trail == ["register", "approve"]


def test_a_refusal_can_be_overridden_or_fixed_and_registered_again(session: Session) -> None:
    campaign = _campaign(session)
    first, second = _seller(session, name="First"), _seller(session, name="Second")
    refused = _register(session, campaign, first.sku_id, campaign_price_fen=8_900)
    again = _register(session, campaign, second.sku_id, campaign_price_fen=8_900)

    overridden = festivals.override(
        session,
        registration_id=refused.id,  # type: ignore[attr-defined]
        reason="brand day: price agreed with the category team",
        actor="operator:7",
        at=AT,
    )
    fixed = _register(session, campaign, second.sku_id, campaign_price_fen=7_800)

    assert overridden.status is RegistrationStatus.APPROVED
    assert overridden.reasons[0]["code"] == "price_above_30d_low"  # the refusal stays on record
    assert fixed.id == again.id  # type: ignore[attr-defined]
    assert (fixed.status, fixed.reasons) == (RegistrationStatus.PENDING, [])  # type: ignore[attr-defined]
