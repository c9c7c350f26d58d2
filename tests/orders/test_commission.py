"""Commission from payment to settlement: accrued, reversed in the refunded share, settled once
the after-sales window closed, each event once, alike on the service and the bulk path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests import factories
from trustflow.aftersales import bulk as aftersales_bulk
from trustflow.aftersales import service as aftersales_service
from trustflow.aftersales.models import ActorRole, AfterSalesKind, AfterSalesReason
from trustflow.aftersales.rules import AFTER_SALES_WINDOW, Actor
from trustflow.aftersales.settlement import settle_commissions
from trustflow.errors import IllegalTransition, InvalidInput
from trustflow.orders import bulk as orders_bulk
from trustflow.orders import commission
from trustflow.orders import rules as order_rules
from trustflow.orders import service as orders_service
from trustflow.orders.models import CancelReason, CommissionEntry
from trustflow.vocabulary import Channel

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
BUYER = Actor(ActorRole.BUYER)
MERCHANT = Actor(ActorRole.MERCHANT)


@pytest.fixture
def sold(session: Session) -> tuple[factories.Seller, int, int]:
    """A shop selling at 99.00 yuan, a creator distributing it at 20%, and a buyer."""
    seller = factories.seller(session, category_id=factories.category(session), at=T0)
    creator, _ = factories.creator_selling(session, seller.product_id, at=T0)
    buyer = factories.buyer(session)
    session.commit()
    return seller, creator, buyer


def _entries(session: Session, order_id: int) -> list[tuple[str, str, int]]:
    session.expire_all()
    return [
        (e.kind.value, e.event_key, e.amount_fen)
        for e in session.scalars(
            select(CommissionEntry)
            .where(CommissionEntry.order_id == order_id)
            .order_by(CommissionEntry.id)
        )
    ]


def _delivered(session: Session, sold: tuple[factories.Seller, int, int], key: str) -> int:
    seller, creator, buyer = sold
    order = factories.paid_order(
        session,
        buyer_id=buyer,
        sku_id=seller.sku_id,
        key=key,
        quantity=2,
        channel=Channel.DISTRIBUTION,
        creator_id=creator,
        at=T0,
    )
    orders_service.ship_order(session, order_id=order.id, at=T0 + timedelta(hours=5))
    orders_service.deliver_order(session, order_id=order.id, at=T0 + timedelta(days=2))
    session.commit()
    return order.id


def _refund(session: Session, order_id: int, fen: int, at: datetime) -> int:
    request = aftersales_service.request_after_sales(
        session,
        order_id=order_id,
        kind=AfterSalesKind.REFUND_ONLY,
        reason=AfterSalesReason.QUALITY,
        refund_fen=fen,
        actor=BUYER,
        at=at,
    )
    aftersales_service.approve(session, request_id=request.id, actor=MERCHANT, at=at)
    session.commit()
    return request.id


@given(
    commission_fen=st.integers(0, 10**7),
    paid_fen=st.integers(1, 10**8),
    cuts=st.lists(st.floats(0, 1, allow_nan=False), max_size=6),
)
def test_refunds_in_parts_reverse_exactly_the_whole_commission(
    commission_fen: int, paid_fen: int, cuts: list[float]
) -> None:
    points = sorted({int(paid_fen * c) for c in cuts} | {paid_fen})
    totals = commission.reversed_total_fen(commission_fen, points, paid_fen)

    steps = np.diff(np.concatenate([[0], totals]))
    assert (steps >= 0).all()  # a later refund never gives commission back to the creator
    assert totals[-1] == commission_fen  # the whole payment back: the whole commission back


def test_payment_accrues_the_frozen_commission_and_a_partial_refund_takes_its_share(
    session: Session, sold: tuple[factories.Seller, int, int]
) -> None:
    order_id = _delivered(session, sold, "o1")
    order = orders_service.get_order(session, order_id)
    assert order.commission_fen == 3_960  # 20% of 2 x 99.00

    request_id = _refund(session, order_id, order.paid_amount_fen // 4, T0 + timedelta(days=3))

    assert _entries(session, order_id) == [
        ("accrued", "accrue", 3_960),
        ("reversed", commission.reverse_key(request_id), 990),
    ]


def test_a_refund_is_reversed_once_however_often_it_is_approved(
    session: Session, sold: tuple[factories.Seller, int, int]
) -> None:
    order_id = _delivered(session, sold, "o2")
    request_id = _refund(session, order_id, 9_900, T0 + timedelta(days=3))

    with pytest.raises(IllegalTransition):
        aftersales_service.approve(session, request_id=request_id, actor=MERCHANT)
    session.rollback()
    again = aftersales_bulk.advance_requests(
        session, np.array([request_id]), "approve", T0 + timedelta(days=4), actor=MERCHANT
    )
    session.commit()

    assert len(again) == 0
    assert [e for e in _entries(session, order_id) if e[0] == "reversed"] == [
        ("reversed", commission.reverse_key(request_id), 1_980)
    ]


def test_a_paid_order_cancelled_gives_back_all_its_commission_and_an_unpaid_one_books_nothing(
    session: Session, sold: tuple[factories.Seller, int, int]
) -> None:
    seller, creator, buyer = sold
    paid = factories.paid_order(
        session,
        buyer_id=buyer,
        sku_id=seller.sku_id,
        key="paid",
        channel=Channel.DISTRIBUTION,
        creator_id=creator,
        at=T0,
    )
    unpaid = orders_service.place_order(
        session,
        orders_service.OrderRequest(
            buyer_id=buyer,
            sku_id=seller.sku_id,
            quantity=1,
            channel=Channel.DISTRIBUTION,
            idempotency_key="unpaid",
            creator_id=creator,
        ),
        at=T0,
    )
    for order in (paid, unpaid):
        orders_service.cancel_order(
            session, order_id=order.id, reason=CancelReason.BUYER_CHANGED_MIND, at=T0
        )
    session.commit()

    assert _entries(session, paid.id) == [
        ("accrued", "accrue", 1_980),
        ("reversed", "reverse:cancel", 1_980),
    ]
    assert _entries(session, unpaid.id) == []


def test_the_bulk_path_books_what_one_at_a_time_books(
    session: Session, sold: tuple[factories.Seller, int, int]
) -> None:
    seller, creator, buyer = sold
    batch = orders_bulk.OrderBatch(
        buyer_id=np.array([buyer, buyer]),
        sku_id=np.array([seller.sku_id] * 2),
        quantity=np.array([2, 1]),
        channel=[Channel.DISTRIBUTION] * 2,
        idempotency_key=["b1", "b2"],
        creator_id=np.array([creator] * 2),
        content_kind=[None, None],
        content_id=np.array([0, 0]),
        surface=[None, None],
        merchant_discount_fen=np.array([0, 0]),
        platform_discount_fen=np.array([0, 0]),
    )
    ids = orders_bulk.place_orders(session, batch, at=T0).order_id
    orders_bulk.advance_orders(session, ids, "pay", T0)
    orders_bulk.advance_orders(
        session, ids[1:], "cancel", T0 + timedelta(hours=1), reason=CancelReason.BUYER_CHANGED_MIND
    )
    for action, hours in (("ship", 5), ("deliver", 48)):
        orders_bulk.advance_orders(session, ids[:1], action, T0 + timedelta(hours=hours))
    requests = aftersales_bulk.request_after_sales(
        session,
        ids[:1],
        [AfterSalesKind.REFUND_ONLY],
        [AfterSalesReason.QUALITY],
        [T0 + timedelta(days=3)],
        actor=BUYER,
    )
    aftersales_bulk.advance_requests(
        session, requests, "approve", T0 + timedelta(days=3), actor=MERCHANT
    )
    session.commit()

    assert _entries(session, int(ids[0])) == [
        ("accrued", "accrue", 3_960),
        ("reversed", commission.reverse_key(int(requests[0])), 3_960),
    ]
    assert _entries(session, int(ids[1])) == [
        ("accrued", "accrue", 1_980),
        ("reversed", "reverse:cancel", 1_980),
    ]


def test_settlement_waits_for_the_window_and_open_requests_then_pays_the_rest_once(
    session: Session, sold: tuple[factories.Seller, int, int]
) -> None:
    quiet = _delivered(session, sold, "quiet")
    disputed = _delivered(session, sold, "disputed")
    _refund(session, quiet, 4_950, T0 + timedelta(days=3))  # a quarter of the payment back
    aftersales_service.request_after_sales(
        session,
        order_id=disputed,
        kind=AfterSalesKind.REFUND_ONLY,
        reason=AfterSalesReason.QUALITY,
        actor=BUYER,
        at=T0 + timedelta(days=10),
    )
    session.commit()
    closed = T0 + timedelta(days=2) + AFTER_SALES_WINDOW

    early = settle_commissions(session, at=closed)  # the window's last instant: still open
    on_time = settle_commissions(session, at=closed + timedelta(seconds=1))
    again = settle_commissions(session, at=closed + timedelta(days=30))
    session.commit()

    assert (early.orders, on_time.orders, again.orders) == (0, 1, 0)
    assert on_time.amount_fen == 3_960 - 990
    assert _entries(session, quiet)[-1] == ("settled", "settle", 2_970)
    assert [e[0] for e in _entries(session, disputed)] == ["accrued"]  # still open: pending


def test_a_statement_sums_the_period_and_what_was_pending_at_each_end(
    session: Session, sold: tuple[factories.Seller, int, int]
) -> None:
    _, creator, _ = sold
    first = _delivered(session, sold, "s1")  # accrues 39.60 on day 0
    _refund(session, first, 4_950, T0 + timedelta(days=3))  # reverses 9.90 on day 3
    settle_commissions(session, at=T0 + timedelta(days=20))  # settles 29.70 on day 20
    session.commit()

    whole = commission.statement(session, creator_id=creator, start=T0, end=T0 + timedelta(days=30))
    later = commission.statement(
        session, creator_id=creator, start=T0 + timedelta(days=1), end=T0 + timedelta(days=10)
    )

    assert (whole.accrued_fen, whole.reversed_fen, whole.settled_fen) == (3_960, 990, 2_970)
    assert (whole.pending_at_start_fen, whole.pending_at_end_fen, whole.orders) == (0, 0, 1)
    assert (later.accrued_fen, later.reversed_fen, later.settled_fen) == (0, 990, 0)
    assert (later.pending_at_start_fen, later.pending_at_end_fen) == (3_960, 2_970)
    with pytest.raises(InvalidInput):
        commission.statement(session, creator_id=creator, start=T0, end=T0)


@given(base=st.integers(0, 10**12), bps=st.integers(0, 10_000))
def test_commission_is_the_decimal_amount_rounded_half_up_for_one_order_and_a_column(
    base: int, bps: int
) -> None:
    from decimal import ROUND_HALF_UP, Decimal

    exact = Decimal(base) * Decimal(bps) / Decimal(10_000)
    expected = int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))

    assert order_rules.commission_fen(base, bps) == expected
    column = order_rules.commission_fen(
        np.array([base], dtype=object), np.array([bps], dtype=object)
    )
    assert column.tolist() == [expected]
