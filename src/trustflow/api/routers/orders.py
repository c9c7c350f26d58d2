"""Orders: placement and payment (idempotent), fulfilment, cancellation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from sqlalchemy.orm import Session, selectinload

from trustflow.accounts import access
from trustflow.accounts.models import Buyer, Creator, Role
from trustflow.accounts.principal import Principal
from trustflow.api.deps import PrincipalDep, SessionDep
from trustflow.api.error_responses import ERROR_RESPONSES
from trustflow.api.params import IdempotencyHeader, IdPath, IdQuery, Limit, Offset
from trustflow.campaigns import checkout as coupon_checkout
from trustflow.db import get_or_raise, utcnow
from trustflow.errors import Forbidden
from trustflow.orders import access as orders_access
from trustflow.orders import checkout as checkout_actions
from trustflow.orders import commission
from trustflow.orders import rules as order_rules
from trustflow.orders import service as orders_service
from trustflow.orders.attribution import TokenSigner, source_attribution
from trustflow.orders.commission import CommissionStatement
from trustflow.orders.models import CancelReason, Checkout, Order, OrderEvent, OrderStatus
from trustflow.orders.schemas import (
    AttributionIn,
    AttributionOut,
    CancelIn,
    CheckoutIn,
    CheckoutOut,
    CommissionStatementOut,
    OrderEventOut,
    OrderIn,
    OrderOut,
)
from trustflow.pagination import paginate
from trustflow.schemas_base import PageOut
from trustflow.types import Instant
from trustflow.vocabulary import Channel

router = APIRouter(tags=["orders"], responses=ERROR_RESPONSES)


@router.post("/orders", response_model=OrderOut, status_code=status.HTTP_201_CREATED)
def place_order(
    body: OrderIn,
    idempotency_key: IdempotencyHeader,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
) -> Order:
    """Order a SKU. Who sold it comes from ``attribution_token`` (handed out with feed items
    and by ``POST /attribution-tokens``) if it is genuine, unexpired, the buyer's and for
    these goods; otherwise the order is a product-card sale with no creator."""
    buyer_id = access.acting_subject(principal, Role.BUYER, body.buyer_id)
    signer: TokenSigner = request.app.state.token_signer
    attribution = (
        None
        if body.attribution_token is None
        else signer.verify(body.attribution_token, buyer_id=buyer_id, at=utcnow())
    )
    order_request = orders_service.attributed_request(
        session,
        buyer_id=buyer_id,
        sku_id=body.sku_id,
        quantity=body.quantity,
        idempotency_key=idempotency_key,
        attribution=attribution,
    )
    order = orders_service.place_order(session, order_request, actor=principal.actor)
    session.commit()
    return order


@router.post(
    "/attribution-tokens", response_model=AttributionOut, status_code=status.HTTP_201_CREATED
)
def issue_attribution_token(
    body: AttributionIn, request: Request, session: SessionDep, principal: PrincipalDep
) -> AttributionOut:
    """A buyer opened a live room, a short video or a shop page: the token its orders from
    there hand back. Channel, creator and content are what the store knows of the source
    (a room must be live), bound to this buyer, valid for ``attribution_token_minutes``."""
    buyer_id = access.acting_subject(principal, Role.BUYER, body.buyer_id)
    get_or_raise(session, Buyer, buyer_id, "buyer")
    signer: TokenSigner = request.app.state.token_signer
    at = utcnow()
    found = source_attribution(
        session,
        buyer_id=buyer_id,
        at=at,
        expires_at=signer.expiry(at),
        live_session_id=body.live_session_id,
        short_video_id=body.short_video_id,
        shop_id=body.shop_id,
    )
    return AttributionOut(
        attribution_token=signer.issue(found),
        channel=found.channel,
        creator_id=found.creator_id,
        content_kind=found.content_kind,
        content_id=found.content_id,
        shop_id=found.shop_id,
        expires_at=found.expires_at,
    )


@router.get("/orders", response_model=PageOut[OrderOut])
def list_orders(
    session: SessionDep,
    principal: PrincipalDep,
    shop_id: IdQuery = None,
    order_status: OrderStatus | None = None,
    channel: Channel | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> object:
    """The caller's orders: a buyer's own, a seller's shops', a creator's distribution sales."""
    stmt = (
        orders_access.visible_orders(session, principal)
        .options(selectinload(Order.lines))
        .order_by(Order.id.desc())
    )
    if shop_id is not None:
        stmt = stmt.where(Order.shop_id == shop_id)
    if order_status is not None:
        stmt = stmt.where(Order.status == order_status)
    if channel is not None:
        stmt = stmt.where(Order.channel == channel)
    return paginate(session, stmt, limit=limit, offset=offset)


