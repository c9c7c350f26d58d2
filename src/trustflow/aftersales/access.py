"""Who may see and act on after-sales requests and buyer–shop chats. Routers ask these
questions; they never answer them.

A request is seen by whoever may see its order (:mod:`trustflow.orders.access`); a chat by its
buyer and the managers of its shop. To anyone else either answers "not found", as a missing id
does.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from trustflow.accounts.models import Role
from trustflow.accounts.principal import Principal
from trustflow.aftersales.models import AfterSalesRequest, ChatThread
from trustflow.catalog import service as catalog_service
from trustflow.catalog.access import can_manage_shop, managed_shop_ids
from trustflow.errors import Forbidden, NotFound
from trustflow.orders.access import can_see_order
from trustflow.orders.models import Order


def require_request_visible(
    session: Session, principal: Principal, request: AfterSalesRequest
) -> None:
    order = session.get(Order, request.order_id)
    if order is None or not can_see_order(session, principal, order):
        raise NotFound(f"after-sales request {request.id} not found")


def visible_requests(session: Session, principal: Principal) -> Select[Any]:
    """The requests the principal may list: a buyer's own, those on a creator's distribution
    sales, the managed shops' for a merchant or service provider, every one for an operator."""
    stmt = select(AfterSalesRequest)
    if principal.role is Role.BUYER:
        return stmt.where(AfterSalesRequest.buyer_id == principal.subject_id)
    if principal.role is Role.CREATOR:
        return stmt.join(Order, Order.id == AfterSalesRequest.order_id).where(
            Order.creator_id == principal.subject_id
        )
    if principal.is_operator:
        return stmt
    return stmt.where(AfterSalesRequest.shop_id.in_(managed_shop_ids(session, principal) or []))


def require_chat_visible(session: Session, principal: Principal, thread: ChatThread) -> None:
    """The chat's buyer and its shop's managers see it."""
    shop = catalog_service.get_shop(session, thread.shop_id)
    if not (
        principal.is_(Role.BUYER, thread.buyer_id) or can_manage_shop(session, principal, shop)
    ):
        raise NotFound(f"chat {thread.id} not found")


def require_chat_responder(session: Session, principal: Principal, thread: ChatThread) -> None:
    """Only the shop's managers answer a chat: 403 for its buyer, 404 for anyone else."""
    shop = catalog_service.get_shop(session, thread.shop_id)
    if not can_manage_shop(session, principal, shop):
        if principal.is_(Role.BUYER, thread.buyer_id):
            raise Forbidden("only the shop answers its chats")
        raise NotFound(f"chat {thread.id} not found")
