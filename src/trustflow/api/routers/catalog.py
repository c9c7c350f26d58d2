"""Categories, shops, products, SKUs and prices."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from trustflow.accounts import access
from trustflow.accounts.models import Role
from trustflow.api.deps import PrincipalDep, SessionDep
from trustflow.api.error_responses import ERROR_RESPONSES
from trustflow.api.params import IdPath, IdQuery, Limit, Offset
from trustflow.catalog import access as catalog_access
from trustflow.catalog import service as catalog_service
from trustflow.catalog.models import Category, PriceChange, Product, Shop, Sku
from trustflow.catalog.schemas import (
    CategoryIn,
    CategoryOut,
    FulfilmentIn,
    FulfilmentOut,
    LowestPriceOut,
    PriceChangeOut,
    ProductIn,
    ProductOut,
    ProductPatch,
    ShopIn,
    ShopOut,
    ShopPatch,
    SkuIn,
    SkuOut,
    SkuPatch,
    TransitTimeOut,
)
from trustflow.db import utcnow
from trustflow.errors import NotFound
from trustflow.governance.identity import ApplicationRefused
from trustflow.pagination import paginate
from trustflow.schemas_base import PageOut
from trustflow.types import Instant

router = APIRouter(tags=["catalog"], responses=ERROR_RESPONSES)


@router.get("/shops/{shop_id}/fulfilment", response_model=FulfilmentOut)
def get_fulfilment(shop_id: IdPath, session: SessionDep, principal: PrincipalDep) -> FulfilmentOut:
    """The shop's handling time and transit times: what its orders are promised. Public, as
    the promise is shown to every buyer."""
    shop = catalog_service.get_shop(session, shop_id)
    return _fulfilment_out(session, shop)


@router.put("/shops/{shop_id}/fulfilment", response_model=FulfilmentOut)
def set_fulfilment(
    shop_id: IdPath, body: FulfilmentIn, session: SessionDep, principal: PrincipalDep
) -> FulfilmentOut:
    """Owners set how fast they ship and how long parcels take by region; orders placed from
    now on are promised accordingly, orders already placed keep their promise."""
    shop = catalog_service.get_shop(session, shop_id)
    catalog_access.require_shop_manager(session, principal, shop)
    catalog_service.set_fulfilment(
        session,
        shop_id=shop_id,
        handling_hours=body.handling_hours,
        transit=[(t.region, t.min_hours, t.max_hours) for t in body.transit_times],
    )
    session.commit()
    return _fulfilment_out(session, shop)


def _fulfilment_out(session: Session, shop: Shop) -> FulfilmentOut:
    return FulfilmentOut(
        shop_id=shop.id,
        handling_hours=shop.handling_hours,
        transit_times=[
            TransitTimeOut(region=t.region, min_hours=t.min_hours, max_hours=t.max_hours)
            for t in catalog_service.transit_times(session, shop.id)
        ],
    )


@router.post("/categories", response_model=CategoryOut, status_code=status.HTTP_201_CREATED)
def create_category(body: CategoryIn, session: SessionDep, principal: PrincipalDep) -> Category:
    access.require_operator(principal)
    category = catalog_service.create_category(
        session, code=body.code, name=body.name, parent_id=body.parent_id
    )
    session.commit()
    return category


@router.get("/categories", response_model=PageOut[CategoryOut])
def list_categories(
    session: SessionDep, principal: PrincipalDep, limit: Limit = 50, offset: Offset = 0
) -> object:
    return paginate(session, select(Category).order_by(Category.id), limit=limit, offset=offset)


@router.post("/shops", response_model=ShopOut, status_code=status.HTTP_201_CREATED)
def create_shop(body: ShopIn, session: SessionDep, principal: PrincipalDep) -> Shop:
    merchant_id = access.acting_subject(principal, Role.MERCHANT, body.merchant_id)
    try:
        shop = catalog_service.create_shop(
            session,
            merchant_id=merchant_id,
            name=body.name,
            kind=body.kind,
            category_id=body.category_id,
            actor=principal.actor,
        )
    except ApplicationRefused:
        session.commit()  # the refusal's log (nothing else was written)
        raise
    session.commit()
    return shop


@router.get("/shops", response_model=PageOut[ShopOut])
def list_shops(
    session: SessionDep,
    principal: PrincipalDep,
    mine: bool = False,
    limit: Limit = 50,
    offset: Offset = 0,
) -> object:
    """Shops are public storefronts; ``mine=true`` narrows to the shops the caller manages."""
    stmt = select(Shop).order_by(Shop.id)
    if mine:
        shop_ids = catalog_access.managed_shop_ids(session, principal)
        if shop_ids is not None:
            stmt = stmt.where(Shop.id.in_(shop_ids))
    return paginate(session, stmt, limit=limit, offset=offset)


@router.get("/shops/{shop_id}", response_model=ShopOut)
def get_shop(shop_id: IdPath, session: SessionDep, principal: PrincipalDep) -> Shop:
    return catalog_service.get_shop(session, shop_id)


@router.patch("/shops/{shop_id}", response_model=ShopOut)
def update_shop(
    shop_id: IdPath, body: ShopPatch, session: SessionDep, principal: PrincipalDep
) -> Shop:
    """Owners rename their shop; only operators change its status (suspend, reinstate, close)."""
    shop = catalog_service.get_shop(session, shop_id)
    catalog_access.require_shop_manager(session, principal, shop)
    if body.status is not None:
        access.require_operator(principal)
        catalog_service.set_shop_status(session, shop_id=shop_id, status=body.status)
    if body.name is not None:
        catalog_service.rename_shop(session, shop_id=shop_id, name=body.name)
    session.commit()
    return shop


@router.post(
    "/shops/{shop_id}/products", response_model=ProductOut, status_code=status.HTTP_201_CREATED
)
def create_product(
    shop_id: IdPath, body: ProductIn, session: SessionDep, principal: PrincipalDep
) -> Product:
    catalog_access.require_shop_manager(
        session, principal, catalog_service.get_shop(session, shop_id)
    )
    product = catalog_service.create_product(
        session,
        shop_id=shop_id,
        title=body.title,
        category_id=body.category_id,
        brand=body.brand,
    )
    session.commit()
    return product


def _visible_product(session: SessionDep, principal: PrincipalDep, product_id: int) -> Product:
    product = catalog_service.get_product(session, product_id)
    catalog_access.require_product_visible(session, principal, product)
    return product


def _managed_product(session: SessionDep, principal: PrincipalDep, product_id: int) -> Product:
    product = catalog_service.get_product(session, product_id)
    catalog_access.require_product_manager(session, principal, product)
    return product


@router.get("/products", response_model=PageOut[ProductOut])
def list_products(
    session: SessionDep,
    principal: PrincipalDep,
    shop_id: IdQuery = None,
    category_id: IdQuery = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> object:
    """Listed products for everyone; a shop's managers also see its drafts and delisted ones."""
    stmt = catalog_access.visible_products(
        session, principal, shop_id=shop_id, category_id=category_id
    ).order_by(Product.id)
    return paginate(session, stmt, limit=limit, offset=offset)