@router.get("/orders/{order_id}", response_model=OrderOut)
def get_order(order_id: IdPath, session: SessionDep, principal: PrincipalDep) -> Order:
    order = orders_service.get_order(session, order_id)
    orders_access.require_order_visible(session, principal, order)
    return order


@router.get("/orders/{order_id}/events", response_model=list[OrderEventOut])
def get_order_events(
    order_id: IdPath, session: SessionDep, principal: PrincipalDep
) -> list[OrderEvent]:
    order = orders_service.get_order(session, order_id)
    orders_access.require_order_visible(session, principal, order)
    return list(orders_service.order_events(session, order_id))


@router.post("/orders/{order_id}/pay", response_model=OrderOut)
def pay_order(
    order_id: IdPath,
    idempotency_key: IdempotencyHeader,
    session: SessionDep,
    principal: PrincipalDep,
) -> Order:
    orders_access.require_order_buyer(
        session, principal, orders_service.get_order(session, order_id)
    )
    order = orders_service.pay_order(
        session, order_id=order_id, idempotency_key=idempotency_key, actor=principal.actor
    )
    session.commit()
    return order


def _seller_or_buyer(session: Session, principal: Principal, order: Order) -> None:
    if principal.is_(Role.BUYER, order.buyer_id):
        return
    orders_access.require_order_seller(session, principal, order)


_Guard = Callable[[Session, Principal, Order], None]
_Action = Callable[..., Order]


def _act(
    order_id: int, session: Session, principal: Principal, guard: _Guard, action: _Action
) -> Order:
    guard(session, principal, orders_service.get_order(session, order_id))
    order = action(session, order_id=order_id, actor=principal.actor)
    session.commit()
    return order


@router.post("/orders/{order_id}/cancel", response_model=OrderOut)
def cancel_order(
    order_id: IdPath, body: CancelIn, session: SessionDep, principal: PrincipalDep
) -> Order:
    """Cancel before delivery (after shipping, the parcel is intercepted or returned to the
    sender), for a reason that says whose doing it is. The buyer gives its own reasons
    (default: changed its mind), the shop its own (default: it cannot fulfil, or the parcel
    was lost or undeliverable), operators any; ``{}`` gives the default reason. The stock
    goes back on sale, a paid order's whole payment back to the buyer (``cancel_refund_fen``)
    and its commission back from the creator."""
    order = orders_service.get_order(session, order_id)
    _seller_or_buyer(session, principal, order)
    if principal.is_operator:
        side = "operator"
    elif principal.is_(Role.BUYER, order.buyer_id):
        side = "buyer"
    else:
        side = "seller"
    reason = body.reason or (
        CancelReason.BUYER_CHANGED_MIND if side == "buyer" else CancelReason.MERCHANT_CANNOT_FULFIL
    )
    if side != "operator" and side not in order_rules.CANCEL_REASONS[reason].given_by:
        raise Forbidden(f"the {side} cannot cancel for the reason {reason.value}")
    cancelled = orders_service.cancel_order(
        session, order_id=order_id, reason=reason, actor=principal.actor
    )
    session.commit()
    return cancelled


@router.post("/orders/{order_id}/ship", response_model=OrderOut)
def ship_order(order_id: IdPath, session: SessionDep, principal: PrincipalDep) -> Order:
    return _act(
        order_id, session, principal, orders_access.require_order_seller, orders_service.ship_order
    )


@router.post("/orders/{order_id}/pick-up", response_model=OrderOut)
def pick_up_order(order_id: IdPath, session: SessionDep, principal: PrincipalDep) -> Order:
    """Carrier scan: the parcel was collected (recorded by the shop's logistics link)."""
    return _act(
        order_id,
        session,
        principal,
        orders_access.require_order_seller,
        orders_service.pick_up_order,
    )


