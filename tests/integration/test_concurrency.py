"""Invariants under real concurrent clients (each thread its own connection)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests import factories
from trustflow.catalog.models import Sku
from trustflow.db import transaction
from trustflow.errors import OutOfStock
from trustflow.orders import service as orders_service
from trustflow.orders.models import Order, OrderStatus
from trustflow.vocabulary import Channel

T0 = datetime(2026, 3, 1, tzinfo=UTC)
R = TypeVar("R")


def _run_together(n: int, work: Callable[[int], R]) -> list[R | Exception]:
    barrier = threading.Barrier(n)

    def guarded(i: int) -> R | Exception:
        barrier.wait()
        try:
            return work(i)
        except Exception as exc:  # the caller inspects which ones failed and why
            return exc

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(guarded, range(n)))


def test_twenty_concurrent_orders_for_five_in_stock(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as s:
        seller = factories.seller(s, category_id=factories.category(s), stock=5)
        buyers = [factories.buyer(s, f"b{i}") for i in range(20)]

    def buy(i: int) -> int:
        with transaction(factory) as s:
            order = orders_service.place_order(
                s,
                orders_service.OrderRequest(
                    buyer_id=buyers[i],
                    sku_id=seller.sku_id,
                    quantity=1,
                    channel=Channel.SHELF_MALL,
                    idempotency_key=f"o{i}",
                ),
                at=T0,
            )
            orders_service.pay_order(s, order_id=order.id, idempotency_key=f"p{i}", at=T0)
            return order.id

    results = _run_together(20, buy)

    assert sum(isinstance(r, int) for r in results) == 5
    assert all(isinstance(r, OutOfStock) for r in results if not isinstance(r, int))
    with factory() as s:
        assert s.scalar(select(Sku.stock).where(Sku.id == seller.sku_id)) == 0
        paid = s.scalar(
            select(func.count()).select_from(Order).where(Order.status == OrderStatus.PAID)
        )
        assert paid == 5
        assert s.scalar(select(func.count()).select_from(Order)) == 5


def test_concurrent_retries_with_one_key_create_one_order(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as s:
        seller = factories.seller(s, category_id=factories.category(s), stock=50)
        buyer = factories.buyer(s)

    def retry(_: int) -> int:
        with transaction(factory) as s:
            return orders_service.place_order(
                s,
                orders_service.OrderRequest(
                    buyer_id=buyer,
                    sku_id=seller.sku_id,
                    quantity=2,
                    channel=Channel.SHELF_SEARCH,
                    idempotency_key="retry-me",
                ),
                at=T0,
            ).id

    results = _run_together(10, retry)

    assert all(isinstance(r, int) for r in results), results
    assert len(set(results)) == 1
    with factory() as s:
        assert s.scalar(select(Sku.stock).where(Sku.id == seller.sku_id)) == 48


def test_concurrent_payments_of_one_order_pay_once(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as s:
        seller = factories.seller(s, category_id=factories.category(s), stock=5)
        buyer = factories.buyer(s)
        order_id = orders_service.place_order(
            s,
            orders_service.OrderRequest(
                buyer_id=buyer,
                sku_id=seller.sku_id,
                quantity=1,
                channel=Channel.SHELF_SEARCH,
                idempotency_key="k",
            ),
            at=T0,
        ).id

    def pay(i: int) -> str:
        with transaction(factory) as s:
            orders_service.pay_order(s, order_id=order_id, idempotency_key=f"p{i % 2}", at=T0)
            return f"p{i % 2}"

    results = _run_together(8, pay)

    succeeded = {r for r in results if isinstance(r, str)}
    assert len(succeeded) == 1  # only one payment key wins; its replays succeed too
    with factory() as s:
        from trustflow.orders.models import Payment

        assert s.scalar(select(func.count()).select_from(Payment)) == 1


def test_concurrent_settlement_runs_and_refund_approvals_book_each_event_once(
    factory: sessionmaker[Session],
) -> None:
    from datetime import timedelta

    from trustflow.aftersales import service as aftersales_service
    from trustflow.aftersales.models import ActorRole, AfterSalesKind, AfterSalesReason
    from trustflow.aftersales.rules import AFTER_SALES_WINDOW, Actor
    from trustflow.aftersales.settlement import settle_commissions
    from trustflow.orders.models import CommissionEntry

    with transaction(factory) as s:
        seller = factories.seller(s, category_id=factories.category(s), stock=50)
        creator, _ = factories.creator_selling(s, seller.product_id, at=T0)
        buyer = factories.buyer(s)
        ids = []
        for i in range(6):
            order = factories.paid_order(
                s,
                buyer_id=buyer,
                sku_id=seller.sku_id,
                key=f"c{i}",
                channel=Channel.DISTRIBUTION,
                creator_id=creator,
                at=T0,
            )
            orders_service.ship_order(s, order_id=order.id, at=T0 + timedelta(hours=1))
            orders_service.deliver_order(s, order_id=order.id, at=T0 + timedelta(days=1))
            ids.append(order.id)
        refund = aftersales_service.request_after_sales(
            s,
            order_id=ids[0],
            kind=AfterSalesKind.REFUND_ONLY,
            reason=AfterSalesReason.QUALITY,
            actor=Actor(ActorRole.BUYER, buyer),
            at=T0 + timedelta(days=2),
        ).id

    def approve(_: int) -> None:
        with transaction(factory) as s:
            aftersales_service.approve(
                s, request_id=refund, actor=Actor(ActorRole.MERCHANT), at=T0 + timedelta(days=3)
            )

    approvals = _run_together(6, approve)

    def settle(_: int) -> int:
        with transaction(factory) as s:
            after = T0 + timedelta(days=1) + AFTER_SALES_WINDOW + timedelta(seconds=1)
            return settle_commissions(s, at=after).orders

    settled = _run_together(6, settle)

    assert sum(r is None for r in approvals) == 1  # the others find it refunded already
    assert all(isinstance(r, int) for r in settled), settled
    # each order once, the refunded one too (with nothing left to pay)
    assert sum(r for r in settled if isinstance(r, int)) == 6
    with factory() as s:
        kinds = s.execute(
            select(CommissionEntry.kind, func.count(), func.sum(CommissionEntry.amount_fen))
            .group_by(CommissionEntry.kind)
            .order_by(CommissionEntry.kind)
        ).all()
    assert [(k.value, n, fen) for k, n, fen in kinds] == [
        ("accrued", 6, 6 * 1_980),
        ("reversed", 1, 1_980),
        ("settled", 6, 5 * 1_980),
    ]


def test_twenty_concurrent_carts_on_a_sku_with_five_in_stock_sell_exactly_five(
    factory: sessionmaker[Session],
) -> None:
    from trustflow.orders import checkout as checkout_actions

    with transaction(factory) as s:
        cat = factories.category(s)
        scarce = factories.seller(s, category_id=cat, stock=5, name="Scarce")
        plenty = factories.seller(s, category_id=cat, stock=1_000, name="Plenty")
        buyers = [factories.buyer(s, f"c{i}") for i in range(20)]

    def check_out(i: int) -> int:
        with transaction(factory) as s:
            return checkout_actions.place_checkout(
                s,
                buyer_id=buyers[i],
                items=[
                    checkout_actions.CheckoutItem(plenty.sku_id, 2),
                    checkout_actions.CheckoutItem(scarce.sku_id, 1),
                ],
                idempotency_key=f"cart-{i}",
                at=T0,
            ).id

    results = _run_together(20, check_out)

    assert sum(isinstance(r, int) for r in results) == 5
    assert all(isinstance(r, OutOfStock) for r in results if not isinstance(r, int))
    with factory() as s:
        stock = dict(s.execute(select(Sku.id, Sku.stock)).all())
        assert stock[scarce.sku_id] == 0
        assert stock[plenty.sku_id] == 1_000 - 5 * 2  # the refused carts took nothing
        assert s.scalar(select(func.count()).select_from(Order)) == 10


def test_expiry_racing_payments_never_cancels_a_paid_order(
    factory: sessionmaker[Session],
) -> None:
    from datetime import timedelta

    from trustflow.orders import checkout as checkout_actions
    from trustflow.orders.models import CancelReason

    with transaction(factory) as s:
        seller = factories.seller(s, category_id=factories.category(s), stock=100)
        buyer = factories.buyer(s)
        ids = [
            orders_service.place_order(
                s,
                orders_service.OrderRequest(
                    buyer_id=buyer,
                    sku_id=seller.sku_id,
                    quantity=1,
                    channel=Channel.SHELF_SEARCH,
                    idempotency_key=f"late-{i}",
                ),
                at=T0,
            ).id
            for i in range(40)
        ]
    later = T0 + timedelta(hours=2)

    def act(i: int) -> str:
        with transaction(factory) as s:
            if i == 0:
                checkout_actions.expire_unpaid(s, older_than=timedelta(hours=1), at=later)
                return "expired"
            # the buyers pay the newest orders first: those the job reaches last
            orders_service.pay_order(s, order_id=ids[-i], idempotency_key=f"p{i}", at=later)
            return "paid"

    results = _run_together(9, act)

    paid = {ids[-i] for i, r in enumerate(results) if i and r == "paid"}
    with factory() as s:
        orders = s.execute(select(Order.id, Order.status, Order.paid_at, Order.cancel_reason))
        for order_id, status, paid_at, reason in orders:
            if order_id in paid:  # a payment that went through is never undone by the job
                assert (status, reason) == (OrderStatus.PAID, None), order_id
            else:  # the job got there first: cancelled, never paid
                assert (status, paid_at, reason) == (
                    OrderStatus.CANCELLED,
                    None,
                    CancelReason.UNPAID_TIMEOUT,
                )
    assert results[0] == "expired"


def test_a_cancellation_and_a_refund_at_once_take_back_the_commission_once(
    factory: sessionmaker[Session],
) -> None:
    from datetime import timedelta

    from trustflow.aftersales import service as aftersales_service
    from trustflow.aftersales.models import ActorRole, AfterSalesKind, AfterSalesReason
    from trustflow.aftersales.rules import Actor
    from trustflow.orders.models import CancelReason, CommissionEntry

    with transaction(factory) as s:
        seller = factories.seller(s, category_id=factories.category(s), stock=50)
        creator, _ = factories.creator_selling(s, seller.product_id, at=T0)
        buyer = factories.buyer(s)
        pairs = []
        for i in range(6):
            order = factories.paid_order(
                s,
                buyer_id=buyer,
                sku_id=seller.sku_id,
                key=f"x{i}",
                quantity=2,
                channel=Channel.DISTRIBUTION,
                creator_id=creator,
                at=T0,
            )
            orders_service.ship_order(s, order_id=order.id, at=T0 + timedelta(hours=1))
            request = aftersales_service.request_after_sales(
                s,
                order_id=order.id,
                kind=AfterSalesKind.REFUND_ONLY,
                reason=AfterSalesReason.QUALITY,
                refund_fen=order.paid_amount_fen // 2,
                actor=Actor(ActorRole.BUYER, buyer),
                at=T0 + timedelta(hours=2),
            )
            pairs.append((order.id, request.id))

    def act(i: int) -> None:
        order_id, request_id = pairs[i // 2]
        with transaction(factory) as s:
            if i % 2:
                aftersales_service.approve(
                    s,
                    request_id=request_id,
                    actor=Actor(ActorRole.MERCHANT),
                    at=T0 + timedelta(hours=3),
                )
            else:
                orders_service.cancel_order(
                    s,
                    order_id=order_id,
                    reason=CancelReason.LOST_IN_TRANSIT,
                    at=T0 + timedelta(hours=3),
                    actor="seller",
                )

    _run_together(12, act)

    with factory() as s:
        for order_id, _ in pairs:
            entries = s.execute(
                select(CommissionEntry.kind, CommissionEntry.amount_fen).where(
                    CommissionEntry.order_id == order_id
                )
            ).all()
            accrued = sum(fen for kind, fen in entries if kind.value == "accrued")
            taken = sum(fen for kind, fen in entries if kind.value == "reversed")
            assert accrued == 3_960
            assert taken == accrued  # the cancellation gives all back, never more


def test_twenty_concurrent_two_line_carts_sell_exactly_five_whole_orders(
    factory: sessionmaker[Session],
) -> None:
    """Both lines are one shop's: each cart is one order of two lines, placed whole or not
    at all, and the refused carts take nothing of the plentiful line's stock."""
    from trustflow.catalog import service as catalog_service
    from trustflow.catalog.models import ListingStatus
    from trustflow.orders import checkout as checkout_actions
    from trustflow.orders.models import OrderLine

    with transaction(factory) as s:
        cat = factories.category(s)
        shop = factories.seller(s, category_id=cat, stock=1_000, name="Shop")
        product = catalog_service.create_product(s, shop_id=shop.shop_id, title="scarce")
        scarce = catalog_service.add_sku(s, product_id=product.id, price_fen=500, stock=5).id
        catalog_service.set_listing_status(s, product_id=product.id, status=ListingStatus.LISTED)
        buyers = [factories.buyer(s, f"c{i}") for i in range(20)]

    def check_out(i: int) -> int:
        with transaction(factory) as s:
            return checkout_actions.place_checkout(
                s,
                buyer_id=buyers[i],
                items=[
                    checkout_actions.CheckoutItem(shop.sku_id, 2),
                    checkout_actions.CheckoutItem(scarce, 1),
                ],
                idempotency_key=f"two-lines-{i}",
                at=T0,
            ).id

    results = _run_together(20, check_out)

    assert sum(isinstance(r, int) for r in results) == 5
    assert all(isinstance(r, OutOfStock) for r in results if not isinstance(r, int))
    with factory() as s:
        stock = dict(s.execute(select(Sku.id, Sku.stock)).all())
        assert (stock[scarce], stock[shop.sku_id]) == (0, 1_000 - 5 * 2)
        assert s.scalar(select(func.count()).select_from(Order)) == 5
        assert s.scalar(select(func.count()).select_from(OrderLine)) == 10


