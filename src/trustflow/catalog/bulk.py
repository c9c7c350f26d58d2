"""Set-based catalog actions: open shops, record follows of shops, list products with SKUs,
move prices."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np
from sqlalchemy import bindparam, update
from sqlalchemy.orm import Session

from trustflow.accounts import bulk as accounts_bulk
from trustflow.accounts.models import Merchant
from trustflow.bulk import (
    IntArray,
    execute_many,
    insert_many,
    insert_returning_ids,
    require_all_exist,
    table,
)
from trustflow.catalog import rules
from trustflow.catalog import service as catalog_service
from trustflow.catalog.models import (
    DEFAULT_HANDLING_HOURS,
    Category,
    ListingStatus,
    PriceChange,
    Product,
    Shop,
    ShopKind,
    Sku,
)
from trustflow.errors import InvalidInput

__all__ = [
    "change_prices",
    "create_shops",
    "follow_shops",
    "list_products_with_skus",
    "restock",
]


def create_shops(
    session: Session,
    merchant_ids: IntArray,
    names: Sequence[str],
    kinds: Sequence[ShopKind],
    category_ids: IntArray,
    *,
    at: datetime,
) -> IntArray:
    """Open shops, their names judged as :func:`trustflow.catalog.service.create_shop` judges
    one: normalised, and refused when one looks like another shop's name or another's here."""
    require_all_exist(session, table(Merchant), merchant_ids, "merchant")
    require_all_exist(session, table(Category), category_ids, "category")
    names = [catalog_service.shop_name(n) for n in names]
    skeletons = catalog_service.check_shop_names(session, names)
    return insert_returning_ids(
        session,
        table(Shop),
        [
            {
                "merchant_id": int(m),
                "name": n,
                "name_skeleton": sk,
                "kind": k,
                "category_id": int(c),
                "status": "active",
                "handling_hours": DEFAULT_HANDLING_HOURS,
                "created_at": at,
            }
            for m, n, sk, k, c in zip(
                merchant_ids, names, skeletons, kinds, category_ids, strict=True
            )
        ],
    )


def follow_shops(session: Session, buyer_ids: IntArray, shop_ids: IntArray, *, at: datetime) -> int:
    """Record follows of shops; ones that already exist (or repeat) are skipped."""
    return accounts_bulk.record_follows(session, buyer_ids, shop_ids, "shop_id", table(Shop), at=at)


def list_products_with_skus(
    session: Session,
    shop_ids: IntArray,
    titles: Sequence[str],
    category_ids: IntArray,
    prices_fen: IntArray,
    stock: IntArray,
    *,
    at: datetime,
) -> tuple[IntArray, IntArray]:
    """Create listed products, one SKU each, with their first price in the history.

    The bulk path lists only unbranded products: branded ones go through the listing check of
    :func:`trustflow.catalog.service.set_listing_status` one at a time.
    """
    prices = np.asarray(prices_fen, dtype=np.int64)
    stock = np.asarray(stock, dtype=np.int64)
    if ((prices <= 0) | (prices > rules.MAX_PRICE_FEN)).any():
        raise InvalidInput(f"price_fen must be in 1..{rules.MAX_PRICE_FEN}")
    if ((stock < 0) | (stock > rules.MAX_STOCK)).any():
        raise InvalidInput(f"stock must be in 0..{rules.MAX_STOCK}")
    require_all_exist(session, table(Shop), shop_ids, "shop")
    require_all_exist(session, table(Category), category_ids, "category")
    product_ids = insert_returning_ids(
        session,
        table(Product),
        [
            {
                "shop_id": int(s),
                "category_id": int(c),
                "title": t,
                "brand": "",
                "brand_authorised": False,
                "status": ListingStatus.LISTED,
                "created_at": at,
            }
            for s, t, c in zip(shop_ids, titles, category_ids, strict=True)
        ],
    )
    sku_ids = insert_returning_ids(
        session,
        table(Sku),
        [
            {"product_id": int(p), "spec": "", "price_fen": int(pr), "stock": int(st)}
            for p, pr, st in zip(product_ids, prices, stock, strict=True)
        ],
    )
    insert_many(
        session,
        table(PriceChange),
        [
            {"sku_id": int(s), "price_fen": int(p), "effective_at": at}
            for s, p in zip(sku_ids, prices, strict=True)
        ],
    )
    return product_ids, sku_ids


_skus = table(Sku)
_SET_PRICE = update(_skus).where(_skus.c.id == bindparam("sku")).values(price_fen=bindparam("p"))
_ADD_STOCK = (
    update(_skus)
    .where(_skus.c.id == bindparam("sku"), _skus.c.stock + bindparam("d") <= rules.MAX_STOCK)
    .values(stock=_skus.c.stock + bindparam("d"))
)


def change_prices(
    session: Session, sku_ids: IntArray, prices_fen: IntArray, *, at: datetime
) -> None:
    """Move many prices at once; each move lands in the price history."""
    prices = np.asarray(prices_fen, dtype=np.int64)
    if ((prices <= 0) | (prices > rules.MAX_PRICE_FEN)).any():
        raise InvalidInput(f"price_fen must be in 1..{rules.MAX_PRICE_FEN}")
    require_all_exist(session, _skus, sku_ids, "sku")
    if len(sku_ids) == 0:
        return
    execute_many(
        session,
        _SET_PRICE,
        [{"sku": int(s), "p": int(p)} for s, p in zip(sku_ids, prices, strict=True)],
    )
    insert_many(
        session,
        table(PriceChange),
        [
            {"sku_id": int(s), "price_fen": int(p), "effective_at": at}
            for s, p in zip(sku_ids, prices, strict=True)
        ],
    )


def restock(session: Session, sku_ids: IntArray, quantities: IntArray) -> None:
    """Add stock to many SKUs (never above the stock ceiling)."""
    qty = np.asarray(quantities, dtype=np.int64)
    if (qty < 0).any():
        raise InvalidInput("restock quantities cannot be negative")
    if len(sku_ids):
        execute_many(
            session,
            _ADD_STOCK,
            [{"sku": int(s), "d": int(q)} for s, q in zip(sku_ids, qty, strict=True)],
        )
