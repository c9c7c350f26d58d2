"""After-sales requests, reviews and buyer–shop chats."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from trustflow.accounts import access
from trustflow.accounts.models import Role
from trustflow.accounts.principal import Principal
from trustflow.aftersales import access as aftersales_access
from trustflow.aftersales import guarantees
from trustflow.aftersales import service as aftersales_service
from trustflow.aftersales.models import (
    AfterSalesEvent,
    AfterSalesKind,
    AfterSalesReason,
    AfterSalesRequest,
    AfterSalesStatus,
    ChatThread,
    Review,
)
from trustflow.aftersales.rules import Actor
from trustflow.aftersales.schemas import (
    AfterSalesEventOut,
    AfterSalesIn,
    AfterSalesOut,
    ArbitrateIn,
    ChatIn,
    ChatOut,
    GuaranteeOut,
    RejectIn,
    ReviewIn,
    ReviewOut,
)
from trustflow.api.deps import PrincipalDep, SessionDep
from trustflow.api.error_responses import ERROR_RESPONSES
from trustflow.api.params import IdPath, IdQuery, Limit, Offset
from trustflow.catalog import service as catalog_service
from trustflow.db import utcnow
from trustflow.orders import access as orders_access
from trustflow.orders import service as orders_service
from trustflow.pagination import paginate
from trustflow.schemas_base import PageOut

router = APIRouter(tags=["after-sales"], responses=ERROR_RESPONSES)


@router.post(
    "/orders/{order_id}/after-sales",
    response_model=AfterSalesOut,
    status_code=status.HTTP_201_CREATED,
)
def request_after_sales(
    order_id: IdPath, body: AfterSalesIn, session: SessionDep, principal: PrincipalDep
) -> AfterSalesRequest:
    orders_access.require_order_buyer(
        session, principal, orders_service.get_order(session, order_id)
    )
    request = aftersales_service.request_after_sales(
        session,
        order_id=order_id,
        kind=body.kind,
        reason=body.reason,
        line_id=body.line_id,
        quantity=body.quantity,
        refund_fen=body.refund_fen,
        note=body.note,
        actor=Actor.of(principal),
    )
    session.commit()
    return request


@router.get("/orders/{order_id}/lines/{line_id}/guarantees", response_model=list[GuaranteeOut])
def line_guarantees(
    order_id: IdPath,
    line_id: IdPath,
    session: SessionDep,
    principal: PrincipalDep,
    kind: AfterSalesKind | None = None,
    reason: AfterSalesReason | None = None,
) -> list[guarantees.Answer]:
    """The buyer's guarantees on an order line now (消费者保障): seven-day no-reason return,
    refund without return, fast refund, return shipping (for the request ``kind`` and
    ``reason`` asked about), authenticity compensation and the used-phone warranty, each
    eligible or not because of its numbers. The order's buyer and operators only: the
    reasons tell the buyer's history on the whole platform, which is not the shop's to read."""
    order = orders_service.get_order(session, order_id)
    if not principal.is_operator:
        orders_access.require_order_buyer(session, principal, order)
    facts = guarantees.line_facts(
        session, order_id=order_id, line_id=line_id, at=utcnow(), kind=kind, reason=reason
    )
    return guarantees.answers(facts)


@router.get("/after-sales", response_model=PageOut[AfterSalesOut])
def list_after_sales(
    session: SessionDep,
    principal: PrincipalDep,
    request_status: AfterSalesStatus | None = None,
    shop_id: IdQuery = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> object:
    stmt = aftersales_access.visible_requests(session, principal).order_by(
        AfterSalesRequest.id.desc()
    )
    if shop_id is not None:
        stmt = stmt.where(AfterSalesRequest.shop_id == shop_id)
    if request_status is not None:
        stmt = stmt.where(AfterSalesRequest.status == request_status)
    return paginate(session, stmt, limit=limit, offset=offset)


@router.get("/after-sales/{request_id}", response_model=AfterSalesOut)
def get_after_sales(
    request_id: IdPath, session: SessionDep, principal: PrincipalDep
) -> AfterSalesRequest:
    request = aftersales_service.get_request(session, request_id)
    aftersales_access.require_request_visible(session, principal, request)
    return request


@router.get("/after-sales/{request_id}/events", response_model=list[AfterSalesEventOut])
def get_after_sales_events(
    request_id: IdPath, session: SessionDep, principal: PrincipalDep
) -> list[AfterSalesEvent]:
    """The request's trail: each action, from which state to which, who took it and when."""
    request = aftersales_service.get_request(session, request_id)
    aftersales_access.require_request_visible(session, principal, request)
    return list(aftersales_service.request_events(session, request_id))


def _as_seller(session: Session, principal: Principal, request: AfterSalesRequest) -> None:
    aftersales_access.require_request_visible(session, principal, request)
    orders_access.require_order_seller(
        session, principal, orders_service.get_order(session, request.order_id)
    )


def _as_buyer(session: Session, principal: Principal, request: AfterSalesRequest) -> None:
    aftersales_access.require_request_visible(session, principal, request)
    orders_access.require_order_buyer(
        session, principal, orders_service.get_order(session, request.order_id)
    )


def _as_operator(session: Session, principal: Principal, request: AfterSalesRequest) -> None:
    access.require_operator(principal)


