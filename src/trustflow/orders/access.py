"""Who may see and act on an order. Routers ask these questions; they never answer them.

An order is seen by its buyer, the creator whose distribution sold it, the managers of the
shop that sold it, and operators. To anyone else it answers "not found", as a missing id does.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from trustflow.accounts.models import Role
from trustflow.accounts.principal import Principal
from trustflow.catalog.access import can_manage_shop, managed_shop_ids
from trustflow.catalog.models import Shop
from trustflow.errors import Forbidden, NotFound
from trustflow.orders.models import Checkout, Order


def can_see_order(session: Session, principal: Principal, order: Order) -> bool:
    if principal.is_operator or principal.is_(Role.BUYER, order.buyer_id):
        return True
    if principal.is_(Role.CREATOR, order.creator_id):
        return True
    shop = session.get(Shop, order.shop_id)
    return shop is not None and can_manage_shop(session, principal, shop)


def require_order_visible(session: Session, principal: Principal, order: Order) -> None:
    if not can_see_order(session, principal, order):
        raise NotFound(f"order {order.id} not found")


def require_order_buyer(session: Session, principal: Principal, order: Order) -> None:
    require_order_visible(session, principal, order)
    if not (principal.is_operator or principal.is_(Role.BUYER, order.buyer_id)):
        raise Forbidden("only the buyer of this order can do this")


def require_order_seller(session: Session, principal: Principal, order: Order) -> None:
    require_order_visible(session, principal, order)
    shop = session.get(Shop, order.shop_id)
    if shop is None or not can_manage_shop(session, principal, shop):
        raise Forbidden("only the shop that sold this order can do this")


def visible_orders(session: Session, principal: Principal) -> Select[Any]:
    """The orders the principal may list: a buyer's own, a creator's distribution sales, the
    managed shops' for a merchant or service provider, every order for an operator."""
    stmt = select(Order)
    if principal.role is Role.BUYER:
        return stmt.where(Order.buyer_id == principal.subject_id)
    if principal.role is Role.CREATOR:
        return stmt.where(Order.creator_id == principal.subject_id)
    if principal.is_operator:
        return stmt
    return stmt.where(Order.shop_id.in_(managed_shop_ids(session, principal) or []))


def require_checkout_buyer(principal: Principal, checkout: Checkout) -> None:
    """A checkout is its buyer's (and operators'): to anyone else it does not exist."""
    if not (principal.is_operator or principal.is_(Role.BUYER, checkout.buyer_id)):
        raise NotFound(f"checkout {checkout.id} not found")
