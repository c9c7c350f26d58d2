"""Orders: place, pay, cancel, ship, pick up, deliver, confirm receipt.

Each public function is one named action. It runs inside the caller's transaction, checks
the move against :data:`trustflow.orders.rules.TRANSITIONS` and writes an audit event.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    String,
    Table,
    bindparam,
    exists,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session

from trustflow.accounts.models import Buyer
from trustflow.bulk import (
    DriverCursor,
    DriverStatement,
    driver_cursor,
    insert_unless_present,
    table,
)
from trustflow.catalog.models import Product, Shop, ShopTransitTime, Sku
from trustflow.content.models import LiveSession, ShortVideo
from trustflow.db import attach_loaded, utcnow
from trustflow.distribution import service as distribution_service
from trustflow.errors import (
    Conflict,
    ErrorCode,
    IllegalTransition,
    InvalidInput,
    NotFound,
    OutOfStock,
    TrustflowError,
)
from trustflow.orders import commission, rules
from trustflow.orders.attribution import UNATTRIBUTED_CHANNEL, Attribution
from trustflow.orders.models import (
    CancelReason,
    Checkout,
    CheckoutStatus,
    ContentKind,
    Order,
    OrderEvent,
    OrderLine,
    OrderStatus,
    Payment,
)
from trustflow.vocabulary import Channel, Surface

__all__ = [
    "MAX_KEY_LENGTH",
    "LineRequest",
    "OrderRequest",
    "PricedLine",
    "attributed_request",
    "cancel_order",
    "confirm_receipt",
    "deliver_order",
    "discount_lines",
    "expire_unpaid_orders",
    "get_order",
    "mark_checkouts_paid",
    "new_order_row",
    "order_events",
    "order_lines",
    "pay_order",
    "pick_up_order",
    "place_order",
    "place_order_row",
    "ship_order",
    "sku_goods",
    "skus_goods",
    "vouched_request",
]

MAX_KEY_LENGTH = rules.MAX_KEY_LENGTH


@dataclass(frozen=True)
class LineRequest:
    """One more SKU of an order, and how many (discounts: the server's own paths only)."""

    sku_id: int
    quantity: int
    merchant_discount_fen: int = 0
    platform_discount_fen: int = 0


@dataclass(frozen=True)
class OrderRequest:
    """What a buyer asks for: a SKU and how many, and any more lines of the same shop's goods
    (``more_lines``). Prices come from the catalog, never from the request."""

    buyer_id: int
    sku_id: int
    quantity: int
    channel: Channel
    idempotency_key: str
    creator_id: int | None = None
    content_kind: ContentKind | None = None
    content_id: int | None = None
    surface: Surface | None = None
    merchant_discount_fen: int = 0
    platform_discount_fen: int = 0
    #: the checkout the order is placed in (not part of what the buyer asked for: a retry
    #: of the checkout replays the checkout)
    checkout_id: int | None = None
    more_lines: tuple[LineRequest, ...] = ()

    @property
    def lines(self) -> tuple[LineRequest, ...]:
        """Every line asked for, the first (``sku_id``, ``quantity``) first."""
        first = LineRequest(
            self.sku_id, self.quantity, self.merchant_discount_fen, self.platform_discount_fen
        )
        return (first, *self.more_lines)

    def fingerprint(self) -> str:
        parts = (
            self.sku_id,
            self.quantity,
            self.channel.value,
            self.creator_id,
            self.content_kind.value if self.content_kind else None,
            self.content_id,
            self.surface.value if self.surface else None,
            self.merchant_discount_fen,
            self.platform_discount_fen,
        )
        # an order of one line keeps the fingerprint it always had
        more = (tuple(self.more_lines),) if self.more_lines else ()
        return hashlib.sha256(repr((*parts, *more)).encode()).hexdigest()


def attributed_request(
    session: Session,
    *,
    buyer_id: int,
    sku_id: int,
    quantity: int,
    idempotency_key: str,
    attribution: Attribution | None,
) -> OrderRequest:
    """The request a buyer's order becomes: attributed as ``attribution`` (a verified token)
    says if it vouches for this SKU's goods, else a product-card sale with no creator."""
    return vouched_request(
        buyer_id=buyer_id,
        sku_id=sku_id,
        quantity=quantity,
        idempotency_key=idempotency_key,
        attribution=attribution,
        goods=None if attribution is None else sku_goods(session, sku_id),
    )


def vouched_request(
    *,
    buyer_id: int,
    sku_id: int,
    quantity: int,
    idempotency_key: str,
    attribution: Attribution | None,
    goods: tuple[int, int] | None,
) -> OrderRequest:
    """:func:`attributed_request` for a SKU whose ``goods`` (shop id, product id) are known
    (None: no such SKU)."""
    if (
        attribution is not None
        and goods is not None
        and attribution.covers(shop_id=goods[0], product_id=goods[1])
    ):
        return OrderRequest(
            buyer_id=buyer_id,
            sku_id=sku_id,
            quantity=quantity,
            channel=attribution.channel,
            idempotency_key=idempotency_key,
            creator_id=attribution.creator_id,
            content_kind=attribution.content_kind,
            content_id=attribution.content_id,
            surface=attribution.surface,
        )
    return OrderRequest(
        buyer_id=buyer_id,
        sku_id=sku_id,
        quantity=quantity,
        channel=UNATTRIBUTED_CHANNEL,
        idempotency_key=idempotency_key,
    )


def sku_goods(
    session: Session, sku_id: int, cursor: DriverCursor | None = None
) -> tuple[int, int] | None:
    """The SKU's shop and product ids (None: no such SKU)."""
    return skus_goods(session, [sku_id], cursor).get(sku_id)


_GOODS_OF: dict[int, DriverStatement] = {}


def skus_goods(
    session: Session, sku_ids: Sequence[int], cursor: DriverCursor | None = None
) -> dict[int, tuple[int, int]]:
    """Each SKU's shop and product ids, by SKU id (a SKU that does not exist is absent); one
    statement, prebuilt once per number of SKUs."""
    stmt = _GOODS_OF.get(len(sku_ids))
    if stmt is None:
        stmt = _GOODS_OF[len(sku_ids)] = DriverStatement(
            select(_skus.c.id, _products.c.shop_id, _products.c.id)
            .join(_products, _products.c.id == _skus.c.product_id)
            .where(_skus.c.id.in_([bindparam(f"s{n}") for n in range(len(sku_ids))]))
        )
    found = stmt.execute(
        cursor or driver_cursor(session), {f"s{n}": sku for n, sku in enumerate(sku_ids)}
    ).fetchall()
    return {int(sku): (int(shop), int(product)) for sku, shop, product in found}


def _refusal(code: ErrorCode, message: str) -> TrustflowError:
    """The error a rule's refusal raises: its code decides the kind (and the HTTP status)."""
    if code is ErrorCode.INVALID_INPUT:
        return InvalidInput(message)
    if code is ErrorCode.NOT_FOUND:
        return NotFound(message)
    return Conflict(message, code=code)


def _validate(request: OrderRequest) -> None:
    """The rules the request alone must meet, before anything is looked up."""
    lines = request.lines
    if (code := rules.lines_refusal([line.sku_id for line in lines])) is not None:
        raise _refusal(code, f"an order holds 1..{rules.MAX_LINES} lines, each of another SKU")
    for line in lines:
        if (code := rules.quantity_refusal(line.quantity)) is not None:
            raise _refusal(code, f"quantity must be in 1..{rules.MAX_QUANTITY}")
        code = rules.negative_discount_refusal(
            line.merchant_discount_fen, line.platform_discount_fen
        )
        if code is not None:
            raise _refusal(code, "discounts cannot be negative")
    if (code := rules.idempotency_key_refusal(request.idempotency_key)) is not None:
        raise _refusal(code, f"idempotency key must be 1..{MAX_KEY_LENGTH} characters")
    if (code := rules.creator_refusal(request.channel, request.creator_id)) is not None:
        raise _refusal(code, "creator_id is required for distribution orders, and only for them")
    code = rules.content_pairing_refusal(request.content_kind, request.content_id)
    if code is not None:
        raise _refusal(code, "content_kind and content_id go together")


def _replay(existing: Order, request: OrderRequest) -> Order:
    if existing.request_hash != request.fingerprint():
        raise Conflict(
            "this idempotency key was used for a different order",
            code=ErrorCode.IDEMPOTENCY_KEY_REUSED,
            order_id=existing.id,
        )
    return existing


def _find_by_key(session: Session, buyer_id: int, key: str) -> Order | None:
    return session.scalar(
        select(Order).where(Order.buyer_id == buyer_id, Order.idempotency_key == key)
    )


_LIVE_REFUSED = {
    ErrorCode.NOT_FOUND: "live session {} not found",
    ErrorCode.CONTENT_NOT_LIVE: "live session {} is not live",
    ErrorCode.INVALID_INPUT: "live session {} is not hosted by the attributed seller",
}
_VIDEO_REFUSED = {
    ErrorCode.NOT_FOUND: "short video {} not found",
    ErrorCode.INVALID_INPUT: "short video {} was not posted yet",
}


def _check_content(session: Session, request: OrderRequest, shop_id: int, at: datetime) -> None:
    """The content an order is credited to, by :func:`rules.live_session_refusal` and
    :func:`rules.short_video_refusal`."""
    if request.content_kind is ContentKind.LIVE_SESSION:
        live = session.get(LiveSession, request.content_id)
        code = rules.live_session_refusal(
            request.channel,
            shop_id=shop_id,
            creator_id=request.creator_id,
            live_status=None if live is None else live.status,
            host_shop_id=None if live is None else live.shop_id,
            host_creator_id=None if live is None else live.creator_id,
        )
        if code is not None:
            raise _refusal(code, _LIVE_REFUSED[code].format(request.content_id))
    elif request.content_kind is ContentKind.SHORT_VIDEO:
        video = session.get(ShortVideo, request.content_id)
        code = rules.short_video_refusal(None if video is None else video.posted_at, at)
        if code is not None:
            raise _refusal(code, _VIDEO_REFUSED[code].format(request.content_id))


# The placement hot path runs prebuilt Core statements on the session's connection: building
# ORM statements per call cost more than SQLite's own work (see bench.orders).
_orders, _skus = cast(Table, Order.__table__), cast(Table, Sku.__table__)
_products, _shops = cast(Table, Product.__table__), cast(Table, Shop.__table__)
_buyers = cast(Table, Buyer.__table__)

_transit = cast(Table, ShopTransitTime.__table__)
#: every column of a line but its id, as :meth:`PricedLine.row` fills them
_LINE_COLUMNS = tuple(c.key for c in cast(Table, OrderLine.__table__).c if c.key != "id")


def _transit_subquery(column: str, shop_id: Any, region: Any) -> Any:
    """The shop's transit hours (``column``) for the region, else its ``*`` row; NULL if it
    names neither (the platform's default applies)."""
    return (
        select(_transit.c[column])
        .where(_transit.c.shop_id == shop_id, _transit.c.region.in_([region, "*"]))
        .order_by((_transit.c.region == "*").asc())
        .limit(1)
        .scalar_subquery()
    )


_BUYER_REGION = (
    select(_buyers.c.region).where(_buyers.c.id == bindparam("buyer_id")).scalar_subquery()
)
_OFFER_ID, _OFFER_BPS = distribution_service.offer_terms_subquery(
    bindparam("creator_id"), _skus.c.product_id, bindparam("at", type_=Order.created_at.type)
)
#: what placement checks of each line's SKU (the facts :func:`_checked_line` reads)
_LINE_FACTS = (
    _skus.c.price_fen,
    _skus.c.product_id,
    _products.c.status,
    _products.c.shop_id,
    _OFFER_ID,
    _OFFER_BPS,
)
_ORDERABLE = DriverStatement(
    select(
        *_LINE_FACTS,
        _shops.c.status,
        exists().where(_buyers.c.id == bindparam("buyer_id")),
        select(_orders.c.id)
        .where(
            _orders.c.buyer_id == bindparam("buyer_id"),
            _orders.c.idempotency_key == bindparam("key"),
        )
        .scalar_subquery(),
        _shops.c.handling_hours,
        _BUYER_REGION,
        _transit_subquery("min_hours", _shops.c.id, _BUYER_REGION),
        _transit_subquery("max_hours", _shops.c.id, _BUYER_REGION),
    )
    .join(_products, _products.c.id == _skus.c.product_id)
    .join(_shops, _shops.c.id == _products.c.shop_id)
    .where(_skus.c.id == bindparam("sku_id"))
)
_RESERVE = DriverStatement(
    update(_skus)
    .where(_skus.c.id == bindparam("sku"), _skus.c.stock >= bindparam("qty"))
    .values(stock=_skus.c.stock - bindparam("qty"))
)
_PLACE_EVENT = DriverStatement(
    insert(cast(Table, OrderEvent.__table__))
    .values(
        order_id=bindparam("order_id"),
        action="place",
        from_status=None,
        to_status=OrderStatus.PENDING_PAYMENT.value,
        actor=bindparam("actor"),
        at=bindparam("at"),
    )
    .inline()
)
_LINE_ORDERABLE = DriverStatement(
    select(*_LINE_FACTS)
    .join(_products, _products.c.id == _skus.c.product_id)
    .where(_skus.c.id == bindparam("sku_id"))
)
_LINE_INSERTS: dict[int, DriverStatement] = {}


def _insert_lines(cursor: DriverCursor, rows: Sequence[dict[str, Any]]) -> None:
    """Insert an order's lines in one statement (prebuilt once per number of lines)."""
    stmt = _LINE_INSERTS.get(len(rows))
    if stmt is None:
        lines = cast(Table, OrderLine.__table__)
        stmt = _LINE_INSERTS[len(rows)] = DriverStatement(
            insert(lines).values(
                [
                    {c: bindparam(f"{c}_{n}", type_=lines.c[c].type) for c in _LINE_COLUMNS}
                    for n in range(len(rows))
                ]
            )
        )
    stmt.execute(cursor, {f"{c}_{n}": v for n, row in enumerate(rows) for c, v in row.items()})


_INSERT_ORDER = {
    dialect: DriverStatement(stmt.returning(_orders.c.id))
    for dialect, stmt in insert_unless_present(_orders, ["buyer_id", "idempotency_key"]).items()
}


@dataclass(frozen=True)
class PricedLine:
    """A line as placed: its SKU's product and price, the discounts, the creator's offer."""

    sku_id: int
    product_id: int
    quantity: int
    unit_price_fen: int
    merchant_discount_fen: int = 0
    platform_discount_fen: int = 0
    offer_id: int | None = None
    commission_bps: int = 0

    @property
    def goods_amount_fen(self) -> int:
        return self.unit_price_fen * self.quantity

    @property
    def paid_amount_fen(self) -> int:
        return self.goods_amount_fen - self.merchant_discount_fen - self.platform_discount_fen

    @property
    def commission_fen(self) -> int:
        base = rules.commission_base_fen(self.goods_amount_fen, self.merchant_discount_fen)
        return int(rules.commission_fen(base, self.commission_bps))

    def row(self, *, order_id: int, line_no: int, at: datetime) -> dict[str, Any]:
        """The ``order_lines`` row this line is, as line ``line_no`` of the order."""
        return {
            "order_id": order_id,
            "line_no": line_no,
            "product_id": self.product_id,
            "sku_id": self.sku_id,
            "quantity": self.quantity,
            "unit_price_fen": self.unit_price_fen,
            "goods_amount_fen": self.goods_amount_fen,
            "merchant_discount_fen": self.merchant_discount_fen,
            "platform_discount_fen": self.platform_discount_fen,
            "paid_amount_fen": self.paid_amount_fen,
            "offer_id": self.offer_id,
            "commission_bps": self.commission_bps,
            "commission_fen": self.commission_fen,
            "created_at": at,
            "external_id": None,
        }


def new_order_row(
    request: OrderRequest,
    *,
    shop_id: int,
    lines: Sequence[PricedLine],
    at: datetime,
    promise: rules.Promise,
    region: str | None,
) -> dict[str, Any]:
    """The row a checked request becomes: the totals of its lines, their frozen commission,
    the first line's SKU (the one it is listed under), promise and fingerprint.

    Both placement paths (one at a time and in bulk) build their rows here, and the rows of
    their lines with :meth:`PricedLine.row`.
    """
    first = lines[0]
    return {
        "buyer_id": request.buyer_id,
        "shop_id": shop_id,
        "product_id": first.product_id,
        "sku_id": first.sku_id,
        "quantity": first.quantity,
        "unit_price_fen": first.unit_price_fen,
        "goods_amount_fen": sum(line.goods_amount_fen for line in lines),
        "merchant_discount_fen": sum(line.merchant_discount_fen for line in lines),
        "platform_discount_fen": sum(line.platform_discount_fen for line in lines),
        "paid_amount_fen": sum(line.paid_amount_fen for line in lines),
        "channel": request.channel,
        "creator_id": request.creator_id,
        "offer_id": first.offer_id,
        "commission_bps": first.commission_bps,
        "commission_fen": sum(line.commission_fen for line in lines),
        "content_kind": request.content_kind,
        "content_id": request.content_id,
        "surface": request.surface,
        "status": OrderStatus.PENDING_PAYMENT,
        "idempotency_key": request.idempotency_key,
        "request_hash": request.fingerprint(),
        "created_at": at,
        "updated_at": at,
        "ship_by": promise.ship_by,
        "ship_to_region": region,
        "deliver_from": promise.deliver_from,
        "deliver_by": promise.deliver_by,
        "cancel_reason": None,
        "cancel_party": None,
        "cancel_refund_fen": 0,
        "external_id": None,
        "checkout_id": request.checkout_id,
    }


def place_order(
    session: Session, request: OrderRequest, *, at: datetime | None = None, actor: str = "buyer"
) -> Order:
    """Place an order: validate, reserve stock, freeze price and commission, record it.

    A retry with the same idempotency key returns the first order and changes nothing.
    """
    at = at or utcnow()
    placed = place_order_row(session, request, at=at, actor=actor)
    if isinstance(placed, Order):
        return placed
    # The stored row is exactly these values: attach it to the session without reading it back.
    return attach_loaded(session, Order, placed)


def place_order_row(
    session: Session,
    request: OrderRequest,
    *,
    at: datetime,
    actor: str,
    cursor: DriverCursor | None = None,
) -> Order | dict[str, Any]:
    """:func:`place_order`'s work: the stored row's values (with its ``id``), or the order
    an earlier request with the key placed. For callers that need the figures, not the
    object (a checkout sums its orders)."""
    _validate(request)
    cursor = cursor or driver_cursor(session)
    row = _ORDERABLE.execute(
        cursor,
        {
            "buyer_id": request.buyer_id,
            "key": request.idempotency_key,
            "sku_id": request.sku_id,
            "creator_id": request.creator_id,
            "at": at,
        },
    ).fetchone()
    if row is None:
        raise NotFound(f"sku {request.sku_id} not found")
    first_facts = tuple(row[: len(_LINE_FACTS)])
    shop_id = first_facts[3]  # the order's shop: its first line's (see _LINE_FACTS)
    (
        shop_status,
        buyer_exists,
        existing_id,
        handling_hours,
        region,
        transit_min,
        transit_max,
    ) = row[len(_LINE_FACTS) :]
    if existing_id is not None:
        return _replay(get_order(session, existing_id), request)
    if not buyer_exists:
        raise NotFound(f"buyer {request.buyer_id} not found")
    first = request.lines[0]
    lines = [
        _checked_line(
            request,
            first,
            first_facts,
            shop_id=shop_id,
            shop_status=shop_status,
        )
    ]
    for more in request.more_lines:
        found = _LINE_ORDERABLE.execute(
            cursor, {"sku_id": more.sku_id, "creator_id": request.creator_id, "at": at}
        ).fetchone()
        if found is None:
            raise NotFound(f"sku {more.sku_id} not found")
        lines.append(
            _checked_line(request, more, tuple(found), shop_id=shop_id, shop_status=shop_status)
        )
    if request.content_kind is not None:
        _check_content(session, request, shop_id, at)

    values = new_order_row(
        request,
        shop_id=shop_id,
        lines=lines,
        at=at,
        promise=rules.promise(
            at,
            handling_hours=handling_hours,
            transit_hours=rules.DEFAULT_TRANSIT_HOURS
            if transit_min is None
            else (transit_min, transit_max),
        ),
        region=region,
    )
    inserted = _INSERT_ORDER[cursor.dialect.name].execute(cursor, values).fetchone()
    order_id = inserted[0] if inserted is not None else None
    if order_id is None:  # a concurrent retry with the same key won the race
        winner = _find_by_key(session, request.buyer_id, request.idempotency_key)
        assert winner is not None
        return _replay(winner, request)
    # in SKU order, so two orders holding the same SKUs take their stock in the same order
    for priced in sorted(lines, key=lambda priced: priced.sku_id):
        reserved = _RESERVE.execute(cursor, {"sku": priced.sku_id, "qty": priced.quantity})
        if reserved.rowcount == 0:
            raise OutOfStock(f"sku {priced.sku_id} has fewer than {priced.quantity} in stock")
    _insert_lines(
        cursor,
        [priced.row(order_id=order_id, line_no=n, at=at) for n, priced in enumerate(lines, 1)],
    )
    _PLACE_EVENT.execute(cursor, {"order_id": order_id, "at": at, "actor": actor})
    return {**_UNSET_STAMPS, **values, "id": order_id}


def _checked_line(
    request: OrderRequest,
    line: LineRequest,
    found: tuple[Any, ...],
    *,
    shop_id: int,
    shop_status: Any,
) -> PricedLine:
    """A line of the order as placed, once it met the rules: its goods on sale, in the
    order's shop (``shop_id``, active), discounts within its goods, the creator's offer for
    its product. ``found``: its SKU's price, product, listing, shop and the offer's id and
    rate."""
    price_fen, product_id, listing, line_shop_id, offer_id, offer_bps = found
    if (code := rules.listing_refusal(listing)) is not None:
        raise _refusal(
            code,
            # never published: to a buyer its SKU does not exist
            f"sku {line.sku_id} not found"
            if code is ErrorCode.NOT_FOUND
            else f"product {product_id} is not on sale",
        )
    if (code := rules.shop_refusal(shop_status)) is not None:
        raise _refusal(code, f"shop {shop_id} is not active")
    if (code := rules.same_shop_refusal(line_shop_id, shop_id)) is not None:
        raise _refusal(code, f"sku {line.sku_id} is another shop's: an order is one shop's")
    code = rules.excess_discount_refusal(
        price_fen * line.quantity, line.merchant_discount_fen, line.platform_discount_fen
    )
    if code is not None:
        raise _refusal(code, "discounts exceed the goods amount")
    if (code := rules.offer_refusal(request.channel, offer_id)) is not None:
        raise _refusal(
            code, f"creator {request.creator_id} has no valid offer for product {product_id}"
        )
    return PricedLine(
        sku_id=line.sku_id,
        product_id=product_id,
        quantity=line.quantity,
        unit_price_fen=price_fen,
        merchant_discount_fen=line.merchant_discount_fen,
        platform_discount_fen=line.platform_discount_fen,
        offer_id=offer_id,
        commission_bps=offer_bps if request.channel is Channel.DISTRIBUTION else 0,
    )


_UNSET_STAMPS = dict.fromkeys(
    ("paid_at", "shipped_at", "picked_up_at", "delivered_at", "received_at", "cancelled_at")
)


def get_order(session: Session, order_id: int, *, for_update: bool = False) -> Order:
    stmt = select(Order).where(Order.id == order_id)
    if for_update:
        stmt = stmt.with_for_update()
    order = session.scalars(stmt, execution_options={"populate_existing": for_update}).first()
    if order is None:
        raise NotFound(f"order {order_id} not found")
    return order


def order_lines(session: Session, order_id: int) -> Sequence[OrderLine]:
    """The order's lines, first to last."""
    return session.scalars(
        select(OrderLine).where(OrderLine.order_id == order_id).order_by(OrderLine.line_no)
    ).all()


def discount_lines(
    session: Session,
    *,
    order_id: int,
    discounts: dict[int, tuple[int, int]],
    at: datetime,
    actor: str,
) -> Order:
    """Give discounts on an order awaiting payment: ``discounts`` maps a line's id to what
    the merchant and the platform take off it (added to what it already has). Each line's
    paid amount and commission are priced again by the rules placement uses (the platform's
    part does not reduce commission), and the order's totals follow. Only the server's own
    callers (campaigns' coupons) give discounts: no request shape carries one."""
    order = get_order(session, order_id, for_update=True)
    if order.status is not OrderStatus.PENDING_PAYMENT:
        raise IllegalTransition("order", order.status.value, "be discounted")
    lines = {line.id: line for line in order_lines(session, order_id)}
    for line_id, (merchant_fen, platform_fen) in discounts.items():
        line = lines.get(line_id)
        if line is None:
            raise NotFound(f"line {line_id} is not a line of order {order_id}")
        if (
            merchant_fen < 0
            or platform_fen < 0
            or merchant_fen + platform_fen > line.paid_amount_fen
        ):
            raise InvalidInput(
                f"line {line_id}: discounts {merchant_fen} + {platform_fen} fen exceed what is"
                f" left to pay ({line.paid_amount_fen} fen)"
            )
        line.merchant_discount_fen += merchant_fen
        line.platform_discount_fen += platform_fen
        line.paid_amount_fen -= merchant_fen + platform_fen
        base = rules.commission_base_fen(line.goods_amount_fen, line.merchant_discount_fen)
        line.commission_fen = int(rules.commission_fen(base, line.commission_bps))
    every = list(lines.values())
    order.merchant_discount_fen = sum(line.merchant_discount_fen for line in every)
    order.platform_discount_fen = sum(line.platform_discount_fen for line in every)
    order.paid_amount_fen = sum(line.paid_amount_fen for line in every)
    order.commission_fen = sum(line.commission_fen for line in every)
    order.updated_at = at
    session.add(
        OrderEvent(
            order_id=order.id,
            action="discount",
            from_status=order.status,
            to_status=order.status,
            at=at,
            actor=actor,
        )
    )
    session.flush()
    return order


def _transition(session: Session, order: Order, action: str, *, at: datetime, actor: str) -> Order:
    rules.TRANSITIONS.require(action, order.status)
    last = rules.last_event_at(*(getattr(order, s) for s in rules.STAMPS))
    if at < last:
        raise Conflict(
            f"order {order.id}: {action} at {at.isoformat()} is earlier than its last event"
            f" ({last.isoformat()})",
            code=ErrorCode.EVENT_OUT_OF_ORDER,
            order_id=order.id,
        )
    target = rules.TRANSITIONS.target(action)
    event = OrderEvent(
        order_id=order.id,
        action=action,
        from_status=order.status,
        to_status=target,
        at=at,
        actor=actor,
    )
    order.status = target
    order.updated_at = at
    setattr(order, rules.TIMESTAMP_FIELD[action], at)
    session.add(event)
    session.flush()
    return order


def pay_order(
    session: Session,
    *,
    order_id: int,
    idempotency_key: str,
    at: datetime | None = None,
    actor: str = "buyer",
) -> Order:
    """Record the buyer's payment. Replaying the same key returns the paid order unchanged."""
    if (code := rules.idempotency_key_refusal(idempotency_key)) is not None:
        raise _refusal(code, f"idempotency key must be 1..{MAX_KEY_LENGTH} characters")
    order = get_order(session, order_id, for_update=True)
    payment = session.scalar(select(Payment).where(Payment.order_id == order_id))
    if payment is not None:
        if payment.idempotency_key == idempotency_key:
            return order
        raise IllegalTransition("order", order.status.value, "pay")
    at = at or utcnow()
    _transition(session, order, "pay", at=at, actor=actor)
    session.add(
        Payment(
            order_id=order_id,
            amount_fen=order.paid_amount_fen,
            idempotency_key=idempotency_key,
            created_at=at,
        )
    )
    session.flush()
    commission.accrue_commissions(session, [order_id], at=at)
    if order.checkout_id is not None:
        mark_checkouts_paid(session, [order.checkout_id])
    return order


def mark_checkouts_paid(session: Session, checkout_ids: Collection[int]) -> None:
    """The checkouts of orders just paid, one by one (:func:`pay_order`) or in bulk, are
    paid once none of their orders awaits payment: paid when the last was, for what its
    orders paid (a checkout paid as a whole, :func:`~trustflow.orders.checkout.pay_checkout`,
    then records its own key). A coupon reserved at the checkout is redeemed from then on."""
    if not checkout_ids:
        return
    checkouts = table(Checkout)
    of_checkout = _orders.c.checkout_id == checkouts.c.id
    last_paid = select(func.max(_orders.c.paid_at)).where(of_checkout).scalar_subquery()
    waiting = select(_orders.c.id).where(
        of_checkout, _orders.c.status == OrderStatus.PENDING_PAYMENT.value
    )
    session.execute(
        update(checkouts)
        .where(
            checkouts.c.id.in_(sorted(checkout_ids)),
            checkouts.c.status == CheckoutStatus.PENDING_PAYMENT.value,
            ~waiting.exists(),
        )
        .values(
            status=CheckoutStatus.PAID.value,
            paid_at=last_paid,
            paid_amount_fen=select(func.coalesce(func.sum(_orders.c.paid_amount_fen), 0))
            .where(of_checkout, _orders.c.paid_at.is_not(None))
            .scalar_subquery(),
            payment_key=literal("bulk-pay-checkout-") + sql_cast(checkouts.c.id, String),
            updated_at=last_paid,
        )
        .execution_options(synchronize_session=False)
    )


def cancel_order(
    session: Session,
    *,
    order_id: int,
    reason: CancelReason = CancelReason.BUYER_CHANGED_MIND,
    at: datetime | None = None,
    actor: str = "buyer",
) -> Order:
    """Cancel before delivery, for ``reason`` (which says whose doing it is): before shipping,
    or after it by intercepting the parcel or returning it to the sender. The stock goes back
    on sale, a paid order's whole payment back to the buyer and all its commission back from
    the creator."""
    order = get_order(session, order_id, for_update=True)
    was_paid = order.paid_at is not None
    at = at or utcnow()
    _transition(session, order, "cancel", at=at, actor=actor)
    order.cancel_reason = reason
    order.cancel_party = rules.CANCEL_REASONS[reason].party
    order.cancel_refund_fen = order.paid_amount_fen if was_paid else 0
    # every line's units go back on sale
    for sku_id, quantity in session.execute(
        select(OrderLine.sku_id, OrderLine.quantity)
        .where(OrderLine.order_id == order.id)
        .order_by(OrderLine.sku_id)
    ).all():
        session.execute(
            update(Sku)
            .where(Sku.id == sku_id)
            .values(stock=Sku.stock + quantity)
            .execution_options(synchronize_session=False)
        )
    if was_paid:
        commission.reverse_commissions(
            session, [order.id], [commission.REVERSE_CANCEL], [order.paid_amount_fen], at=at
        )
    return order


def ship_order(
    session: Session, *, order_id: int, at: datetime | None = None, actor: str = "merchant"
) -> Order:
    order = get_order(session, order_id, for_update=True)
    return _transition(session, order, "ship", at=at or utcnow(), actor=actor)


def pick_up_order(
    session: Session, *, order_id: int, at: datetime | None = None, actor: str = "carrier"
) -> Order:
    order = get_order(session, order_id, for_update=True)
    return _transition(session, order, "pick_up", at=at or utcnow(), actor=actor)


def deliver_order(
    session: Session, *, order_id: int, at: datetime | None = None, actor: str = "carrier"
) -> Order:
    order = get_order(session, order_id, for_update=True)
    return _transition(session, order, "deliver", at=at or utcnow(), actor=actor)


def confirm_receipt(
    session: Session, *, order_id: int, at: datetime | None = None, actor: str = "buyer"
) -> Order:
    order = get_order(session, order_id, for_update=True)
    return _transition(session, order, "confirm_receipt", at=at or utcnow(), actor=actor)


def expire_unpaid_orders(
    session: Session,
    *,
    older_than: timedelta,
    at: datetime | None = None,
    among: ColumnElement[bool] | None = None,
) -> int:
    """Cancel orders left unpaid longer than ``older_than`` (those ``among`` selects, if
    given), releasing their stock. Each is locked and looked at again first: one the buyer paid
    meanwhile is left alone."""
    at = at or utcnow()
    stmt = select(Order.id).where(
        Order.status == OrderStatus.PENDING_PAYMENT, Order.created_at < at - older_than
    )
    if among is not None:
        stmt = stmt.where(among)
    cancelled = 0
    for order_id in session.scalars(stmt.order_by(Order.id)).all():
        order = get_order(session, order_id, for_update=True)
        if order.status is not OrderStatus.PENDING_PAYMENT:
            continue
        cancel_order(
            session, order_id=order_id, reason=CancelReason.UNPAID_TIMEOUT, at=at, actor="system"
        )
        cancelled += 1
    return cancelled


def order_events(session: Session, order_id: int) -> Sequence[OrderEvent]:
    return session.scalars(
        select(OrderEvent).where(OrderEvent.order_id == order_id).order_by(OrderEvent.id)
    ).all()
