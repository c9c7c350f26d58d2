"""Where each import file lands in the store, and the ids rows were imported with.

Every table an import writes keeps the id a row was imported with in ``external_id``. An
imported checkout's idempotency key is that id behind :data:`CHECKOUT_KEY_PREFIX` (a ``#``,
which no client's key may hold, so it never stands in a buyer's way).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl
from sqlalchemy import ColumnElement, Select, Table, select
from sqlalchemy.orm import Session

from trustflow.accounts.models import Buyer, Creator, Follow, Merchant
from trustflow.aftersales.models import AfterSalesRequest, ChatThread, Review
from trustflow.bulk import chunks, table
from trustflow.catalog.models import Category, Product, Shop, Sku
from trustflow.content.models import LiveSession, LiveSessionProduct, ShortVideo, ShortVideoProduct
from trustflow.distribution.models import CreatorSelection, DistributionOffer
from trustflow.orders.models import Checkout, Order, OrderLine
from trustflow.traffic.models import Impression

__all__ = ["CHECKOUT_KEY_PREFIX", "STORE_TABLES", "external_id", "lookup", "stored_ids"]

#: The table each file's rows become.
STORE_TABLES: dict[str, Table] = {
    "categories": table(Category),
    "merchants": table(Merchant),
    "creators": table(Creator),
    "buyers": table(Buyer),
    "shops": table(Shop),
    "products": table(Product),
    "skus": table(Sku),
    "offers": table(DistributionOffer),
    "creator_selections": table(CreatorSelection),
    "live_sessions": table(LiveSession),
    "live_session_products": table(LiveSessionProduct),
    "short_videos": table(ShortVideo),
    "short_video_products": table(ShortVideoProduct),
    "checkouts": table(Checkout),
    "orders": table(Order),
    "order_lines": table(OrderLine),
    "reviews": table(Review),
    "after_sales": table(AfterSalesRequest),
    "chats": table(ChatThread),
    "follows": table(Follow),
    "impressions": table(Impression),
}


def lookup(
    session: Session,
    stmt: Select[Any],
    key: Any,
    values: pl.Series,
    schema: Mapping[str, Any] | Sequence[str],
) -> pl.DataFrame:
    """The rows of ``stmt`` whose ``key`` is one of ``values``, read in chunks (an ``IN``
    list each), as a frame of ``schema`` (column types, or names whose types are read)."""
    rows: list[Any] = []
    for part in chunks(values.drop_nulls().unique().to_list()):
        rows.extend(session.execute(stmt.where(key.in_(part))).all())
    return pl.DataFrame(
        [tuple(r) for r in rows], schema=schema, orient="row", infer_schema_length=None
    )


#: What an imported checkout's idempotency key holds before the id it was imported with.
CHECKOUT_KEY_PREFIX = "import#"


def external_id(target: Table) -> ColumnElement[Any]:
    """The id a row of ``target`` was imported with (NULL: it was not imported)."""
    return target.c.external_id


def stored_ids(session: Session, target: Table, external_ids: pl.Series) -> pl.DataFrame:
    """``(external_id, id)`` of the rows of ``target`` imported with any of these ids."""
    return lookup(
        session,
        select(target.c.external_id, target.c.id),
        target.c.external_id,
        external_ids,
        {"external_id": pl.String, "id": pl.Int64},
    )
