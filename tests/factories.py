"""Build small marketplaces through the real services, for tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from trustflow.accounts import service as accounts_service
from trustflow.catalog import service as catalog_service
from trustflow.catalog.models import ListingStatus, ShopKind
from trustflow.distribution import service as distribution_service
from trustflow.orders import service as orders_service
from trustflow.orders.models import Order
from trustflow.scoring.gates import OFFER_GATE
from trustflow.vocabulary import Channel


@dataclass
class Seller:
    merchant_id: int
    shop_id: int
    product_id: int
    sku_id: int


def category(session: Session, code: str = "apparel") -> int:
    return catalog_service.create_category(session, code=code, name=code.title()).id


def seller(
    session: Session,
    *,
    category_id: int,
    price_fen: int = 9_900,
    stock: int = 100,
    name: str = "Shop",
    at: datetime | None = None,
) -> Seller:
    merchant = accounts_service.create_merchant(session, name=f"{name} Co.")
    shop = catalog_service.create_shop(
        session,
        merchant_id=merchant.id,
        name=name,
        kind=ShopKind.FAST_BRAND,
        category_id=category_id,
        at=at,
    )
    product = catalog_service.create_product(session, shop_id=shop.id, title=f"{name} tee", at=at)
    sku = catalog_service.add_sku(
        session, product_id=product.id, price_fen=price_fen, stock=stock, at=at
    )
    catalog_service.set_listing_status(session, product_id=product.id, status=ListingStatus.LISTED)
    return Seller(merchant.id, shop.id, product.id, sku.id)


def creator_selling(
    session: Session, product_id: int, *, commission_bps: int = 2000, at: datetime | None = None
) -> tuple[int, int]:
    creator = accounts_service.create_creator(session, name="Creator", fans=10_000)
    offer = distribution_service.create_offer(
        session, product_id=product_id, commission_bps=commission_bps, valid_from=at
    )
    distribution_service.select_offer(
        session, creator_id=creator.id, offer_id=offer.id, gate=OFFER_GATE, at=at
    )
    return creator.id, offer.id


def buyer(session: Session, name: str = "Buyer") -> int:
    return accounts_service.create_buyer(session, name=name).id


def paid_order(
    session: Session,
    *,
    buyer_id: int,
    sku_id: int,
    key: str,
    quantity: int = 1,
    channel: Channel = Channel.SHELF_SEARCH,
    creator_id: int | None = None,
    at: datetime | None = None,
) -> Order:
    order = orders_service.place_order(
        session,
        orders_service.OrderRequest(
            buyer_id=buyer_id,
            sku_id=sku_id,
            quantity=quantity,
            channel=channel,
            idempotency_key=key,
            creator_id=creator_id,
        ),
        at=at,
    )
    return orders_service.pay_order(session, order_id=order.id, idempotency_key=f"pay-{key}", at=at)


def delivered_orders(
    session: Session,
    sold: Seller,
    *,
    buyer_id: int,
    count: int,
    start: datetime,
    stars: list[int] | None = None,
    key: str = "d",
) -> list[int]:
    """``count`` orders paid an hour apart from ``start``, each picked up within a day and
    delivered after two, with a review of ``stars[i]`` a day later when given."""
    from datetime import timedelta

    from trustflow.aftersales import service as aftersales_service

    ids = []
    for i in range(count):
        at = start + timedelta(hours=i)
        order = paid_order(session, buyer_id=buyer_id, sku_id=sold.sku_id, key=f"{key}{i}", at=at)
        orders_service.ship_order(session, order_id=order.id, at=at + timedelta(hours=6))
        orders_service.pick_up_order(session, order_id=order.id, at=at + timedelta(hours=12))
        orders_service.deliver_order(session, order_id=order.id, at=at + timedelta(days=2))
        if stars is not None:
            aftersales_service.submit_review(
                session, order_id=order.id, stars=stars[i], at=at + timedelta(days=3)
            )
        ids.append(order.id)
    return ids
