from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests import factories
from trustflow.aftersales import bulk as aftersales_bulk
from trustflow.aftersales import service as aftersales_service
from trustflow.catalog import service as catalog_service
from trustflow.distribution import service as distribution_service
from trustflow.errors import Conflict, ErrorCode, IllegalTransition, InvalidInput, OutOfStock
from trustflow.orders import bulk as order_bulk
from trustflow.orders import service as orders_service
from trustflow.orders.models import Order, OrderStatus
from trustflow.orders.service import OrderRequest
from trustflow.vocabulary import Channel

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


@pytest.fixture
def market(session: Session) -> tuple[factories.Seller, int]:
    cat = factories.category(session)
    seller = factories.seller(session, category_id=cat, price_fen=10_000, stock=5, at=T0)
    buyer = factories.buyer(session)
    session.commit()
    return seller, buyer


def _request(seller: factories.Seller, buyer: int, key: str, **kw: object) -> OrderRequest:
    args: dict[str, object] = {
        "buyer_id": buyer,
        "sku_id": seller.sku_id,
        "quantity": 1,
        "channel": Channel.SHELF_SEARCH,
        "idempotency_key": key,
    }
    args.update(kw)
    return OrderRequest(**args)  # type: ignore[arg-type]


def _stock(session: Session, sku_id: int) -> int:
    session.expire_all()
    return catalog_service.get_sku(session, sku_id).stock


def test_placing_an_order_freezes_price_and_reserves_stock(session: Session, market) -> None:
    seller, buyer = market

    order = orders_service.place_order(
        session, _request(seller, buyer, "k1", quantity=2, merchant_discount_fen=500), at=T0
    )
    session.commit()

    assert order.status is OrderStatus.PENDING_PAYMENT
    assert (order.unit_price_fen, order.goods_amount_fen, order.paid_amount_fen) == (
        10_000,
        20_000,
        19_500,
    )
    assert order.ship_by == T0 + timedelta(hours=48)
    assert _stock(session, seller.sku_id) == 3
    catalog_service.change_price(session, sku_id=seller.sku_id, price_fen=1, at=T0)
    session.commit()
    assert orders_service.get_order(session, order.id).unit_price_fen == 10_000


def test_replayed_idempotency_key_returns_the_first_order(session: Session, market) -> None:
    seller, buyer = market
    first = orders_service.place_order(session, _request(seller, buyer, "same"), at=T0)
    session.commit()

    again = orders_service.place_order(session, _request(seller, buyer, "same"), at=T0)
    session.commit()

    assert again.id == first.id
    assert session.scalar(select(func.count()).select_from(Order)) == 1
    assert _stock(session, seller.sku_id) == 4


def test_a_key_reused_for_a_different_order_is_refused(session: Session, market) -> None:
    seller, buyer = market
    orders_service.place_order(session, _request(seller, buyer, "k"), at=T0)
    session.commit()

    with pytest.raises(Conflict) as err:
        orders_service.place_order(session, _request(seller, buyer, "k", quantity=3), at=T0)
    session.rollback()

    assert err.value.code is ErrorCode.IDEMPOTENCY_KEY_REUSED
    assert _stock(session, seller.sku_id) == 4


def test_ordering_more_than_stock_fails_and_changes_nothing(session: Session, market) -> None:
    seller, buyer = market

    with pytest.raises(OutOfStock):
        orders_service.place_order(session, _request(seller, buyer, "big", quantity=6), at=T0)
    session.rollback()

    assert _stock(session, seller.sku_id) == 5
    assert session.scalar(select(func.count()).select_from(Order)) == 0


def test_replayed_payment_key_returns_the_paid_order(session: Session, market) -> None:
    seller, buyer = market
    order = orders_service.place_order(session, _request(seller, buyer, "k"), at=T0)
    orders_service.pay_order(session, order_id=order.id, idempotency_key="p1", at=T0)
    session.commit()

    again = orders_service.pay_order(session, order_id=order.id, idempotency_key="p1", at=T0)

    assert again.status is OrderStatus.PAID
    with pytest.raises(IllegalTransition):
        orders_service.pay_order(session, order_id=order.id, idempotency_key="p2", at=T0)