@router.post("/orders/{order_id}/deliver", response_model=OrderOut)
def deliver_order(order_id: IdPath, session: SessionDep, principal: PrincipalDep) -> Order:
    return _act(
        order_id,
        session,
        principal,
        orders_access.require_order_seller,
        orders_service.deliver_order,
    )


@router.post("/orders/{order_id}/confirm-receipt", response_model=OrderOut)
def confirm_receipt(order_id: IdPath, session: SessionDep, principal: PrincipalDep) -> Order:
    return _act(
        order_id,
        session,
        principal,
        orders_access.require_order_buyer,
        orders_service.confirm_receipt,
    )


@router.get("/creators/{creator_id}/commission-statement", response_model=CommissionStatementOut)
def get_commission_statement(
    creator_id: IdPath,
    start: Annotated[Instant, Query()],
    end: Annotated[Instant, Query()],
    session: SessionDep,
    principal: PrincipalDep,
) -> CommissionStatement:
    """A creator's commission for ``[start, end)``: accrued, reversed and settled in the
    period, and pending at each end. A creator sees its own; operators anyone's."""
    access.acting_subject(principal, Role.CREATOR, creator_id)
    get_or_raise(session, Creator, creator_id, "creator")
    return commission.statement(session, creator_id=creator_id, start=start, end=end)


def _checkout_out(session: Session, checkout: Checkout) -> CheckoutOut:
    orders = checkout_actions.checkout_orders(session, checkout.id)
    return CheckoutOut(
        id=checkout.id,
        buyer_id=checkout.buyer_id,
        status=checkout.status,
        items=checkout.items,
        goods_amount_fen=checkout.goods_amount_fen,
        paid_amount_fen=checkout.paid_amount_fen,
        created_at=checkout.created_at,
        paid_at=checkout.paid_at,
        orders=[OrderOut.model_validate(o, from_attributes=True) for o in orders],
    )


@router.post("/checkouts", response_model=CheckoutOut, status_code=status.HTTP_201_CREATED)
def place_checkout(
    body: CheckoutIn,
    idempotency_key: IdempotencyHeader,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
) -> CheckoutOut:
    """Check out a cart: one order per shop and seller, with a line per SKU (one SKU's items
    summed), placed together or not at all (one item out of stock refuses the whole cart).
    Each item's seller comes from its own attribution token, as for ``POST /orders``. The
    buyer's coupon claims apply as docs/campaigns.md says (one per shop and one platform
    coupon; a refused claim refuses the cart)."""
    buyer_id = access.acting_subject(principal, Role.BUYER, body.buyer_id)
    signer: TokenSigner = request.app.state.token_signer
    now = utcnow()
    items = [
        checkout_actions.CheckoutItem(
            sku_id=item.sku_id,
            quantity=item.quantity,
            attribution=None
            if item.attribution_token is None
            else signer.verify(item.attribution_token, buyer_id=buyer_id, at=now),
        )
        for item in body.items
    ]
    checkout = coupon_checkout.place_with_coupons(
        session,
        buyer_id=buyer_id,
        items=items,
        claim_ids=body.coupon_claim_ids,
        idempotency_key=idempotency_key,
        at=now,
        actor=principal.actor,
    )
    session.commit()
    return _checkout_out(session, checkout)


@router.get("/checkouts/{checkout_id}", response_model=CheckoutOut)
def get_checkout(checkout_id: IdPath, session: SessionDep, principal: PrincipalDep) -> CheckoutOut:
    checkout = checkout_actions.get_checkout(session, checkout_id)
    orders_access.require_checkout_buyer(principal, checkout)
    return _checkout_out(session, checkout)


@router.post("/checkouts/{checkout_id}/pay", response_model=CheckoutOut)
def pay_checkout(
    checkout_id: IdPath,
    idempotency_key: IdempotencyHeader,
    session: SessionDep,
    principal: PrincipalDep,
) -> CheckoutOut:
    """Pay every order of the checkout at once; its coupons are redeemed with it."""
    orders_access.require_checkout_buyer(
        principal, checkout_actions.get_checkout(session, checkout_id)
    )
    checkout = coupon_checkout.pay_with_coupons(
        session,
        checkout_id=checkout_id,
        idempotency_key=idempotency_key,
        at=utcnow(),
        actor=principal.actor,
    )
    session.commit()
    return _checkout_out(session, checkout)