def test_refunds_of_two_lines_approved_at_once_take_back_each_lines_commission_once(
    factory: sessionmaker[Session],
) -> None:
    from datetime import timedelta

    from trustflow.aftersales import service as aftersales_service
    from trustflow.aftersales.models import ActorRole, AfterSalesKind, AfterSalesReason
    from trustflow.aftersales.rules import Actor
    from trustflow.catalog import service as catalog_service
    from trustflow.catalog.models import ListingStatus
    from trustflow.distribution import service as distribution_service
    from trustflow.orders.models import CommissionEntry, CommissionEntryKind, OrderLine
    from trustflow.scoring.gates import OFFER_GATE

    with transaction(factory) as s:
        seller = factories.seller(s, category_id=factories.category(s), stock=50, at=T0)
        creator, _ = factories.creator_selling(s, seller.product_id, commission_bps=1000, at=T0)
        cap = catalog_service.create_product(s, shop_id=seller.shop_id, title="cap", at=T0)
        cap_sku = catalog_service.add_sku(s, product_id=cap.id, price_fen=3_000, stock=50, at=T0)
        catalog_service.set_listing_status(s, product_id=cap.id, status=ListingStatus.LISTED)
        offer = distribution_service.create_offer(
            s, product_id=cap.id, commission_bps=3000, valid_from=T0
        )
        distribution_service.select_offer(
            s, creator_id=creator, offer_id=offer.id, gate=OFFER_GATE, at=T0
        )
        buyer = factories.buyer(s)
        orders = []
        for i in range(4):
            order = orders_service.place_order(
                s,
                orders_service.OrderRequest(
                    buyer_id=buyer,
                    sku_id=seller.sku_id,
                    quantity=2,
                    channel=Channel.DISTRIBUTION,
                    idempotency_key=f"o{i}",
                    creator_id=creator,
                    more_lines=(orders_service.LineRequest(cap_sku.id, 1),),
                ),
                at=T0,
            )
            orders_service.pay_order(s, order_id=order.id, idempotency_key=f"p{i}", at=T0)
            orders_service.ship_order(s, order_id=order.id, at=T0 + timedelta(hours=1))
            requests = [
                aftersales_service.request_after_sales(
                    s,
                    order_id=order.id,
                    line_id=line.id,
                    kind=AfterSalesKind.REFUND_ONLY,
                    reason=AfterSalesReason.QUALITY,
                    actor=Actor(ActorRole.BUYER, buyer),
                    at=T0 + timedelta(hours=2),
                ).id
                for line in orders_service.order_lines(s, order.id)
            ]
            orders.append((order.id, requests))

    def approve(i: int) -> None:
        _, requests = orders[i // 4]
        with transaction(factory) as s:  # each request approved twice, all at once
            aftersales_service.approve(
                s,
                request_id=requests[i % 2],
                actor=Actor(ActorRole.MERCHANT),
                at=T0 + timedelta(hours=3),
            )

    _run_together(16, approve)

    with factory() as s:
        for order_id, _ in orders:
            lines = s.scalars(select(OrderLine).where(OrderLine.order_id == order_id)).all()
            taken = s.scalars(
                select(CommissionEntry.amount_fen).where(
                    CommissionEntry.order_id == order_id,
                    CommissionEntry.kind == CommissionEntryKind.REVERSED,
                )
            ).all()
            assert sorted(taken) == sorted(line.commission_fen for line in lines)


def test_carts_crossing_the_same_skus_in_other_orders_all_go_through(
    factory: sessionmaker[Session],
) -> None:
    """Shop X sells SKUs a and c, shop Y SKU b: a cart {a, c, b} takes a, c then b order by
    order, a cart {c, b} would take b then c; the checkout locks its SKUs first, in one
    order, so none of them waits on another in a circle (a deadlock, refused)."""
    from trustflow.catalog import service as catalog_service
    from trustflow.catalog.models import ListingStatus
    from trustflow.orders import checkout as checkout_actions

    with transaction(factory) as s:
        cat = factories.category(s)
        x = factories.seller(s, category_id=cat, stock=1_000, name="X")
        y = factories.seller(s, category_id=cat, stock=1_000, name="Y")
        product = catalog_service.create_product(s, shop_id=x.shop_id, title="c")
        c = catalog_service.add_sku(s, product_id=product.id, price_fen=500, stock=1_000).id
        catalog_service.set_listing_status(s, product_id=product.id, status=ListingStatus.LISTED)
        buyers = [factories.buyer(s, f"d{i}") for i in range(20)]
    shapes = ([x.sku_id, c, y.sku_id], [c, y.sku_id])

    def check_out(i: int) -> int:
        with transaction(factory) as s:
            return checkout_actions.place_checkout(
                s,
                buyer_id=buyers[i],
                items=[checkout_actions.CheckoutItem(sku, 1) for sku in shapes[i % 2]],
                idempotency_key=f"cross-{i}",
                at=T0,
            ).id

    results = _run_together(20, check_out)

    assert [r for r in results if not isinstance(r, int)] == []
    with factory() as s:
        stock = dict(s.execute(select(Sku.id, Sku.stock)).all())
        assert (stock[x.sku_id], stock[c], stock[y.sku_id]) == (990, 980, 980)
