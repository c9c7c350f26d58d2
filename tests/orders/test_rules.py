"""Each placement rule refuses an order for one reason, whichever path places it.

The rules live once, in :mod:`trustflow.orders.rules`; the one-at-a-time service and the bulk
path both call them. Here the same request goes through both paths and must meet the same
fate: the same error code, or an order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests import factories
from trustflow.accounts import service as accounts_service
from trustflow.catalog import service as catalog_service
from trustflow.catalog.models import ListingStatus, ShopStatus
from trustflow.content import service as content_service
from trustflow.errors import ErrorCode, TrustflowError
from trustflow.orders import bulk, rules
from trustflow.orders import service as orders_service
from trustflow.orders.models import ContentKind, Order
from trustflow.orders.service import OrderRequest
from trustflow.vocabulary import Channel

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
AT = T0 + timedelta(hours=1)  # when every order here is placed
PRICE_FEN = 1_000
PLACED = "placed"


@dataclass(frozen=True)
class World:
    buyer: int
    shop: factories.Seller  # listed, in an active shop, plenty of stock
    creator: int  # selected an offer for the shop's product
    stranger: int  # a creator with no offer for it
    own_live: int  # the shop's own room, live
    own_scheduled: int  # the shop's own room, not started yet
    other_shop_live: int  # another shop's room, live
    creator_live: int  # the creator's room, live
    creator_ended: int  # the creator's room, over before the order
    posted_video: int  # the creator's video, posted exactly at the order's time
    future_video: int  # the creator's video, posted a minute after the order
    draft_sku: int
    delisted_sku: int
    blocked_sku: int
    suspended_sku: int  # listed, in a suspended shop
    delisted_in_suspended_sku: int


@pytest.fixture
def world(session: Session) -> World:
    cat = factories.category(session)
    shop = factories.seller(session, category_id=cat, price_fen=PRICE_FEN, stock=5_000, at=T0)
    creator, _ = factories.creator_selling(session, shop.product_id, at=T0)
    stranger = accounts_service.create_creator(session, name="Stranger").id
    other = factories.seller(session, category_id=cat, name="Other", at=T0)

    def live(
        *,
        shop_id: int | None = None,
        creator_id: int | None = None,
        started: bool = True,
        ended: bool = False,
    ) -> int:
        room = content_service.schedule_live(
            session, shop_id=shop_id, creator_id=creator_id, scheduled_at=T0
        )
        if started:
            content_service.start_live(session, live_id=room.id, at=T0)
        if ended:
            content_service.end_live(session, live_id=room.id, at=T0 + timedelta(minutes=30))
        return room.id

    def video(at: datetime) -> int:
        return content_service.post_short_video(session, creator_id=creator, at=at).id

    draft = catalog_service.create_product(session, shop_id=shop.shop_id, title="Draft", at=T0)
    draft_sku = catalog_service.add_sku(session, product_id=draft.id, price_fen=100, stock=9).id
    delisted = factories.seller(session, category_id=cat, name="Delisted", at=T0)
    catalog_service.set_listing_status(
        session, product_id=delisted.product_id, status=ListingStatus.DELISTED
    )
    blocked = factories.seller(session, category_id=cat, name="Blocked", at=T0)
    catalog_service.set_listing_status(
        session, product_id=blocked.product_id, status=ListingStatus.BLOCKED, by_operator=True
    )
    suspended = factories.seller(session, category_id=cat, name="Suspended", at=T0)
    catalog_service.set_shop_status(session, shop_id=suspended.shop_id, status=ShopStatus.SUSPENDED)
    both = factories.seller(session, category_id=cat, name="Both", at=T0)
    catalog_service.set_listing_status(
        session, product_id=both.product_id, status=ListingStatus.DELISTED
    )
    catalog_service.set_shop_status(session, shop_id=both.shop_id, status=ShopStatus.SUSPENDED)
    w = World(
        buyer=factories.buyer(session),
        shop=shop,
        creator=creator,
        stranger=stranger,
        own_live=live(shop_id=shop.shop_id),
        own_scheduled=live(started=False, shop_id=shop.shop_id),
        other_shop_live=live(shop_id=other.shop_id),
        creator_live=live(creator_id=creator),
        creator_ended=live(ended=True, creator_id=creator),
        posted_video=video(AT),
        future_video=video(AT + timedelta(minutes=1)),
        draft_sku=draft_sku,
        delisted_sku=delisted.sku_id,
        blocked_sku=blocked.sku_id,
        suspended_sku=suspended.sku_id,
        delisted_in_suspended_sku=both.sku_id,
    )
    session.commit()
    return w


def _live(room: Callable[[World], int], channel: Channel = Channel.SELF_BROADCAST) -> Any:
    """A request credited to the live session ``room`` picks, on ``channel``."""

    def build(w: World) -> dict[str, Any]:
        extra = {"creator_id": w.creator} if channel is Channel.DISTRIBUTION else {}
        return {
            "channel": channel,
            "content_kind": ContentKind.LIVE_SESSION,
            "content_id": room(w),
            **extra,
        }

    return build


def _video(video: Callable[[World], int]) -> Any:
    return lambda w: {
        "channel": Channel.DISTRIBUTION,
        "creator_id": w.creator,
        "content_kind": ContentKind.SHORT_VIDEO,
        "content_id": video(w),
    }


#: (what the buyer asks, what of the default request changes, what both paths must answer)
CASES: list[tuple[str, Callable[[World], dict[str, Any]], ErrorCode | str]] = [
    # the request alone
    ("no pieces", lambda w: {"quantity": 0}, ErrorCode.INVALID_INPUT),
    ("too many pieces", lambda w: {"quantity": rules.MAX_QUANTITY + 1}, ErrorCode.INVALID_INPUT),
    ("the most pieces", lambda w: {"quantity": rules.MAX_QUANTITY}, PLACED),
    ("an empty key", lambda w: {"idempotency_key": ""}, ErrorCode.INVALID_INPUT),
    (
        "a key too long",
        lambda w: {"idempotency_key": "k" * (rules.MAX_KEY_LENGTH + 1)},
        ErrorCode.INVALID_INPUT,
    ),
    ("the longest key", lambda w: {"idempotency_key": "k" * rules.MAX_KEY_LENGTH}, PLACED),
    (
        "a negative merchant discount",
        lambda w: {"merchant_discount_fen": -1},
        ErrorCode.INVALID_INPUT,
    ),
    (
        "a negative platform discount",
        lambda w: {"platform_discount_fen": -1},
        ErrorCode.INVALID_INPUT,
    ),
    ("a creator on a shelf sale", lambda w: {"creator_id": w.creator}, ErrorCode.INVALID_INPUT),
    (
        "a distribution sale without a creator",
        lambda w: {"channel": Channel.DISTRIBUTION},
        ErrorCode.INVALID_INPUT,
    ),
    (
        "content without its id",
        lambda w: {"channel": Channel.SELF_BROADCAST, "content_kind": ContentKind.LIVE_SESSION},
        ErrorCode.INVALID_INPUT,
    ),
    (
        "a content id without its kind",
        lambda w: {"channel": Channel.SELF_BROADCAST, "content_id": w.own_live},
        ErrorCode.INVALID_INPUT,
    ),
    # the product and its shop
    ("a draft's SKU", lambda w: {"sku_id": w.draft_sku}, ErrorCode.NOT_FOUND),
    ("a delisted product", lambda w: {"sku_id": w.delisted_sku}, ErrorCode.NOT_LISTED),
    ("a blocked product", lambda w: {"sku_id": w.blocked_sku}, ErrorCode.NOT_LISTED),
    ("a suspended shop", lambda w: {"sku_id": w.suspended_sku}, ErrorCode.SHOP_NOT_ACTIVE),
    (
        "a delisted product in a suspended shop",  # the listing is judged first
        lambda w: {"sku_id": w.delisted_in_suspended_sku},
        ErrorCode.NOT_LISTED,
    ),
    (
        "discounts above the goods",
        lambda w: {"merchant_discount_fen": PRICE_FEN // 2, "platform_discount_fen": 501},
        ErrorCode.INVALID_INPUT,
    ),
    (
        "discounts equal to the goods",
        lambda w: {"merchant_discount_fen": PRICE_FEN // 2, "platform_discount_fen": 500},
        PLACED,
    ),
    # the creator's offer
    (
        "a distribution sale without an offer",
        lambda w: {"channel": Channel.DISTRIBUTION, "creator_id": w.stranger},
        ErrorCode.NO_DISTRIBUTION_OFFER,
    ),
    (
        "a creator without an offer, from an ended room",  # the offer is judged first
        lambda w: {
            **_live(lambda w: w.creator_ended, Channel.DISTRIBUTION)(w),
            "creator_id": w.stranger,
        },
        ErrorCode.NO_DISTRIBUTION_OFFER,
    ),
    (
        "a distribution sale with an offer",
        lambda w: {"channel": Channel.DISTRIBUTION, "creator_id": w.creator},
        PLACED,
    ),
    # the content credited
    ("a live session that does not exist", _live(lambda w: 999_999), ErrorCode.NOT_FOUND),
    ("a live session not started", _live(lambda w: w.own_scheduled), ErrorCode.CONTENT_NOT_LIVE),
    (
        "a live session over",
        _live(lambda w: w.creator_ended, Channel.DISTRIBUTION),
        ErrorCode.CONTENT_NOT_LIVE,
    ),
    (
        "self-broadcast from another shop's room",
        _live(lambda w: w.other_shop_live),
        ErrorCode.INVALID_INPUT,
    ),
    (
        "a creator's sale from the shop's own room",
        _live(lambda w: w.own_live, Channel.DISTRIBUTION),
        ErrorCode.INVALID_INPUT,
    ),
    ("self-broadcast from the shop's own room", _live(lambda w: w.own_live), PLACED),
    (
        "a creator's sale from their own room",
        _live(lambda w: w.creator_live, Channel.DISTRIBUTION),
        PLACED,
    ),
    ("a short video that does not exist", _video(lambda w: 999_999), ErrorCode.NOT_FOUND),
    ("a short video not posted yet", _video(lambda w: w.future_video), ErrorCode.INVALID_INPUT),
    ("a short video posted as the order is", _video(lambda w: w.posted_video), PLACED),
]


def _request(w: World, change: Callable[[World], dict[str, Any]], key: str) -> OrderRequest:
    args: dict[str, Any] = {
        "buyer_id": w.buyer,
        "sku_id": w.shop.sku_id,
        "quantity": 1,
        "channel": Channel.SHELF_SEARCH,
        "idempotency_key": key,
    }
    return OrderRequest(**{**args, **change(w)})


def _batch(requests: list[OrderRequest]) -> bulk.OrderBatch:
    """The requests as the bulk path takes them (0 for "none" in the id columns)."""

    def ints(values: list[int | None]) -> Any:
        return np.array([v or 0 for v in values], dtype=np.int64)

    return bulk.OrderBatch(
        buyer_id=ints([r.buyer_id for r in requests]),
        sku_id=ints([r.sku_id for r in requests]),
        quantity=ints([r.quantity for r in requests]),
        channel=[r.channel for r in requests],
        idempotency_key=[r.idempotency_key for r in requests],
        creator_id=ints([r.creator_id for r in requests]),
        content_kind=[r.content_kind for r in requests],
        content_id=ints([r.content_id for r in requests]),
        surface=[r.surface.value if r.surface else None for r in requests],
        merchant_discount_fen=ints([r.merchant_discount_fen for r in requests]),
        platform_discount_fen=ints([r.platform_discount_fen for r in requests]),
    )


def _orders(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Order)) or 0


def _one_at_a_time(session: Session, request: OrderRequest) -> ErrorCode | str:
    """What the service answers ``request``; whatever it did is then undone."""
    try:
        orders_service.place_order(session, request, at=AT)
    except TrustflowError as refused:
        assert _orders(session) == 0  # a refused order leaves nothing behind
        return refused.code
    else:
        assert _orders(session) == 1
        return PLACED
    finally:
        session.rollback()


def _in_bulk(session: Session, requests: list[OrderRequest]) -> list[ErrorCode | str]:
    """What the bulk path answers each request of one batch; whatever it did is then undone."""
    result = bulk.place_orders(session, _batch(requests), at=AT)
    answers: list[ErrorCode | str] = []
    for i in range(len(requests)):
        # every row is either refused with a code or placed, never silently dropped
        assert (i in result.refused) != (result.order_id[i] > 0)
        answers.append(result.refused.get(i, PLACED))
    assert _orders(session) == answers.count(PLACED)
    session.rollback()
    return answers


@pytest.mark.parametrize(("change", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_the_service_and_the_bulk_path_answer_a_request_alike(
    session: Session,
    world: World,
    change: Callable[[World], dict[str, Any]],
    expected: ErrorCode | str,
) -> None:
    request = _request(world, change, "order-1")

    one = _one_at_a_time(session, request)
    (many,) = _in_bulk(session, [request])

    assert one == many == expected


def test_in_one_batch_each_row_is_answered_as_its_own_request(
    session: Session, world: World
) -> None:
    """Rows do not taint each other: a batch of every case answers each as the service does
    when asked alone."""
    requests = [_request(world, change, f"case-{n}") for n, (_, change, _) in enumerate(CASES)]
    # the key cases carry their own (valid or invalid) keys; no two rows share one
    assert len({r.idempotency_key for r in requests}) == len(requests)

    alone = [_one_at_a_time(session, r) for r in requests]
    together = _in_bulk(session, requests)

    assert together == alone == [expected for _, _, expected in CASES]
