"""Who may see and change shops and products. Routers ask these questions; they never
answer them.

Merchants manage their own shops; service providers the shops they operate; operators all.
Listed products are public; drafts and delisted ones only to their shop's managers, and to
anyone else such a product answers "not found", as a missing id does.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from trustflow.accounts import service as accounts_service
from trustflow.accounts.models import Role
from trustflow.accounts.principal import Principal
from trustflow.catalog.models import ListingStatus, Product, Shop
from trustflow.errors import Forbidden, NotFound


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


def visible_products(
    session: Session,
    principal: Principal,
    shop_id: int | None = None,
    category_id: int | None = None,
) -> Select[Any]:
    """The products the principal may see, optionally of one shop or category: listed ones
    for everyone; with ``shop_id``, that shop's others too for its managers; every product
    for an operator."""
    stmt = select(Product)
    if category_id is not None:
        stmt = stmt.where(Product.category_id == category_id)
    if shop_id is not None:
        stmt = stmt.where(Product.shop_id == shop_id)
        shop = session.get(Shop, shop_id)
        if shop is None or not can_manage_shop(session, principal, shop):
            stmt = stmt.where(Product.status == ListingStatus.LISTED)
    elif not principal.is_operator:
        stmt = stmt.where(Product.status == ListingStatus.LISTED)
    return stmt