def test_order_state_machine_refuses_illegal_moves(session: Session, market) -> None:
    seller, buyer = market
    order = orders_service.place_order(session, _request(seller, buyer, "k"), at=T0)
    session.commit()

    with pytest.raises(IllegalTransition) as err:
        orders_service.ship_order(session, order_id=order.id, at=T0)
    session.rollback()
    assert err.value.code is ErrorCode.ILLEGAL_TRANSITION
    assert orders_service.get_order(session, order.id).status is OrderStatus.PENDING_PAYMENT

    for action in ("pay_order", "ship_order", "pick_up_order", "deliver_order", "confirm_receipt"):
        kwargs = {"idempotency_key": "p"} if action == "pay_order" else {}
        getattr(orders_service, action)(session, order_id=order.id, at=T0, **kwargs)
    session.commit()
    assert orders_service.get_order(session, order.id).status is OrderStatus.RECEIVED
    with pytest.raises(IllegalTransition):
        orders_service.cancel_order(session, order_id=order.id, at=T0)
    actions = [e.action for e in orders_service.order_events(session, order.id)]
    assert actions == ["place", "pay", "ship", "pick_up", "deliver", "confirm_receipt"]


def test_cancelling_returns_the_reserved_stock(session: Session, market) -> None:
    seller, buyer = market
    order = orders_service.place_order(session, _request(seller, buyer, "k", quantity=3), at=T0)
    session.commit()

    orders_service.cancel_order(session, order_id=order.id, at=T0)
    session.commit()

    assert _stock(session, seller.sku_id) == 5
    assert orders_service.get_order(session, order.id).cancelled_at == T0


def test_unpaid_orders_expire_and_release_stock(session: Session, market) -> None:
    seller, buyer = market
    old = orders_service.place_order(session, _request(seller, buyer, "old", quantity=2), at=T0)
    fresh_at = T0 + timedelta(minutes=50)
    orders_service.place_order(session, _request(seller, buyer, "new"), at=fresh_at)
    session.commit()

    expired = orders_service.expire_unpaid_orders(
        session, older_than=timedelta(minutes=30), at=T0 + timedelta(minutes=60)
    )
    session.commit()

    assert expired == 1
    assert orders_service.get_order(session, old.id).status is OrderStatus.CANCELLED
    assert _stock(session, seller.sku_id) == 4


def test_commission_is_frozen_at_order_time(session: Session, market) -> None:
    seller, buyer = market
    creator, offer = factories.creator_selling(
        session, seller.product_id, commission_bps=1234, at=T0
    )
    session.commit()

    order = orders_service.place_order(
        session,
        _request(
            seller,
            buyer,
            "d",
            channel=Channel.DISTRIBUTION,
            creator_id=creator,
            quantity=3,
            merchant_discount_fen=1001,
            platform_discount_fen=2000,
        ),
        at=T0 + timedelta(hours=1),
    )
    distribution_service.end_offer(session, offer_id=offer, at=T0 + timedelta(hours=2))
    session.commit()

    # base = 30,000 - 1,001 merchant discount (the platform's subsidy is not deducted)
    assert (order.offer_id, order.commission_bps, order.commission_fen) == (offer, 1234, 3578)
    with pytest.raises(Conflict) as err:
        orders_service.place_order(
            session,
            _request(seller, buyer, "d2", channel=Channel.DISTRIBUTION, creator_id=creator),
            at=T0 + timedelta(hours=3),
        )
    assert err.value.code is ErrorCode.NO_DISTRIBUTION_OFFER


def test_distribution_orders_need_a_creator_and_others_refuse_one(session: Session, market) -> None:
    seller, buyer = market
    with pytest.raises(InvalidInput):
        orders_service.place_order(
            session, _request(seller, buyer, "a", channel=Channel.DISTRIBUTION), at=T0
        )
    with pytest.raises(InvalidInput):
        orders_service.place_order(session, _request(seller, buyer, "b", creator_id=1), at=T0)


