"""Checkout: a buyer's cart placed at once, across shops, and paid with one payment.

A checkout (父订单) splits the cart into one order per shop and seller (子订单: the channel,
creator and content an item's attribution token vouches for), each with a line per SKU, and
places each exactly as :func:`trustflow.orders.service.place_order` places one (price,
promise, commission and stock reservation per line), all in the caller's transaction: one
line refused (out of stock, not on sale) refuses the whole checkout and nothing is
reserved. Paying the checkout pays each of its orders still awaiting payment, with the one
payment key. A checkout left unpaid longer than ``unpaid_order_ttl_minutes`` expires:
:func:`expire_unpaid` cancels its orders (``unpaid_timeout``), which puts their stock back
on sale.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, bindparam, exists, select, update
from sqlalchemy.orm import Session

from trustflow.accounts.models import Buyer
from trustflow.bulk import (
    DriverCursor,
    DriverStatement,
    driver_cursor,
    table,
)
from trustflow.catalog.models import Sku
from trustflow.db import attach_loaded, utcnow
from trustflow.errors import Conflict, ErrorCode, IllegalTransition, InvalidInput, NotFound
from trustflow.orders import rules, service
from trustflow.orders.attribution import Attribution
from trustflow.orders.models import (
    Checkout,
    CheckoutStatus,
    Order,
    OrderStatus,
)

__all__ = [
    "MAX_COUPON_CLAIMS",
    "MAX_ITEMS",
    "CheckoutItem",
    "checkout_orders",
    "discount_checkout",
    "expire_unpaid",
    "get_checkout",
    "pay_checkout",
    "place_checkout",
    "place_checkout_once",
]

#: The most items one checkout may hold.
MAX_ITEMS = 50
#: The most coupon claims one checkout may use (applied by ``trustflow.campaigns``).
MAX_COUPON_CLAIMS = 10


@dataclass(frozen=True)
class CheckoutItem:
    """One item of a cart: a SKU, how many, and where the buyer found it (a verified
    attribution token, or None)."""

    sku_id: int
    quantity: int
    attribution: Attribution | None = None


def _fingerprint(items: Sequence[CheckoutItem]) -> str:
    """What the buyer asked for: each item and who vouched for its sale (a retry carries a
    fresh token, so the token's expiry is not part of it)."""
    parts = [
        (
            i.sku_id,
            i.quantity,
            None
            if i.attribution is None
            else (
                i.attribution.channel.value,
                i.attribution.creator_id,
                i.attribution.content_kind,
                i.attribution.content_id,
                i.attribution.surface,
            ),
        )
        for i in items
    ]
    return hashlib.sha256(repr(parts).encode()).hexdigest()


_checkouts: Table = table(Checkout)
# Checkout is a hot path: prebuilt statements run through the driver, as placement's are.


def _insert_for_known_buyer() -> dict[str, DriverStatement]:
    """Per dialect: insert the checkout row only if its buyer exists and its key is new
    (one statement where an existence check and an insert would be two)."""
    from sqlalchemy.dialects.postgresql import insert as pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    columns = [c for c in _checkouts.c if c.key != "id"]
    values = select(*(bindparam(c.key, type_=c.type) for c in columns)).where(
        exists().where(table(Buyer).c.id == bindparam("buyer_id"))
    )
    return {
        dialect: DriverStatement(
            insert_fn(_checkouts)
            .from_select([c.key for c in columns], values)
            .on_conflict_do_nothing(index_elements=["buyer_id", "idempotency_key"])
            .returning(_checkouts.c.id)
        )
        for dialect, insert_fn in (("sqlite", sqlite_insert), ("postgresql", pg_insert))
    }


_INSERT = _insert_for_known_buyer()
_TOTALS = DriverStatement(
    update(_checkouts)
    .where(_checkouts.c.id == bindparam("cid"))
    .values(goods_amount_fen=bindparam("goods"), paid_amount_fen=bindparam("paid"))
)


def place_checkout(
    session: Session,
    *,
    buyer_id: int,
    items: Sequence[CheckoutItem],
    idempotency_key: str,
    at: datetime | None = None,
    actor: str = "buyer",
) -> Checkout:
    """Place the cart's orders (one per shop and seller, a line per SKU), all or none. A
    retry with the same key and items returns the first checkout and changes nothing; the
    same key for other items is refused (``idempotency_key_reused``)."""
    return place_checkout_once(
        session,
        buyer_id=buyer_id,
        items=items,
        idempotency_key=idempotency_key,
        at=at,
        actor=actor,
    )[0]


def place_checkout_once(
    session: Session,
    *,
    buyer_id: int,
    items: Sequence[CheckoutItem],
    idempotency_key: str,
    at: datetime | None = None,
    actor: str = "buyer",
) -> tuple[Checkout, bool]:
    """:func:`place_checkout`, and whether this call placed it (``False``: a retry, which
    returns the first checkout as it is). Callers that add to a new checkout (coupons,
    campaign prices) do so only when it is new."""
    if not 1 <= len(items) <= MAX_ITEMS:
        raise InvalidInput(f"a checkout holds 1 to {MAX_ITEMS} items")
    if rules.idempotency_key_refusal(idempotency_key) is not None:
        raise InvalidInput(f"idempotency key must be 1..{rules.MAX_KEY_LENGTH} characters")
    at = at or utcnow()
    digest = _fingerprint(items)
    cursor = driver_cursor(session)
    row: dict[str, Any] = {
        "buyer_id": buyer_id,
        "status": CheckoutStatus.PENDING_PAYMENT,
        "items": len(items),
        "goods_amount_fen": 0,
        "paid_amount_fen": 0,
        "idempotency_key": idempotency_key,
        "request_hash": digest,
        "payment_key": None,
        "created_at": at,
        "paid_at": None,
        "updated_at": at,
    }
    inserted = _INSERT[cursor.dialect.name].execute(cursor, row).fetchone()
    if inserted is None:  # this key was used before (or by a concurrent retry that won)
        existing = session.scalar(
            select(Checkout).where(
                Checkout.buyer_id == buyer_id, Checkout.idempotency_key == idempotency_key
            )
        )
        if existing is None:  # nor was the buyer there to check out
            raise NotFound(f"buyer {buyer_id} not found")
        if existing.request_hash != digest:
            raise Conflict(
                "this idempotency key was used for a different checkout",
                code=ErrorCode.IDEMPOTENCY_KEY_REUSED,
                checkout_id=existing.id,
            )
        return existing, False
    checkout_id = int(inserted[0])
    orders = _orders_of(session, cursor, buyer_id, items)
    if cursor.dialect.name == "postgresql":
        # the cart's SKUs locked at once, in one order, before any order takes stock: two
        # carts sharing SKUs across their orders would otherwise wait on each other in a
        # circle (SQLite writes one transaction at a time). FOR NO KEY UPDATE: stock changes,
        # the key never does, so a row referencing the SKU (a campaign registration the
        # settling job updates) is not held up behind the cart
        session.execute(
            select(Sku.id)
            .where(Sku.id.in_(sorted({i.sku_id for i in items})))
            .order_by(Sku.id)
            .with_for_update(key_share=True)
        )
    goods = paid = 0
    for n, request in enumerate(orders):
        # '#' is outside the keys clients may send: no order of theirs can hold this key
        key = f"checkout#{checkout_id}#{n}"
        placed = service.place_order_row(
            session,
            replace(request, idempotency_key=key, checkout_id=checkout_id),
            at=at,
            actor=actor,
            cursor=cursor,
        )
        if isinstance(placed, Order):  # placed before: the checkout's own retry
            goods, paid = goods + placed.goods_amount_fen, paid + placed.paid_amount_fen
        else:
            goods, paid = goods + placed["goods_amount_fen"], paid + placed["paid_amount_fen"]
    _TOTALS.execute(cursor, {"cid": checkout_id, "goods": goods, "paid": paid})
    # the stored row is exactly this: attach it without reading it back
    checkout = attach_loaded(
        session,
        Checkout,
        {**row, "id": checkout_id, "goods_amount_fen": goods, "paid_amount_fen": paid},
    )
    return checkout, True


def _orders_of(
    session: Session, cursor: DriverCursor, buyer_id: int, items: Sequence[CheckoutItem]
) -> list[service.OrderRequest]:
    """The orders a cart splits into: one per shop and seller (the channel, creator and
    content its attribution vouches for), each with a line per SKU (one SKU's items summed),
    in the order of their smallest SKU."""
    groups: dict[tuple[Any, ...], dict[int, int]] = {}
    sellers: dict[tuple[Any, ...], service.OrderRequest] = {}
    known = service.skus_goods(session, sorted({i.sku_id for i in items}), cursor)
    for item in items:
        goods = known.get(item.sku_id)
        if goods is None:
            raise NotFound(f"sku {item.sku_id} not found")
        request = service.vouched_request(
            buyer_id=buyer_id,
            sku_id=item.sku_id,
            quantity=item.quantity,
            idempotency_key="checkout",
            attribution=item.attribution,
            goods=goods,
        )
        shop = goods[0]
        seller = (
            shop,
            request.channel,
            request.creator_id,
            request.content_kind,
            request.content_id,
            request.surface,
        )
        sellers.setdefault(seller, request)
        lines = groups.setdefault(seller, {})
        lines[item.sku_id] = lines.get(item.sku_id, 0) + item.quantity
    orders = []
    for seller, lines in sorted(groups.items(), key=lambda group: min(group[1])):
        (first, quantity), *more = sorted(lines.items())
        orders.append(
            replace(
                sellers[seller],
                sku_id=first,
                quantity=quantity,
                more_lines=tuple(service.LineRequest(sku, q) for sku, q in more),
            )
        )
    return orders


def get_checkout(session: Session, checkout_id: int, *, for_update: bool = False) -> Checkout:
    stmt = select(Checkout).where(Checkout.id == checkout_id)
    if for_update:
        stmt = stmt.with_for_update()
    found = session.scalars(stmt, execution_options={"populate_existing": for_update}).first()
    if found is None:
        raise NotFound(f"checkout {checkout_id} not found")
    return found


def checkout_orders(session: Session, checkout_id: int) -> Sequence[Order]:
    return session.scalars(
        select(Order).where(Order.checkout_id == checkout_id).order_by(Order.id)
    ).all()


def discount_checkout(
    session: Session,
    *,
    checkout_id: int,
    discounts: dict[int, dict[int, tuple[int, int]]],
    at: datetime,
    actor: str,
) -> Checkout:
    """Give discounts on a checkout awaiting payment: per order, per line, what the merchant
    and the platform take off (:func:`trustflow.orders.service.discount_lines`); the
    checkout's amount to pay follows."""
    checkout = get_checkout(session, checkout_id, for_update=True)
    if checkout.status is not CheckoutStatus.PENDING_PAYMENT:
        raise IllegalTransition("checkout", checkout.status.value, "be discounted")
    orders = {o.id: o for o in checkout_orders(session, checkout_id)}
    for order_id, lines in discounts.items():
        if order_id not in orders:
            raise NotFound(f"order {order_id} is not an order of checkout {checkout_id}")
        service.discount_lines(session, order_id=order_id, discounts=lines, at=at, actor=actor)
    checkout.paid_amount_fen = sum(o.paid_amount_fen for o in orders.values())
    checkout.updated_at = at
    session.flush()
    return checkout


def pay_checkout(
    session: Session,
    *,
    checkout_id: int,
    idempotency_key: str,
    at: datetime | None = None,
    actor: str = "buyer",
) -> Checkout:
    """Pay every order of the checkout still awaiting payment, with one key. A retry with
    the same key returns the paid checkout; another key for a paid checkout is refused."""
    if rules.idempotency_key_refusal(idempotency_key) is not None:
        raise InvalidInput(f"idempotency key must be 1..{rules.MAX_KEY_LENGTH} characters")
    checkout = get_checkout(session, checkout_id, for_update=True)
    if checkout.status is CheckoutStatus.PAID:
        if checkout.payment_key == idempotency_key:
            return checkout
        raise IllegalTransition("checkout", checkout.status.value, "pay")
    if checkout.status is not CheckoutStatus.PENDING_PAYMENT:
        raise IllegalTransition("checkout", checkout.status.value, "pay")
    at = at or utcnow()
    pending = [
        o for o in checkout_orders(session, checkout_id) if o.status is OrderStatus.PENDING_PAYMENT
    ]
    if not pending:  # every order was cancelled before payment
        raise IllegalTransition("checkout", "cancelled", "pay")
    for order in pending:
        service.pay_order(
            session, order_id=order.id, idempotency_key=idempotency_key, at=at, actor=actor
        )
    paid = sum(o.paid_amount_fen for o in pending)
    checkout.status = CheckoutStatus.PAID
    checkout.payment_key = idempotency_key
    checkout.paid_amount_fen = paid
    checkout.paid_at = checkout.updated_at = at
    session.flush()
    return checkout


def expire_unpaid(session: Session, *, older_than: timedelta, at: datetime | None = None) -> int:
    """Expire what was left unpaid longer than ``older_than``: each such checkout is locked
    first (as paying it locks it), its orders still unpaid are cancelled (their stock goes
    back on sale) and it is marked expired, unless the buyer paid it meanwhile; then the
    unpaid orders placed on their own. Returns the orders cancelled."""
    at = at or utcnow()
    stmt = (
        select(Checkout.id)
        .where(
            Checkout.status == CheckoutStatus.PENDING_PAYMENT,
            Checkout.created_at < at - older_than,
        )
        .order_by(Checkout.id)
    )
    cancelled = 0
    for checkout_id in session.scalars(stmt).all():
        checkout = get_checkout(session, checkout_id, for_update=True)
        if checkout.status is not CheckoutStatus.PENDING_PAYMENT:
            continue  # paid while this job waited for it
        cancelled += service.expire_unpaid_orders(
            session, older_than=older_than, at=at, among=Order.checkout_id == checkout_id
        )
        if not any(o.paid_at is not None for o in checkout_orders(session, checkout_id)):
            checkout.status = CheckoutStatus.EXPIRED
            checkout.updated_at = at
    cancelled += service.expire_unpaid_orders(
        session, older_than=older_than, at=at, among=Order.checkout_id.is_(None)
    )
    session.flush()
    return cancelled
