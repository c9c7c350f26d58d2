"""Who may see and change what. Routers ask these questions; they never answer them.

Merchants act on their own shops; service providers on the shops they operate; creators on
their own content and selections; buyers on their own orders. Operators may do anything.
Things a caller may not even know exist (another buyer's order) answer "not found".
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from trustflow.accounts import service as accounts_service
from trustflow.accounts.models import Role
from trustflow.accounts.principal import Principal
from trustflow.aftersales.models import AfterSalesRequest
from trustflow.catalog.models import ListingStatus, Product, Shop
from trustflow.errors import Forbidden, NotFound
from trustflow.orders.models import Order


def managed_shop_ids(session: Session, principal: Principal) -> list[int] | None:
    """Shops the principal manages; ``None`` means all of them (operator)."""
    if principal.is_operator:
        return None
    if principal.role is Role.MERCHANT:
        return list(
            session.scalars(select(Shop.id).where(Shop.merchant_id == principal.subject_id))
        )
    if principal.role is Role.SERVICE_PROVIDER and principal.subject_id is not None:
        return accounts_service.provider_shop_ids(session, principal.subject_id)
    return []


def can_manage_shop(session: Session, principal: Principal, shop: Shop) -> bool:
    if principal.is_operator or principal.is_(Role.MERCHANT, shop.merchant_id):
        return True
    if principal.role is Role.SERVICE_PROVIDER and principal.subject_id is not None:
        return shop.id in accounts_service.provider_shop_ids(session, principal.subject_id)
    return False


def require_shop_manager(session: Session, principal: Principal, shop: Shop) -> None:
    if not can_manage_shop(session, principal, shop):
        raise Forbidden(f"you do not manage shop {shop.id}")


def can_see_product(session: Session, principal: Principal, product: Product) -> bool:
    """Listed products are public; the others only to the shop's managers."""
    if product.status is ListingStatus.LISTED:
        return True
    shop = session.get(Shop, product.shop_id)
    return shop is not None and can_manage_shop(session, principal, shop)


def require_product_visible(session: Session, principal: Principal, product: Product) -> None:
    if not can_see_product(session, principal, product):
        raise NotFound(f"product {product.id} not found")


def require_product_manager(session: Session, principal: Principal, product: Product) -> None:
    """The caller manages the product's shop: 404 for a product it cannot see (another shop's
    draft), 403 for a listed one it cannot change."""
    require_product_visible(session, principal, product)
    shop = session.get(Shop, product.shop_id)
    if shop is None or not can_manage_shop(session, principal, shop):
        raise Forbidden(f"you do not manage shop {product.shop_id}")


def require_role(principal: Principal, *roles: Role) -> None:
    if not principal.is_operator and principal.role not in roles:
        allowed = dict.fromkeys((Role.OPERATOR, *roles))  # operators always may; once each
        raise Forbidden(f"this needs one of: {', '.join(r.value for r in allowed)}")


def require_operator(principal: Principal) -> None:
    if not principal.is_operator:
        raise Forbidden("operators only")


def acting_subject(principal: Principal, role: Role, requested: int | None) -> int:
    """The subject an action is for: the caller's own, or any one an operator names."""
    if principal.is_operator:
        if requested is None:
            raise NotFound(f"an operator must name the {role.value} to act for")
        return requested
    if principal.role is not role or principal.subject_id is None:
        raise Forbidden(f"only a {role.value} (or an operator) can do this")
    if requested is not None and requested != principal.subject_id:
        raise Forbidden(f"you cannot act for another {role.value}")
    return principal.subject_id


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


def require_request_visible(
    session: Session, principal: Principal, request: AfterSalesRequest
) -> None:
    order = session.get(Order, request.order_id)
    if order is None or not can_see_order(session, principal, order):
        raise NotFound(f"after-sales request {request.id} not found")
