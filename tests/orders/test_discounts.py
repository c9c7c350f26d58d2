"""Discounts the server gives on an order awaiting payment: the line is priced again by the
placement rules (the platform's share does not cut the creator's commission)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session

from tests import factories
from trustflow.errors import IllegalTransition, InvalidInput
from trustflow.orders import service as orders_service
from trustflow.orders.models import OrderLine
from trustflow.vocabulary import Channel

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


def _pending(session: Session) -> tuple[int, int]:
    seller = factories.seller(session, category_id=factories.category(session), at=T0)
    creator, _ = factories.creator_selling(session, seller.product_id, at=T0)  # at 20%
    order = orders_service.place_order(
        session,
        orders_service.OrderRequest(
            buyer_id=factories.buyer(session),
            sku_id=seller.sku_id,
            quantity=2,
            channel=Channel.DISTRIBUTION,
            creator_id=creator,
            idempotency_key="o",
        ),
        at=T0,
    )
    (line,) = orders_service.order_lines(session, order.id)
    return order.id, line.id


def test_the_merchants_share_cuts_commission_and_the_platforms_does_not(session: Session) -> None:
    order_id, line_id = _pending(session)

    order = orders_service.discount_lines(
        session, order_id=order_id, discounts={line_id: (1_000, 500)}, at=T0, actor="campaigns"
    )

    line = session.get_one(OrderLine, line_id)
    # 2 × 99.00 = 198.00; commission 20% of 198.00 − 10.00 (the merchant's share) = 37.60
    assert (line.paid_amount_fen, line.commission_fen) == (19_800 - 1_500, 3_760)
    assert (order.paid_amount_fen, order.commission_fen) == (18_300, 3_760)
    assert (order.merchant_discount_fen, order.platform_discount_fen) == (1_000, 500)
    assert [e.action for e in orders_service.order_events(session, order_id)][-1] == "discount"


def test_no_discount_beyond_what_is_left_to_pay_nor_after_payment(session: Session) -> None:
    order_id, line_id = _pending(session)
    with pytest.raises(InvalidInput, match="exceed what is left to pay"):
        orders_service.discount_lines(
            session, order_id=order_id, discounts={line_id: (19_000, 801)}, at=T0, actor="x"
        )
    orders_service.pay_order(session, order_id=order_id, idempotency_key="pay", at=T0)
    with pytest.raises(IllegalTransition):
        orders_service.discount_lines(
            session, order_id=order_id, discounts={line_id: (100, 0)}, at=T0, actor="x"
        )