def _act(
    request_id: int,
    session: Session,
    principal: Principal,
    guard: Callable[[Session, Principal, AfterSalesRequest], None],
    action: Callable[[Actor], AfterSalesRequest],
) -> AfterSalesRequest:
    guard(session, principal, aftersales_service.get_request(session, request_id))
    request = action(Actor.of(principal))
    session.commit()
    return request


@router.post("/after-sales/{request_id}/approve", response_model=AfterSalesOut)
def approve(request_id: IdPath, session: SessionDep, principal: PrincipalDep) -> AfterSalesRequest:
    return _act(
        request_id,
        session,
        principal,
        _as_seller,
        lambda actor: aftersales_service.approve(session, request_id=request_id, actor=actor),
    )


@router.post("/after-sales/{request_id}/reject", response_model=AfterSalesOut)
def reject(
    request_id: IdPath, body: RejectIn, session: SessionDep, principal: PrincipalDep
) -> AfterSalesRequest:
    return _act(
        request_id,
        session,
        principal,
        _as_seller,
        lambda actor: aftersales_service.reject(
            session, request_id=request_id, actor=actor, note=body.note
        ),
    )


@router.post("/after-sales/{request_id}/return-received", response_model=AfterSalesOut)
def return_received(
    request_id: IdPath, session: SessionDep, principal: PrincipalDep
) -> AfterSalesRequest:
    return _act(
        request_id,
        session,
        principal,
        _as_seller,
        lambda actor: aftersales_service.return_received(
            session, request_id=request_id, actor=actor
        ),
    )


@router.post("/after-sales/{request_id}/return-shipped", response_model=AfterSalesOut)
def return_shipped(
    request_id: IdPath, session: SessionDep, principal: PrincipalDep
) -> AfterSalesRequest:
    return _act(
        request_id,
        session,
        principal,
        _as_buyer,
        lambda actor: aftersales_service.return_shipped(
            session, request_id=request_id, actor=actor
        ),
    )


@router.post("/after-sales/{request_id}/withdraw", response_model=AfterSalesOut)
def withdraw(request_id: IdPath, session: SessionDep, principal: PrincipalDep) -> AfterSalesRequest:
    return _act(
        request_id,
        session,
        principal,
        _as_buyer,
        lambda actor: aftersales_service.withdraw(session, request_id=request_id, actor=actor),
    )


@router.post("/after-sales/{request_id}/escalate", response_model=AfterSalesOut)
def escalate(request_id: IdPath, session: SessionDep, principal: PrincipalDep) -> AfterSalesRequest:
    """The buyer asks the platform to step in (平台介入) after a rejection."""
    return _act(
        request_id,
        session,
        principal,
        _as_buyer,
        lambda actor: aftersales_service.escalate(session, request_id=request_id, actor=actor),
    )


@router.post("/after-sales/{request_id}/arbitrate", response_model=AfterSalesOut)
def arbitrate(
    request_id: IdPath, body: ArbitrateIn, session: SessionDep, principal: PrincipalDep
) -> AfterSalesRequest:
    return _act(
        request_id,
        session,
        principal,
        _as_operator,
        lambda actor: aftersales_service.arbitrate(
            session,
            request_id=request_id,
            actor=actor,
            outcome=body.outcome,
            responsible_party=body.responsible_party,
        ),
    )


@router.post("/orders/{order_id}/review", response_model=ReviewOut, status_code=201)
def submit_review(
    order_id: IdPath, body: ReviewIn, session: SessionDep, principal: PrincipalDep
) -> Review:
    orders_access.require_order_buyer(
        session, principal, orders_service.get_order(session, order_id)
    )
    review = aftersales_service.submit_review(
        session,
        order_id=order_id,
        line_id=body.line_id,
        stars=body.stars,
        text=body.text,
        tags=body.tags,
    )
    session.commit()
    return review


@router.get("/products/{product_id}/reviews", response_model=PageOut[ReviewOut])
def list_reviews(
    product_id: IdPath,
    session: SessionDep,
    principal: PrincipalDep,
    limit: Limit = 50,
    offset: Offset = 0,
) -> object:
    """Reviews are public, as buyers would expect on a product page."""
    catalog_service.get_product(session, product_id)
    stmt = select(Review).where(Review.product_id == product_id).order_by(Review.id.desc())
    return paginate(session, stmt, limit=limit, offset=offset)


@router.post("/chats", response_model=ChatOut, status_code=status.HTTP_201_CREATED)
def open_chat(body: ChatIn, session: SessionDep, principal: PrincipalDep) -> ChatThread:
    buyer_id = access.acting_subject(principal, Role.BUYER, body.buyer_id)
    thread = aftersales_service.open_chat(
        session, buyer_id=buyer_id, shop_id=body.shop_id, order_id=body.order_id
    )
    session.commit()
    return thread


@router.get("/chats/{thread_id}", response_model=ChatOut)
def get_chat(thread_id: IdPath, session: SessionDep, principal: PrincipalDep) -> ChatThread:
    thread = aftersales_service.get_chat(session, thread_id)
    aftersales_access.require_chat_visible(session, principal, thread)
    return thread


@router.post("/chats/{thread_id}/respond", response_model=ChatOut)
def respond_chat(thread_id: IdPath, session: SessionDep, principal: PrincipalDep) -> ChatThread:
    """The shop answers; the first answer fixes the thread's first response time."""
    thread = aftersales_service.get_chat(session, thread_id)
    aftersales_access.require_chat_responder(session, principal, thread)
    thread = aftersales_service.respond_chat(session, thread_id=thread_id)
    session.commit()
    return thread