@router.get("/products/{product_id}", response_model=ProductOut)
def get_product(product_id: IdPath, session: SessionDep, principal: PrincipalDep) -> Product:
    return _visible_product(session, principal, product_id)


@router.patch("/products/{product_id}", response_model=ProductOut)
def set_listing(
    product_id: IdPath, body: ProductPatch, session: SessionDep, principal: PrincipalDep
) -> Product:
    """List or delist a product; blocking (下架拦截) is for operators."""
    product = _managed_product(session, principal, product_id)
    catalog_service.set_listing_status(
        session, product_id=product_id, status=body.status, by_operator=principal.is_operator
    )
    session.commit()
    return product


@router.post(
    "/products/{product_id}/skus", response_model=SkuOut, status_code=status.HTTP_201_CREATED
)
def add_sku(product_id: IdPath, body: SkuIn, session: SessionDep, principal: PrincipalDep) -> Sku:
    _managed_product(session, principal, product_id)
    sku = catalog_service.add_sku(
        session, product_id=product_id, spec=body.spec, price_fen=body.price_fen, stock=body.stock
    )
    session.commit()
    return sku


@router.get("/products/{product_id}/skus", response_model=list[SkuOut])
def list_skus(product_id: IdPath, session: SessionDep, principal: PrincipalDep) -> list[Sku]:
    _visible_product(session, principal, product_id)
    return list(session.scalars(select(Sku).where(Sku.product_id == product_id).order_by(Sku.id)))


def _managed_sku(session: SessionDep, principal: PrincipalDep, sku_id: int) -> Sku:
    sku = catalog_service.get_sku(session, sku_id)
    product = catalog_service.get_product(session, sku.product_id)
    if not catalog_access.can_see_product(session, principal, product):  # another shop's draft
        raise NotFound(f"sku {sku_id} not found")
    catalog_access.require_product_manager(session, principal, product)
    return sku


@router.patch("/skus/{sku_id}", response_model=SkuOut)
def update_sku(sku_id: IdPath, body: SkuPatch, session: SessionDep, principal: PrincipalDep) -> Sku:
    """Change the price (recorded in the price history) and/or add or remove stock."""
    sku = _managed_sku(session, principal, sku_id)
    if body.price_fen is not None:
        catalog_service.change_price(session, sku_id=sku_id, price_fen=body.price_fen)
    if body.stock_delta:
        sku = catalog_service.adjust_stock(session, sku_id=sku_id, delta=body.stock_delta)
    session.commit()
    return sku


@router.get("/skus/{sku_id}/price-history", response_model=list[PriceChangeOut])
def get_price_history(
    sku_id: IdPath, session: SessionDep, principal: PrincipalDep
) -> list[PriceChange]:
    sku = catalog_service.get_sku(session, sku_id)
    _visible_product(session, principal, sku.product_id)
    return catalog_service.price_history(session, sku_id)


@router.get("/skus/{sku_id}/lowest-price", response_model=LowestPriceOut)
def get_lowest_price(
    sku_id: IdPath,
    session: SessionDep,
    principal: PrincipalDep,
    at: Annotated[Instant | None, Query()] = None,
) -> LowestPriceOut:
    """The lowest price in the 30 days up to ``at`` (default now): the "30-day low" check."""
    sku = catalog_service.get_sku(session, sku_id)
    _visible_product(session, principal, sku.product_id)
    at = at or utcnow()
    lowest = catalog_service.lowest_price_30d(session, sku_id, at=at)
    return LowestPriceOut(sku_id=sku_id, at=at, lowest_price_fen=lowest)
