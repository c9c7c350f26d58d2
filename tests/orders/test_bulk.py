"""The bulk order path refuses and accepts exactly what the one-at-a-time path would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests import factories
from trustflow.catalog import service as catalog_service
from trustflow.errors import ErrorCode
from trustflow.orders import bulk
from trustflow.orders import service as orders_service
from trustflow.orders.models import (
    CancelParty,
    CancelReason,
    Order,
    OrderEvent,
    OrderStatus,
    Payment,
)
from trustflow.vocabulary import Channel

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


def _batch(rows: list[dict]) -> bulk.OrderBatch:
    n = len(rows)
    col = lambda k, d=0: np.array([r.get(k, d) for r in rows], dtype=np.int64)  # noqa: E731
    return bulk.OrderBatch(
        buyer_id=col("buyer"),
        sku_id=col("sku"),
        quantity=col("qty", 1),
        channel=[r.get("channel", Channel.SHELF_SEARCH) for r in rows],
        idempotency_key=[r["key"] for r in rows],
        creator_id=col("creator"),
        content_kind=[None] * n,
        content_id=np.zeros(n, dtype=np.int64),
        surface=[None] * n,
        merchant_discount_fen=np.zeros(n, dtype=np.int64),
        platform_discount_fen=np.zeros(n, dtype=np.int64),
    )


def test_a_batch_serves_stock_in_row_order_and_refuses_the_rest(session: Session) -> None:
    cat = factories.category(session)
    s = factories.seller(session, category_id=cat, stock=5, price_fen=1000)
    buyers = [factories.buyer(session, f"b{i}") for i in range(4)]
    session.commit()

    result = bulk.place_orders(
        session,
        _batch([{"buyer": b, "sku": s.sku_id, "qty": 2, "key": f"k{b}"} for b in buyers]),
        at=T0,
    )
    session.commit()

    assert (result.order_id > 0).tolist() == [True, True, False, False]
    assert set(result.refused.values()) == {ErrorCode.OUT_OF_STOCK}
    session.expire_all()
    assert catalog_service.get_sku(session, s.sku_id).stock == 1
    assert session.scalar(select(func.count()).select_from(Order)) == 2
    assert session.scalar(select(func.count()).select_from(OrderEvent)) == 2


def test_a_batch_replays_used_keys_and_freezes_commission(session: Session) -> None:
    cat = factories.category(session)
    s = factories.seller(session, category_id=cat, stock=50, price_fen=1000, at=T0)
    creator, offer = factories.creator_selling(session, s.product_id, commission_bps=1500, at=T0)
    buyer = factories.buyer(session)
    first = orders_service.place_order(
        session,
        orders_service.OrderRequest(
            buyer_id=buyer,
            sku_id=s.sku_id,
            quantity=1,
            channel=Channel.SHELF_MALL,
            idempotency_key="old",
        ),
        at=T0,
    )
    session.commit()

    result = bulk.place_orders(
        session,
        _batch(
            [
                {"buyer": buyer, "sku": s.sku_id, "key": "old", "channel": Channel.SHELF_MALL},
                {
                    "buyer": buyer,
                    "sku": s.sku_id,
                    "key": "d",
                    "channel": Channel.DISTRIBUTION,
                    "creator": creator,
                    "qty": 3,
                },
                {
                    "buyer": buyer,
                    "sku": s.sku_id,
                    "key": "d",
                    "channel": Channel.DISTRIBUTION,
                    "creator": creator,
                    "qty": 3,
                },
                {"buyer": buyer, "sku": s.sku_id, "key": "bad", "channel": Channel.DISTRIBUTION},
                {"buyer": 999_999, "sku": s.sku_id, "key": "ghost"},
                {"buyer": buyer, "sku": s.sku_id, "key": "old", "qty": 2},
            ]
        ),
        at=T0 + timedelta(hours=1),
    )
    session.commit()

    assert result.order_id[0] == first.id
    assert result.order_id[1] == result.order_id[2] > 0
    assert result.refused == {
        3: ErrorCode.INVALID_INPUT,
        4: ErrorCode.NOT_FOUND,
        5: ErrorCode.IDEMPOTENCY_KEY_REUSED,  # the old key, asked for a different order
    }
    placed = orders_service.get_order(session, int(result.order_id[1]))
    assert (placed.offer_id, placed.commission_bps, placed.commission_fen) == (offer, 1500, 450)
    session.expire_all()
    assert catalog_service.get_sku(session, s.sku_id).stock == 46


def test_bulk_transitions_follow_the_state_machine(session: Session) -> None:
    cat = factories.category(session)
    s = factories.seller(session, category_id=cat, stock=10)
    buyer = factories.buyer(session)
    placed = bulk.place_orders(
        session,
        _batch([{"buyer": buyer, "sku": s.sku_id, "key": f"k{i}"} for i in range(3)]),
        at=T0,
    ).order_id
    session.commit()

    paid = bulk.advance_orders(session, placed[:2], "pay", T0)
    shipped = bulk.advance_orders(session, placed, "ship", T0 + timedelta(hours=5))
    # the second order's parcel is intercepted; the third was never paid
    cancelled = bulk.advance_orders(
        session,
        placed[1:],
        "cancel",
        T0 + timedelta(hours=6),
        reason=CancelReason.ADDRESS_UNREACHABLE,
    )
    session.commit()

    assert sorted(paid.tolist()) == sorted(placed[:2].tolist())
    assert sorted(shipped.tolist()) == sorted(placed[:2].tolist())  # the unpaid one cannot ship
    assert cancelled.tolist() == placed[1:].tolist()
    orders = [orders_service.get_order(session, int(o)) for o in placed]
    assert [o.status for o in orders] == [
        OrderStatus.SHIPPED,
        OrderStatus.CANCELLED,
        OrderStatus.CANCELLED,
    ]
    # the paid one's whole payment goes back to the buyer, the unpaid one owed nothing
    assert [o.cancel_refund_fen for o in orders] == [0, orders[1].paid_amount_fen, 0]
    assert {o.cancel_party for o in orders[1:]} == {CancelParty.BUYER}
    assert session.scalar(select(func.count()).select_from(Payment)) == 2
    session.expire_all()
    assert catalog_service.get_sku(session, s.sku_id).stock == 9


def test_a_batch_refuses_a_drafts_sku_as_missing_and_a_delisted_one_as_not_on_sale(
    session: Session,
) -> None:
    """As the one-at-a-time path does: a draft was never public, so its SKU is not found; a
    delisted product was, so ordering it is refused as not on sale."""
    from trustflow.catalog.models import ListingStatus

    cat = factories.category(session)
    delisted = factories.seller(session, category_id=cat, name="Gone")
    catalog_service.set_listing_status(
        session, product_id=delisted.product_id, status=ListingStatus.DELISTED
    )
    shop = factories.seller(session, category_id=cat, name="Next")
    draft = catalog_service.create_product(session, shop_id=shop.shop_id, title="Next tee")
    draft_sku = catalog_service.add_sku(session, product_id=draft.id, price_fen=100, stock=9)
    buyer = factories.buyer(session)
    session.commit()
    rows = [
        {"buyer": buyer, "sku": draft_sku.id, "key": "draft"},
        {"buyer": buyer, "sku": delisted.sku_id, "key": "delisted"},
    ]

    result = bulk.place_orders(session, _batch(rows), at=T0)

    assert result.refused == {0: ErrorCode.NOT_FOUND, 1: ErrorCode.NOT_LISTED}
    for row in rows:
        request = orders_service.OrderRequest(
            buyer_id=buyer,
            sku_id=row["sku"],
            quantity=1,
            channel=Channel.SHELF_SEARCH,
            idempotency_key=f"one-{row['key']}",
        )
        try:
            orders_service.place_order(session, request, at=T0)
        except Exception as refused:  # the service's refusal carries the same code
            assert getattr(refused, "code", None) is result.refused[rows.index(row)]
        else:
            raise AssertionError("the service placed what the batch refused")
    assert session.scalar(select(func.count()).select_from(Order)) == 0


def _second_sku(session: Session, shop_id: int, stock: int, price_fen: int = 500) -> int:
    from trustflow.catalog.models import ListingStatus

    product = catalog_service.create_product(session, shop_id=shop_id, title="cap", at=T0)
    sku = catalog_service.add_sku(
        session, product_id=product.id, price_fen=price_fen, stock=stock, at=T0
    )
    catalog_service.set_listing_status(session, product_id=product.id, status=ListingStatus.LISTED)
    return sku.id


def test_a_batch_places_orders_of_several_lines_whole_or_not_at_all(session: Session) -> None:
    from trustflow.orders.models import OrderLine

    cat = factories.category(session)
    s = factories.seller(session, category_id=cat, stock=10, price_fen=1000, at=T0)
    cap = _second_sku(session, s.shop_id, stock=1)
    other = factories.seller(session, category_id=cat, stock=10, name="Other", at=T0)
    b1, b2, b3 = (factories.buyer(session, f"b{i}") for i in range(3))
    session.commit()
    rows = [
        {"buyer": b1, "sku": s.sku_id, "qty": 2, "key": "two-lines"},
        {"buyer": b1, "sku": cap, "key": "two-lines"},
        # the cap is sold out by the order above: this order takes nothing, not even its tee
        {"buyer": b2, "sku": s.sku_id, "key": "late"},
        {"buyer": b2, "sku": cap, "key": "late"},
        # a line of another shop's goods belongs to another order
        {"buyer": b3, "sku": s.sku_id, "key": "mixed"},
        {"buyer": b3, "sku": other.sku_id, "key": "mixed"},
    ]
    batch = _batch(rows)
    batch.head = np.array([0, 0, 2, 2, 4, 4])

    result = bulk.place_orders(session, batch, at=T0)
    session.commit()

    assert result.order_id[0] == result.order_id[1] > 0
    assert result.order_id[2:].tolist() == [0, 0, 0, 0]
    assert result.refused == {
        2: ErrorCode.OUT_OF_STOCK,
        3: ErrorCode.OUT_OF_STOCK,
        4: ErrorCode.INVALID_INPUT,
        5: ErrorCode.INVALID_INPUT,
    }
    order = session.get(Order, int(result.order_id[0]))
    assert order is not None
    lines = session.scalars(
        select(OrderLine).where(OrderLine.order_id == order.id).order_by(OrderLine.line_no)
    ).all()
    assert [(line.sku_id, line.quantity) for line in lines] == [(s.sku_id, 2), (cap, 1)]
    assert order.goods_amount_fen == 2 * 1000 + 500 == sum(x.goods_amount_fen for x in lines)
    session.expire_all()
    assert catalog_service.get_sku(session, s.sku_id).stock == 8
    assert catalog_service.get_sku(session, cap).stock == 0
    assert catalog_service.get_sku(session, other.sku_id).stock == 10

    again = bulk.place_orders(session, batch, at=T0)  # a replay: the same order, nothing new
    assert again.order_id[:2].tolist() == result.order_id[:2].tolist()
    assert session.scalar(select(func.count()).select_from(OrderLine)) == 2


def test_cancelling_orders_of_several_lines_puts_every_lines_units_back(
    session: Session,
) -> None:
    cat = factories.category(session)
    s = factories.seller(session, category_id=cat, stock=10, price_fen=1000, at=T0)
    cap = _second_sku(session, s.shop_id, stock=10)
    b1, b2 = factories.buyer(session, "b1"), factories.buyer(session, "b2")
    session.commit()
    batch = _batch(
        [
            {"buyer": b1, "sku": s.sku_id, "qty": 2, "key": "bulk"},
            {"buyer": b1, "sku": cap, "qty": 3, "key": "bulk"},
        ]
    )
    batch.head = np.array([0, 0])
    in_bulk = int(bulk.place_orders(session, batch, at=T0).order_id[0])
    one_by_one = orders_service.place_order(
        session,
        orders_service.OrderRequest(
            buyer_id=b2,
            sku_id=s.sku_id,
            quantity=1,
            channel=Channel.SHELF_SEARCH,
            idempotency_key="service",
            more_lines=(orders_service.LineRequest(cap, 4),),
        ),
        at=T0,
    ).id
    session.commit()
    assert (catalog_service.get_sku(session, s.sku_id).stock, _stock_of(session, cap)) == (7, 3)

    bulk.advance_orders(
        session,
        np.array([in_bulk]),
        "cancel",
        T0 + timedelta(hours=1),
        reason=CancelReason.BUYER_CHANGED_MIND,
    )
    orders_service.cancel_order(session, order_id=one_by_one, at=T0 + timedelta(hours=1))
    session.commit()

    session.expire_all()
    assert (catalog_service.get_sku(session, s.sku_id).stock, _stock_of(session, cap)) == (10, 10)


def _stock_of(session: Session, sku_id: int) -> int:
    session.expire_all()
    return catalog_service.get_sku(session, sku_id).stock
