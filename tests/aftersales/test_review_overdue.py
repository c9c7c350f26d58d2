"""A buyer whose parcel is past its promised delivery may review the order; one still within
its promise, or cancelled, may not. The service and the bulk path decide alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests import factories
from trustflow.aftersales import bulk as aftersales_bulk
from trustflow.aftersales import service as aftersales_service
from trustflow.aftersales.models import Review
from trustflow.errors import ErrorCode, IllegalTransition
from trustflow.orders import rules as order_rules
from trustflow.orders import service as orders_service
from trustflow.orders.models import CancelReason, Order, OrderStatus

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


def _shipped(session: Session, key: str) -> Order:
    """An order paid at T0 and handed to the carrier, never delivered; promised by
    ``deliver_by`` (the default handling and transit times: 5 days)."""
    cat = factories.category(session, code=f"c{key}")
    sold = factories.seller(session, category_id=cat, name=f"S{key}", at=T0)
    buyer = factories.buyer(session, f"b{key}")
    order = factories.paid_order(session, buyer_id=buyer, sku_id=sold.sku_id, key=key, at=T0)
    orders_service.ship_order(session, order_id=order.id, at=T0 + timedelta(hours=6))
    return order


def _reviews(session: Session, order_id: int) -> int:
    return session.scalar(select(func.count()).where(Review.order_id == order_id)) or 0


def test_the_rule_reads_the_status_and_the_promise() -> None:
    due = T0 + timedelta(days=5)
    before, after = due - timedelta(seconds=1), due + timedelta(seconds=1)

    assert order_rules.reviewable(OrderStatus.DELIVERED, due, before)
    assert order_rules.reviewable(OrderStatus.RECEIVED, None, before)
    assert order_rules.reviewable(OrderStatus.PICKED_UP, due, after)
    assert order_rules.reviewable(OrderStatus.PAID, due, after)
    assert not order_rules.reviewable(OrderStatus.SHIPPED, due, before)
    assert not order_rules.reviewable(OrderStatus.SHIPPED, None, after)
    assert not order_rules.reviewable(OrderStatus.CANCELLED, due, after)
    assert not order_rules.reviewable(OrderStatus.PENDING_PAYMENT, due, after)


def test_an_overdue_undelivered_order_can_be_reviewed_one_at_a_time(session: Session) -> None:
    order = _shipped(session, "s")
    assert order.deliver_by is not None
    at = order.deliver_by + timedelta(days=1)

    review = aftersales_service.submit_review(session, order_id=order.id, stars=1, at=at)

    assert (review.order_id, review.stars, review.created_at) == (order.id, 1, at)
    assert orders_service.get_order(session, order.id).status is OrderStatus.SHIPPED


def test_an_overdue_undelivered_order_can_be_reviewed_in_bulk(session: Session) -> None:
    order = _shipped(session, "b")
    assert order.deliver_by is not None
    at = order.deliver_by + timedelta(days=1)

    ids = aftersales_bulk.submit_reviews(session, np.array([order.id]), np.array([2]), [at])

    assert ids[0] > 0
    assert _reviews(session, order.id) == 1


def test_an_order_within_its_promise_cannot_be_reviewed(session: Session) -> None:
    order = _shipped(session, "w")
    assert order.deliver_by is not None
    at = order.deliver_by - timedelta(hours=1)

    with pytest.raises(IllegalTransition) as refused:
        aftersales_service.submit_review(session, order_id=order.id, stars=1, at=at)
    ids = aftersales_bulk.submit_reviews(session, np.array([order.id]), np.array([1]), [at])

    assert refused.value.code is ErrorCode.ILLEGAL_TRANSITION
    assert ids.tolist() == [0]
    assert _reviews(session, order.id) == 0


def test_a_cancelled_order_cannot_be_reviewed_even_past_its_promise(session: Session) -> None:
    order = _shipped(session, "c")
    assert order.deliver_by is not None
    orders_service.cancel_order(
        session,
        order_id=order.id,
        at=T0 + timedelta(days=1),
        actor="seller",
        reason=CancelReason.LOST_IN_TRANSIT,
    )
    at = order.deliver_by + timedelta(days=1)

    with pytest.raises(IllegalTransition) as refused:
        aftersales_service.submit_review(session, order_id=order.id, stars=1, at=at)
    ids = aftersales_bulk.submit_reviews(session, np.array([order.id]), np.array([1]), [at])

    assert refused.value.code is ErrorCode.ILLEGAL_TRANSITION
    assert ids.tolist() == [0]
    assert _reviews(session, order.id) == 0