def test_unlisted_products_cannot_be_ordered(session: Session, market) -> None:
    seller, buyer = market
    from trustflow.catalog.models import ListingStatus

    catalog_service.set_listing_status(
        session, product_id=seller.product_id, status=ListingStatus.DELISTED
    )
    session.commit()

    with pytest.raises(Conflict) as err:
        orders_service.place_order(session, _request(seller, buyer, "x"), at=T0)
    assert err.value.code is ErrorCode.NOT_LISTED


def test_an_event_earlier_than_the_orders_last_is_refused_and_changes_nothing(
    session: Session, market: tuple[factories.Seller, int]
) -> None:
    seller, buyer = market
    order = factories.paid_order(session, buyer_id=buyer, sku_id=seller.sku_id, key="o", at=T0)
    orders_service.ship_order(session, order_id=order.id, at=T0 + timedelta(hours=5))
    session.commit()

    with pytest.raises(Conflict) as refused:
        orders_service.deliver_order(session, order_id=order.id, at=T0 + timedelta(hours=4))

    assert refused.value.code is ErrorCode.EVENT_OUT_OF_ORDER
    session.rollback()
    stored = orders_service.get_order(session, order.id)
    assert (stored.status, stored.delivered_at) == (OrderStatus.SHIPPED, None)
    # the same moment as the last event is in order
    orders_service.deliver_order(session, order_id=order.id, at=T0 + timedelta(hours=5))


def test_the_bulk_path_leaves_an_out_of_order_event_undone_as_one_at_a_time(
    session: Session, market: tuple[factories.Seller, int]
) -> None:
    seller, buyer = market
    early = factories.paid_order(session, buyer_id=buyer, sku_id=seller.sku_id, key="a", at=T0)
    late = factories.paid_order(
        session, buyer_id=buyer, sku_id=seller.sku_id, key="b", at=T0 + timedelta(days=1)
    )

    shipped = order_bulk.advance_orders(
        session, [early.id, late.id], "ship", T0 + timedelta(hours=2)
    )

    assert shipped.tolist() == [early.id]  # the other was paid a day later than this ship
    session.expire_all()
    assert orders_service.get_order(session, late.id).status is OrderStatus.PAID


def test_a_review_dated_before_delivery_is_refused(
    session: Session, market: tuple[factories.Seller, int]
) -> None:
    seller, buyer = market
    order = factories.paid_order(session, buyer_id=buyer, sku_id=seller.sku_id, key="r", at=T0)
    orders_service.ship_order(session, order_id=order.id, at=T0 + timedelta(hours=1))
    orders_service.deliver_order(session, order_id=order.id, at=T0 + timedelta(days=2))

    with pytest.raises(Conflict) as refused:
        aftersales_service.submit_review(
            session, order_id=order.id, stars=1, at=T0 + timedelta(days=1)
        )
    bulk_ids = aftersales_bulk.submit_reviews(
        session,
        np.array([order.id]),
        np.array([1]),
        [T0 + timedelta(days=1)],
    )

    assert refused.value.code is ErrorCode.EVENT_OUT_OF_ORDER
    assert bulk_ids.tolist() == [0]


def test_an_order_is_one_shops_goods_each_sku_once_or_it_is_refused_whole(
    session: Session, market: tuple[factories.Seller, int]
) -> None:
    seller, buyer = market
    other = factories.seller(
        session, category_id=factories.category(session, "toys"), name="Other", at=T0
    )
    session.commit()
    more = orders_service.LineRequest

    for key, lines in (
        ("two-shops", (more(other.sku_id, 1),)),
        ("same-sku-twice", (more(seller.sku_id, 1),)),
        ("too-many", (more(other.sku_id, 1),) * 50),
        ("bad-quantity", (more(other.sku_id, 0),)),
    ):
        with pytest.raises(InvalidInput):
            orders_service.place_order(
                session, _request(seller, buyer, key, more_lines=lines), at=T0
            )
        session.rollback()

    assert session.scalar(select(func.count()).select_from(Order)) == 0
    assert (_stock(session, seller.sku_id), _stock(session, other.sku_id)) == (5, 100)
