"""The buyer's guarantees on a line: each rule's accept and refuse paths, with the numbers it
answers with."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from tests import factories
from trustflow.aftersales import service as aftersales_service
from trustflow.aftersales.guarantees import Answer, LineFacts, answers, line_facts
from trustflow.aftersales.models import ActorRole, AfterSalesKind, AfterSalesReason
from trustflow.aftersales.rules import Actor
from trustflow.catalog import service as catalog_service
from trustflow.errors import NotFound
from trustflow.orders import service as orders_service

AT = datetime(2026, 6, 30, 12, tzinfo=UTC)
#: a long-standing, well-behaved buyer with a 39.90 line delivered two days ago
FACTS = LineFacts(
    at=AT,
    line_paid_fen=3_990,
    category_codes=("tees", "apparel"),
    delivered_at=AT - timedelta(days=2),
    account_days=400,
    orders_received=20,
    orders_refunded=1,
    refund_only_30d=0,
    refund_only_history=0,
)


def _answer(rule: str, **changes: object) -> Answer:
    (found,) = [a for a in answers(replace(FACTS, **changes)) if a.rule == rule]  # type: ignore[arg-type]
    return found


def test_no_reason_return_within_seven_days_outside_excluded_categories() -> None:
    assert _answer("no_reason_return").eligible
    late = _answer("no_reason_return", delivered_at=AT - timedelta(days=7, seconds=1))
    fresh = _answer("no_reason_return", category_codes=("cherries", "fresh_food"))
    assert (late.eligible, late.reason) == (
        False,
        "delivered 7 days ago: no-reason returns close 7 days after delivery",
    )
    assert fresh.reason == "category fresh_food is excluded from no-reason returns"
    assert _answer("no_reason_return", delivered_at=None).reason == (
        "the order has not been delivered"
    )


def test_refund_without_return_by_value_or_clean_history_and_capped() -> None:
    cheap = _answer("refund_without_return", refund_only_history=2)
    dear_clean = _answer("refund_without_return", line_paid_fen=12_900)
    dear_not_clean = _answer("refund_without_return", line_paid_fen=12_900, refund_only_history=2)
    capped = _answer("refund_without_return", refund_only_30d=3)

    assert (cheap.eligible, cheap.reason) == (True, "line 39.90 <= 50.00")
    assert dear_clean.eligible
    assert dear_clean.reason == ("line 129.00 > 50.00, but no refund without a return in 90 days")
    assert (dear_not_clean.eligible, dear_not_clean.reason) == (
        False,
        "line 129.00 > 50.00, and 2 refunds without a return in 90 days",
    )
    assert (capped.eligible, capped.reason) == (
        False,
        "3 refunds without a return in the last 30 days: the cap is 3",
    )
    assert _answer("refund_without_return", line_paid_fen=5_000).eligible  # the threshold itself


def test_fast_refund_for_trusted_buyers_under_the_cap() -> None:
    trusted = _answer("fast_refund")
    new = _answer("fast_refund", account_days=30, orders_received=2)
    refunder = _answer("fast_refund", orders_refunded=3)
    dear = _answer("fast_refund", line_paid_fen=200_001)

    assert (trusted.eligible, trusted.amount_fen) == (True, 3_990)
    assert new.reason == "account 30 days old < 180; 2 orders received < 5"
    assert refunder.reason == "3 of 20 orders refunded (15.00% > 10.00%)"
    assert dear.reason == "line 2000.01 > the fast-refund cap 2000.00"


@pytest.mark.parametrize(
    ("kind", "reason", "eligible"),
    [
        (AfterSalesKind.RETURN_REFUND, AfterSalesReason.NO_REASON_7DAY, True),
        (AfterSalesKind.RETURN_REFUND, AfterSalesReason.QUALITY, True),
        (AfterSalesKind.RETURN_REFUND, AfterSalesReason.CHANGED_MIND, False),
        (AfterSalesKind.REFUND_ONLY, AfterSalesReason.QUALITY, False),
    ],
)
def test_return_shipping_for_no_reason_and_the_merchants_fault(
    kind: AfterSalesKind, reason: AfterSalesReason, eligible: bool
) -> None:
    answer = _answer("return_shipping", kind=kind, reason=reason)
    assert answer.eligible is eligible
    assert answer.amount_fen == (1_000 if eligible else None)


def test_authenticity_pays_the_multiple_once_an_inspection_says_fake() -> None:
    fake = _answer("authenticity", inspection_fake=True)
    assert (fake.eligible, fake.amount_fen) == (True, 39_900)
    assert fake.reason == "the inspection found the goods fake: 10 x 39.90 = 399.00"
    assert not _answer("authenticity", inspection_fake=False).eligible
    assert _answer("authenticity").reason.startswith("no inspection verdict yet")


def test_the_used_phone_warranty_lasts_180_days() -> None:
    phone = ("iphones", "used_phones")
    assert _answer("used_phone_warranty", category_codes=phone).eligible
    late = _answer(
        "used_phone_warranty",
        category_codes=phone,
        delivered_at=AT - timedelta(days=181),
    )
    assert late.reason == "delivered 181 days ago: the warranty lasts 180 days"
    assert _answer("used_phone_warranty").reason == "not a used phone"


def test_the_facts_come_from_the_store(session: Session) -> None:
    phones = catalog_service.create_category(session, code="used_phones", name="Used phones")
    iphones = catalog_service.create_category(
        session, code="iphones", name="iPhones", parent_id=phones.id
    )
    start = AT - timedelta(days=60)
    seller = factories.seller(session, category_id=iphones.id, price_fen=129_900, at=start)
    buyer = factories.buyer(session)
    orders = factories.delivered_orders(session, seller, buyer_id=buyer, count=3, start=start)
    request = aftersales_service.request_after_sales(
        session,
        order_id=orders[0],
        kind=AfterSalesKind.REFUND_ONLY,
        reason=AfterSalesReason.QUALITY,
        actor=Actor(ActorRole.BUYER),
        at=start + timedelta(days=3),
    )
    aftersales_service.approve(
        session,
        request_id=request.id,
        actor=Actor(ActorRole.MERCHANT),
        at=start + timedelta(days=3),
    )
    line = orders_service.order_lines(session, orders[2])[0]

    facts = line_facts(session, order_id=orders[2], line_id=line.id, at=AT)

    assert facts.category_codes == ("iphones", "used_phones")
    assert (facts.orders_received, facts.orders_refunded) == (3, 1)
    # refunded 57 days ago: inside the 90-day window, outside the last 30 days
    assert (facts.refund_only_30d, facts.refund_only_history) == (0, 1)
    assert facts.line_paid_fen == 129_900
    by_rule = {a.rule: a for a in answers(facts)}
    assert by_rule["used_phone_warranty"].eligible
    assert by_rule["refund_without_return"].reason == (
        "line 1299.00 > 50.00, and 1 refund without a return in 90 days"
    )
    with pytest.raises(NotFound):
        line_facts(session, order_id=orders[1], line_id=line.id, at=AT)
