"""Write the rows the check accepted, file by file, in the order references need.

Every reference is resolved in the store by the id the source gave (``external_id``), so a
row may name one imported now or by an earlier run. What the store derives (an order's goods
and paid amounts, its commission, its state and audit trail, a review's shop and product, an
after-sales request's presumed responsible party) is derived by the same rules the services
use; what happened (prices paid, times, promises) is kept as given.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy import FromClause, String, Table, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from trustflow.accounts.models import Follow
from trustflow.aftersales import rules as aftersales_rules
from trustflow.aftersales import service as aftersales_service
from trustflow.aftersales.models import (
    ActorRole,
    AfterSalesEvent,
    AfterSalesReason,
    AfterSalesStatus,
)
from trustflow.bulk import (
    IntArray,
    execute_columns,
    existing_pairs,
    insert_columns,
    table,
)
from trustflow.catalog.models import PriceChange, Product, Shop, Sku
from trustflow.importing.check import REPLAY, UTC_TIME, Checked, order_history
from trustflow.importing.format import files, spec
from trustflow.importing.store import CHECKOUT_KEY_PREFIX, STORE_TABLES, lookup, stored_ids
from trustflow.orders import commission
from trustflow.orders import rules as order_rules
from trustflow.orders.models import (
    Checkout,
    CheckoutStatus,
    Order,
    OrderEvent,
    OrderLine,
    OrderStatus,
    Payment,
)

__all__ = ["Written", "write_checked"]

Written = dict[str, int]
IMPORT_ACTOR = "import"


def write_checked(
    session: Session,
    checked: Checked,
    *,
    at: datetime,
    on_file: Callable[[str, int], None] | None = None,
) -> Written:
    """Insert every accepted row not already in the store; returns rows written per file."""
    written: Written = {}
    for file in files(checked.version):
        if file.name not in checked.frames:
            continue
        rows = _new(checked, file.name)
        if file.name == "orders":
            lines = _new(checked, "order_lines") if checked.version >= 2 else None
            written[file.name], lines_written = (
                _orders(session, rows, at, lines) if rows.height else (0, 0)
            )
            if lines is not None:
                written["order_lines"] = lines_written
        elif file.name == "order_lines":  # written with their orders
            written.setdefault(file.name, 0)
        else:
            written[file.name] = _WRITERS[file.name](session, rows, at) if rows.height else 0
        if on_file is not None:
            on_file(file.name, written[file.name])
    return written


def _new(checked: Checked, file: str) -> pl.DataFrame:
    """The accepted rows of ``file`` the store does not hold yet."""
    rows = checked.valid(file)
    present = checked.present.get(file)
    if present is not None and len(present):
        rows = rows.filter(~pl.col("row").is_in(present.implode()))
    return rows


def _ids(session: Session, ref: str, values: pl.Series) -> pl.Series:
    """The store ids of the rows of file ``ref`` with these source ids (in order)."""
    found = stored_ids(session, STORE_TABLES[ref], values)
    return pl.DataFrame({"external_id": values}).join(
        found, on="external_id", how="left", maintain_order="left"
    )["id"]


def _resolved(session: Session, frame: pl.DataFrame, refs: dict[str, str]) -> pl.DataFrame:
    return frame.with_columns(
        _ids(session, ref, frame[col]).alias(col) for col, ref in refs.items()
    )


def _resolved_by(session: Session, frame: pl.DataFrame, file: str, column: str) -> pl.DataFrame:
    """Resolve a column whose file depends on another column (``Column.ref_by``)."""
    by, targets = spec(file).column(column).ref_by or ("", ())
    ids = pl.Series(column, [None] * frame.height, dtype=pl.Int64)
    for value, target in targets:
        which = (frame[by].cast(pl.String) == value).fill_null(False)
        found = _ids(session, target, frame[column])
        ids = pl.select(pl.when(which).then(found).otherwise(ids)).to_series()
    return frame.with_columns(ids.alias(column))


def _insert(session: Session, target: Table, frame: pl.DataFrame, **extra: Any) -> IntArray:
    """Insert the frame's columns as rows; the new ids in row order. On SQLite the write
    lock is held from the transaction's first statement, so the rows take the ids after the
    current largest, in order (checked); elsewhere they are read back by external id. Rows go
    in slices, so a million orders never sit in memory as Python rows at once."""
    n = frame.height
    sqlite = session.get_bind().dialect.name == "sqlite"
    before = (session.scalar(select(func.max(target.c.id))) or 0) if sqlite else 0
    for start in range(0, n, SLICE):
        part = frame.slice(start, SLICE)
        rest = {k: v[start : start + SLICE] for k, v in extra.items()}
        if sqlite:
            _insert_sqlite(session, target, part, rest)
        else:
            columns = {c: _values(part[c]) for c in part.columns} | rest
            insert_columns(session, target, columns, rows=part.height)
    if sqlite:
        after = session.scalar(select(func.max(target.c.id))) or 0
        if after - before != n:
            raise RuntimeError(f"{target.name}: ids were not assigned consecutively")
        return np.arange(before + 1, after + 1, dtype=np.int64)
    if "external_id" not in frame.columns:
        return np.zeros(0, dtype=np.int64)
    found = stored_ids(session, target, frame["external_id"])
    joined = frame.select("external_id").join(
        found, on="external_id", how="left", maintain_order="left"
    )
    return joined["id"].to_numpy().astype(np.int64)


#: Rows per insert statement's batch.
SLICE = 100_000
#: How SQLite stores a UTC time (``UtcDateTime`` on SQLAlchemy's SQLite ``DATETIME``).
_SQLITE_TIME = "%Y-%m-%d %H:%M:%S%.6f"


def _insert_sqlite(
    session: Session, target: Table, part: pl.DataFrame, extra: dict[str, Any]
) -> None:
    """Times are written as SQLite stores them, formatted by Polars for the whole column:
    converting them one value at a time was most of an import's time. The check has already
    held every time to a zone and the accepted span."""
    times = [c for c in part.columns if isinstance(part.schema[c], pl.Datetime)]
    part = part.with_columns(
        pl.col(c).dt.convert_time_zone("UTC").dt.replace_time_zone(None).dt.strftime(_SQLITE_TIME)
        for c in times
    )
    stmt = (
        insert(target)
        .values(
            {
                c: bindparam(c, type_=String()) if c in times else bindparam(c)
                for c in [*part.columns, *extra]
            }
        )
        .inline()
    )
    columns = {c: _values(part[c]) for c in part.columns} | extra
    execute_columns(session, stmt, columns, rows=part.height)


def _values(series: pl.Series) -> Any:
    if series.dtype == pl.Int64:
        return series.to_numpy() if series.null_count() == 0 else series.to_list()
    return series.to_list()


def _now(column: str, at: datetime) -> pl.Expr:
    """The column, its empty cells the import's time."""
    return pl.col(column).fill_null(pl.lit(at).cast(UTC_TIME))


def _categories(session: Session, rows: pl.DataFrame, at: datetime) -> int:
    target = STORE_TABLES["categories"]
    out = rows.select(pl.col("category_id").alias("external_id"), "code", "name")
    written = len(_insert(session, target, out))
    # a parent may come after its child in the file: parents are linked once all are in
    if "parent_id" in rows.columns:
        linked = _resolved(
            session,
            rows.select("category_id", "parent_id").drop_nulls("parent_id"),
            {"category_id": "categories", "parent_id": "categories"},
        )
        if linked.height:
            execute_columns(
                session,
                update(target)
                .where(target.c.id == bindparam("child"))
                .values(parent_id=bindparam("parent")),
                {
                    "child": linked["category_id"].to_list(),
                    "parent": linked["parent_id"].to_list(),
                },
                rows=linked.height,
            )
    return written


def _people(
    file: str, key: str, extra: Sequence[str]
) -> Callable[[Session, pl.DataFrame, datetime], int]:
    def write(session: Session, rows: pl.DataFrame, at: datetime) -> int:
        out = rows.select(pl.col(key).alias("external_id"), "name", *extra, _now("created_at", at))
        return len(_insert(session, STORE_TABLES[file], out))

    return write


def _shops(session: Session, rows: pl.DataFrame, at: datetime) -> int:
    rows = _resolved(session, rows, {"merchant_id": "merchants", "category_id": "categories"})
    out = rows.select(
        pl.col("shop_id").alias("external_id"),
        "merchant_id",
        "name",
        pl.col("skeleton").alias("name_skeleton"),
        pl.col("kind").cast(pl.String),
        "category_id",
        pl.col("status").cast(pl.String),
        "handling_hours",
        _now("created_at", at),
    )
    return len(_insert(session, STORE_TABLES["shops"], out))


def _products(session: Session, rows: pl.DataFrame, at: datetime) -> int:
    rows = _resolved(session, rows, {"shop_id": "shops", "category_id": "categories"})
    shops = table(Shop)
    main = _facts(session, shops, rows["shop_id"], shops.c.id, shops.c.category_id)
    out = rows.join(
        main.rename({"key": "shop_id", "value": "shop_category"}), on="shop_id", how="left"
    ).select(
        pl.col("product_id").alias("external_id"),
        "shop_id",
        pl.coalesce("category_id", "shop_category").alias("category_id"),
        "title",
        "brand",
        pl.lit(False).alias("brand_authorised"),
        "product_key",
        pl.col("status").cast(pl.String),
        _now("created_at", at),
    )
    return len(_insert(session, STORE_TABLES["products"], out))


def _facts(
    session: Session, target: FromClause, ids: pl.Series, key: Any, *values: Any
) -> pl.DataFrame:
    names = ["key", "value"] if len(values) == 1 else ["key", *(v.key for v in values)]
    return lookup(session, select(key, *values).select_from(target), key, ids, names)


def _skus(session: Session, rows: pl.DataFrame, at: datetime) -> int:
    rows = _resolved(session, rows, {"product_id": "products"})
    out = rows.select(
        pl.col("sku_id").alias("external_id"), "product_id", "spec", "price_fen", "stock"
    )
    ids = _insert(session, STORE_TABLES["skus"], out)
    history = pl.DataFrame({"sku_id": ids, "price_fen": rows["price_fen"]}).with_columns(
        pl.lit(at).cast(UTC_TIME).alias("effective_at")
    )
    _insert(session, table(PriceChange), history)
    return len(ids)


def _checkouts(session: Session, rows: pl.DataFrame, at: datetime) -> int:
    """Checkouts, as placed; what they derive from their orders is set once those are
    written (:func:`_refresh_checkouts`)."""
    rows = _resolved(session, rows, {"buyer_id": "buyers"})
    out = rows.select(
        pl.col("checkout_id").alias("external_id"),
        "buyer_id",
        pl.lit(CheckoutStatus.PENDING_PAYMENT.value).alias("status"),
        pl.lit(1).alias("items"),
        pl.lit(0).alias("goods_amount_fen"),
        pl.lit(0).alias("paid_amount_fen"),
        (CHECKOUT_KEY_PREFIX + pl.col("checkout_id")).alias("idempotency_key"),
        pl.lit(IMPORT_ACTOR).alias("request_hash"),
        pl.lit(None, pl.String).alias("payment_key"),
        "created_at",
        pl.lit(None, UTC_TIME).alias("paid_at"),
        pl.col("created_at").alias("updated_at"),
    )
    return len(_insert(session, table(Checkout), out))


def _refresh_checkouts(session: Session, checkout_ids: pl.Series) -> None:
    """What a checkout derives from its orders (those in the store, earlier runs' too), as
    placing and paying it would have: paid once any order was paid, with what they paid;
    expired when every order was cancelled unpaid; else awaiting payment with what they
    owe. Its items are its orders' lines."""
    orders, lines, checkouts = table(Order), table(OrderLine), table(Checkout)
    facts = lookup(
        session,
        select(
            orders.c.checkout_id,
            orders.c.goods_amount_fen,
            orders.c.paid_amount_fen,
            orders.c.paid_at,
            orders.c.cancelled_at,
            select(func.count())
            .where(lines.c.order_id == orders.c.id)
            .scalar_subquery()
            .label("lines"),
        ),
        orders.c.checkout_id,
        checkout_ids,
        {
            "checkout_id": pl.Int64,
            "goods": pl.Int64,
            "paid": pl.Int64,
            "paid_at": UTC_TIME,
            "cancelled_at": UTC_TIME,
            "lines": pl.Int64,
        },
    )
    if facts.height == 0:
        return
    placed = lookup(
        session,
        select(checkouts.c.id, checkouts.c.created_at),
        checkouts.c.id,
        checkout_ids,
        {"checkout_id": pl.Int64, "created_at": UTC_TIME},
    )
    was_paid = pl.col("paid_at").is_not_null()
    totals = (
        facts.group_by("checkout_id")
        .agg(
            pl.col("lines").sum().alias("items"),
            pl.col("goods").sum().alias("goods_amount_fen"),
            pl.col("paid").filter(was_paid).sum().alias("paid_on_payment"),
            pl.col("paid").sum().alias("owed"),
            pl.col("paid_at").min(),
            (pl.col("cancelled_at").is_not_null() & ~was_paid).all().alias("expired"),
            pl.col("cancelled_at").max().alias("last_cancelled"),
        )
        .join(placed, on="checkout_id")
        .select(
            pl.col("checkout_id").alias("cid"),
            pl.when(pl.col("paid_at").is_not_null())
            .then(pl.lit(CheckoutStatus.PAID.value))
            .when(pl.col("expired"))
            .then(pl.lit(CheckoutStatus.EXPIRED.value))
            .otherwise(pl.lit(CheckoutStatus.PENDING_PAYMENT.value))
            .alias("new_status"),
            pl.col("items").alias("new_items"),
            pl.col("goods_amount_fen").alias("new_goods"),
            pl.when(pl.col("paid_at").is_not_null())
            .then("paid_on_payment")
            .otherwise("owed")
            .alias("new_paid"),
            pl.col("paid_at").alias("new_paid_at"),
            pl.max_horizontal(
                "created_at",
                "paid_at",
                pl.when(pl.col("expired")).then("last_cancelled"),
            ).alias("new_updated_at"),
        )
    )
    session.execute(
        update(checkouts)
        .where(checkouts.c.id == bindparam("cid"))
        .values(
            status=bindparam("new_status"),
            items=bindparam("new_items"),
            goods_amount_fen=bindparam("new_goods"),
            paid_amount_fen=bindparam("new_paid"),
            paid_at=bindparam("new_paid_at"),
            updated_at=bindparam("new_updated_at"),
        ),
        totals.to_dicts(),
    )


def _orders(
    session: Session, rows: pl.DataFrame, at: datetime, lines: pl.DataFrame | None
) -> tuple[int, int]:
    """Orders with their lines (``lines``: version 2's; None: each order of version 1 is
    its own one line, under the order's id); returns (orders, lines) written. An order takes
    its shop, product, SKU, quantity, price, offer and rate from its first line and its
    amounts and commission as the sums of its lines'."""
    if lines is None:
        lines = rows.select(
            "order_id",
            pl.col("order_id").alias("line_id"),
            pl.lit(1).alias("line_no"),
            "sku_id",
            "quantity",
            "unit_price_fen",
            "merchant_discount_fen",
            "platform_discount_fen",
            "offer_id",
            "commission_bps",
        )
    else:
        lines = lines.filter(pl.col("order_id").is_in(rows["order_id"].implode()))
    refs = {"buyer_id": "buyers", "creator_id": "creators"}
    if "checkout_id" in rows.columns:
        refs["checkout_id"] = "checkouts"
    rows = _resolved(session, rows, refs)
    rows = _resolved_by(session, rows, "orders", "content_id")
    lines = _resolved(session, lines, {"sku_id": "skus", "offer_id": "offers"})
    skus, products, shops = table(Sku), table(Product), table(Shop)
    facts = _facts(
        session,
        skus.join(products, products.c.id == skus.c.product_id).join(
            shops, shops.c.id == products.c.shop_id
        ),
        lines["sku_id"],
        skus.c.id,
        products.c.id.label("product_id"),
        shops.c.id.label("shop_id"),
        shops.c.handling_hours,
    ).rename({"key": "sku_id"})
    goods = pl.col("unit_price_fen") * pl.col("quantity")
    lines = (
        lines.join(facts, on="sku_id", how="left", maintain_order="left")
        .with_columns(goods.alias("goods_amount_fen"))
        .with_columns(
            (
                pl.col("goods_amount_fen")
                - pl.col("merchant_discount_fen")
                - pl.col("platform_discount_fen")
            ).alias("paid_amount_fen"),
            order_rules.commission_fen(
                pl.col("goods_amount_fen") - pl.col("merchant_discount_fen"),
                pl.col("commission_bps"),
            ).alias("commission_fen"),
        )
        .sort("order_id", "line_no")
    )
    first = ("shop_id", "handling_hours", "product_id", "sku_id", "quantity", "unit_price_fen")
    summed = (
        "goods_amount_fen",
        "merchant_discount_fen",
        "platform_discount_fen",
        "paid_amount_fen",
        "commission_fen",
    )
    per_order = lines.group_by("order_id").agg(
        *(pl.col(c).first() for c in (*first, "offer_id", "commission_bps")),
        *(pl.col(c).sum() for c in summed),
    )
    rows = rows.drop(*first, *summed, "offer_id", "commission_bps", strict=False).join(
        per_order, on="order_id", how="left", maintain_order="left"
    )
    _, state = order_history()
    stamps = [pl.col(s) for s in order_rules.STAMPS]
    parties = {r.value: rule.party.value for r, rule in order_rules.CANCEL_REASONS.items()}
    frame = rows.with_columns(
        state.alias("status"),
        pl.coalesce(
            "ship_by",
            pl.col("created_at") + pl.duration(hours=pl.col("handling_hours")),
        ).alias("ship_by"),
        pl.max_horizontal(stamps).alias("updated_at"),
    )
    frame = frame.with_columns(
        pl.col("cancel_reason")
        .cast(pl.String)
        .replace_strict(parties, default=None)
        .alias("cancel_party"),
        pl.when(pl.col("cancelled_at").is_not_null() & pl.col("paid_at").is_not_null())
        .then(pl.col("paid_amount_fen"))
        .otherwise(0)
        .alias("cancel_refund_fen"),
    )
    out = frame.select(
        pl.col("order_id").alias("external_id"),
        "buyer_id",
        *(["checkout_id"] if "checkout_id" in frame.columns else []),
        "shop_id",
        "product_id",
        "sku_id",
        "quantity",
        "unit_price_fen",
        "goods_amount_fen",
        "merchant_discount_fen",
        "platform_discount_fen",
        "paid_amount_fen",
        pl.col("channel").cast(pl.String),
        "creator_id",
        "offer_id",
        "commission_bps",
        "commission_fen",
        pl.col("content_kind").cast(pl.String),
        "content_id",
        pl.col("surface").cast(pl.String),
        "status",
        pl.format("import:{}", "order_id").alias("idempotency_key"),
        pl.lit(IMPORT_ACTOR).alias("request_hash"),
        "created_at",
        "ship_by",
        "ship_to_region",
        "deliver_from",
        "deliver_by",
        *(order_rules.TIMESTAMP_FIELD[a] for a in REPLAY),
        pl.col("cancel_reason").cast(pl.String),
        "cancel_party",
        "cancel_refund_fen",
        "updated_at",
    )
    ids = _insert(session, table(Order), out)
    frame = frame.with_columns(pl.Series("id", ids))
    placed = frame.select("order_id", pl.col("id").alias("store_order"), "created_at")
    written_lines = _insert(
        session,
        table(OrderLine),
        lines.join(placed, on="order_id", how="left").select(
            pl.col("line_id").alias("external_id"),
            pl.col("store_order").alias("order_id"),
            # the rest of a line's columns, as the store names them
            *(c.key for c in table(OrderLine).c if c.key not in {"id", "external_id", "order_id"}),
        ),
    )
    _order_trail(session, frame)
    paid = frame.filter(pl.col("paid_at").is_not_null())
    _insert(
        session,
        table(Payment),
        paid.select(
            pl.col("id").alias("order_id"),
            pl.col("paid_amount_fen").alias("amount_fen"),
            pl.format("import-pay:{}", "order_id").alias("idempotency_key"),
            pl.col("paid_at").alias("created_at"),
        ),
    )
    sold = paid.filter(pl.col("creator_id").is_not_null())
    commission.accrue_commissions(session, sold["id"].to_numpy(), at=sold["paid_at"].to_list())
    cancelled = sold.filter(pl.col("cancelled_at").is_not_null())
    commission.reverse_commissions(
        session,
        cancelled["id"].to_numpy(),
        [commission.REVERSE_CANCEL] * cancelled.height,
        cancelled["paid_amount_fen"].to_numpy(),
        at=cancelled["cancelled_at"].to_list(),
    )
    if "checkout_id" in frame.columns:
        _refresh_checkouts(session, frame["checkout_id"].drop_nulls().unique())
    return len(ids), len(written_lines)


def _order_trail(session: Session, frame: pl.DataFrame) -> None:
    """The audit trail the order's times describe: its placement, then each action."""
    parts = [
        frame.select(
            pl.col("id").alias("order_id"),
            pl.lit("place").alias("action"),
            pl.lit(None, pl.String).alias("from_status"),
            pl.lit(OrderStatus.PENDING_PAYMENT.value).alias("to_status"),
            pl.col("created_at").alias("at"),
        )
    ]
    state: pl.Expr = pl.lit(OrderStatus.PENDING_PAYMENT.value)
    for action in REPLAY:
        stamp = order_rules.TIMESTAMP_FIELD[action]
        target = order_rules.TRANSITIONS.target(action).value
        parts.append(
            frame.filter(pl.col(stamp).is_not_null()).select(
                pl.col("id").alias("order_id"),
                pl.lit(action).alias("action"),
                state.alias("from_status"),
                pl.lit(target).alias("to_status"),
                pl.col(stamp).alias("at"),
            )
        )
        state = pl.when(pl.col(stamp).is_not_null()).then(pl.lit(target)).otherwise(state)
    trail = (
        pl.concat(parts).sort("order_id", "at").with_columns(pl.lit(IMPORT_ACTOR).alias("actor"))
    )
    _insert(session, table(OrderEvent), trail)


def _order_facts(session: Session, rows: pl.DataFrame) -> pl.DataFrame:
    """What reviews and after-sales take from their order and from the line they are about
    (``__line``, the line's id, as the check found it: the one named, or the order's only
    line), by the row's ``row``."""
    orders, lines = table(Order), table(OrderLine)
    order_facts = _facts(
        session,
        orders,
        rows["order_id"],
        orders.c.id,
        orders.c.buyer_id,
        orders.c.shop_id,
        orders.c.creator_id,
        orders.c.delivered_at,
        orders.c.paid_amount_fen,
    ).rename({"key": "order_id"})
    line_facts = lookup(
        session,
        select(lines.c.external_id, lines.c.id, lines.c.product_id),
        lines.c.external_id,
        rows["__line"],
        {"__line": pl.String, "line_id": pl.Int64, "product_id": pl.Int64},
    )
    return (
        rows.select("row", "order_id", "__line")
        .join(order_facts, on="order_id", how="left", maintain_order="left")
        .join(line_facts, on="__line", how="left", maintain_order="left")
        .drop("order_id", "__line")
    )


def _reviews(session: Session, rows: pl.DataFrame, at: datetime) -> int:
    rows = _resolved(session, rows.drop("line_id", strict=False), {"order_id": "orders"})
    frame = rows.join(_order_facts(session, rows), on="row", how="left", maintain_order="left")
    before = pl.col("delivered_at").is_null() | (pl.col("created_at") < pl.col("delivered_at"))
    out = frame.select(
        pl.col("review_id").alias("external_id"),
        "order_id",
        "line_id",
        "buyer_id",
        "product_id",
        "shop_id",
        "creator_id",
        "stars",
        "text",
        "created_at",
        pl.when(before).then(pl.lit("before_delivery")).alias("flag"),
    )
    tags: list[list[str]] = [[] for _ in range(out.height)]
    return len(_insert(session, STORE_TABLES["reviews"], out, tags=tags))


def _after_sales(session: Session, rows: pl.DataFrame, at: datetime) -> int:
    rows = _resolved(session, rows.drop("line_id", strict=False), {"order_id": "orders"})
    if "quantity" not in rows.columns:  # version 1: a request is about the whole line
        rows = rows.with_columns(pl.lit(None, pl.Int64).alias("quantity"))
    frame = rows.join(_order_facts(session, rows), on="row", how="left", maintain_order="left")
    presumed = pl.DataFrame(
        [
            (
                reason.value,
                by_creator,
                aftersales_rules.presumed_responsible(reason, sold_by_creator=by_creator).value,
            )
            for reason in AfterSalesReason
            for by_creator in (False, True)
        ],
        schema={"reason_": pl.String, "by_creator": pl.Boolean, "presumed": pl.String},
        orient="row",
    )
    frame = frame.with_columns(
        pl.col("reason").cast(pl.String).alias("reason_"),
        pl.col("creator_id").is_not_null().alias("by_creator"),
    ).join(presumed, on=["reason_", "by_creator"], how="left", maintain_order="left")
    out = frame.select(
        pl.col("request_id").alias("external_id"),
        "order_id",
        "line_id",
        "quantity",
        "shop_id",
        "buyer_id",
        pl.col("kind").cast(pl.String),
        pl.col("reason").cast(pl.String),
        pl.coalesce(pl.col("responsible_party").cast(pl.String), "presumed").alias(
            "responsible_party"
        ),
        pl.col("status").cast(pl.String),
        "refund_fen",
        pl.lit("").alias("note"),
        pl.col("dispute_outcome").cast(pl.String),
        "created_at",
        "handled_at",
        "resolved_at",
        pl.max_horizontal("created_at", "handled_at", "resolved_at").alias("updated_at"),
    )
    ids = _insert(session, STORE_TABLES["after_sales"], out)
    frame = frame.with_columns(pl.Series("id", ids))
    _insert(
        session,
        table(AfterSalesEvent),
        frame.select(
            pl.col("id").alias("request_id"),
            pl.lit(IMPORT_ACTOR).alias("action"),
            pl.lit(None, pl.String).alias("from_status"),
            pl.col("status").cast(pl.String).alias("to_status"),
            pl.lit(ActorRole.SYSTEM.value).alias("actor_role"),
            pl.lit(None, pl.Int64).alias("actor_id"),
            pl.col("created_at").alias("at"),
        ),
    )
    refunded = frame.filter(pl.col("status") == AfterSalesStatus.REFUNDED.value)
    if refunded.height:
        # each refund takes its share of the commission back, counted on all the order has
        # refunded so far (earlier runs included), as one at a time
        last = refunded.group_by("order_id").agg(
            pl.col("id").max(),
            pl.max_horizontal("created_at", "resolved_at").max().alias("at"),
        )
        orders = last["order_id"].to_numpy()
        totals = aftersales_service.refunded_totals(session, orders)
        commission.reverse_commissions(
            session,
            orders,
            [commission.reverse_key(int(i)) for i in last["id"].to_list()],
            [totals.get(int(o), 0) for o in orders.tolist()],
            at=last["at"].to_list(),
            # each line gives back its own commission's share, as the service's refunds do
            line_refunds=aftersales_service.line_refunds(session, orders),
        )
    return len(ids)


def _chats(session: Session, rows: pl.DataFrame, at: datetime) -> int:
    rows = _resolved(
        session, rows, {"buyer_id": "buyers", "shop_id": "shops", "order_id": "orders"}
    )
    out = rows.select(
        pl.col("chat_id").alias("external_id"),
        "buyer_id",
        "shop_id",
        "order_id",
        "first_message_at",
        "first_response_at",
        (pl.col("first_response_at") - pl.col("first_message_at"))
        .dt.total_seconds()
        .cast(pl.Int64)
        .alias("first_response_seconds"),
        pl.coalesce("first_response_at", "first_message_at").alias("updated_at"),
    )
    return len(_insert(session, STORE_TABLES["chats"], out))


def _follows(session: Session, rows: pl.DataFrame, at: datetime) -> int:
    rows = _resolved(
        session, rows, {"buyer_id": "buyers", "creator_id": "creators", "shop_id": "shops"}
    )
    follows = table(Follow)
    added = 0
    for column in ("creator_id", "shop_id"):
        part = rows.filter(pl.col(column).is_not_null()).unique(
            ["buyer_id", column], keep="first", maintain_order=True
        )
        if part.height == 0:
            continue
        pairs = list(zip(part["buyer_id"].to_list(), part[column].to_list(), strict=True))
        present = existing_pairs(session, follows.c.buyer_id, follows.c[column], pairs)
        new = part.filter(~pl.Series([p in present for p in pairs]))
        other = "shop_id" if column == "creator_id" else "creator_id"
        insert_columns(
            session,
            follows,
            {
                "buyer_id": new["buyer_id"].to_list(),
                column: new[column].to_list(),
                other: None,
                "created_at": new.select(_now("created_at", at))["created_at"].to_list(),
            },
            rows=new.height,
        )
        added += new.height
    return added


def _offers(session: Session, rows: pl.DataFrame, at: datetime) -> int:
    rows = _resolved(session, rows, {"product_id": "products"})
    out = rows.select(
        pl.col("offer_id").alias("external_id"),
        "product_id",
        "commission_bps",
        "valid_from",
        "valid_until",
        _now("created_at", at),
    )
    return len(_insert(session, STORE_TABLES["offers"], out))


def _content(file: str, key: str, times: Sequence[str], refs: dict[str, str]) -> Writer:
    def write(session: Session, rows: pl.DataFrame, at: datetime) -> int:
        rows = _resolved(session, rows, refs)
        out = rows.select(
            pl.col(key).alias("external_id"),
            *refs,
            "title",
            *(["status"] if file == "live_sessions" else []),
            *times,
        ).with_columns(pl.col(pl.Enum).cast(pl.String))
        return len(_insert(session, STORE_TABLES[file], out))

    return write


def _pairs(file: str, first: tuple[str, str], second: tuple[str, str]) -> Writer:
    """Rows that are pairs (a creator's pick of an offer, a room's product): resolved, and
    the ones the store already holds kept as they are."""

    def write(session: Session, rows: pl.DataFrame, at: datetime) -> int:
        (a, ref_a), (b, ref_b) = first, second
        rows = _resolved(session, rows, {a: ref_a, b: ref_b}).unique([a, b], keep="first")
        target = STORE_TABLES[file]
        pairs = list(zip(rows[a].to_list(), rows[b].to_list(), strict=True))
        present = existing_pairs(session, target.c[a], target.c[b], pairs)
        new = rows.filter(pl.Series([p not in present for p in pairs], dtype=pl.Boolean))
        if new.height == 0:
            return 0
        out = new.select(a, b, *([_now("created_at", at)] if "created_at" in new.columns else []))
        _insert(session, target, out)
        return new.height

    return write


def _impressions(session: Session, rows: pl.DataFrame, at: datetime) -> int:
    rows = _resolved(session, rows, {"buyer_id": "buyers"})
    rows = _resolved_by(session, rows, "impressions", "item_id")
    out = rows.select(
        pl.col("impression_id").alias("external_id"),
        pl.col("surface").cast(pl.String),
        pl.col("item_kind").cast(pl.String),
        "item_id",
        "buyer_id",
        "shown_at",
        "count",
        "is_reward",
        "reward_plan",
        "plan_version",
    )
    return len(_insert(session, STORE_TABLES["impressions"], out))


Writer = Callable[[Session, pl.DataFrame, datetime], int]

_WRITERS: dict[str, Writer] = {
    "categories": _categories,
    "merchants": _people("merchants", "merchant_id", ()),
    "creators": _people("creators", "creator_id", ("fans",)),
    "buyers": _people("buyers", "buyer_id", ("region",)),
    "shops": _shops,
    "products": _products,
    "skus": _skus,
    "offers": _offers,
    "creator_selections": _pairs(
        "creator_selections", ("creator_id", "creators"), ("offer_id", "offers")
    ),
    "live_sessions": _content(
        "live_sessions",
        "live_session_id",
        ("scheduled_at", "started_at", "ended_at"),
        {"creator_id": "creators", "shop_id": "shops"},
    ),
    "live_session_products": _pairs(
        "live_session_products", ("live_session_id", "live_sessions"), ("product_id", "products")
    ),
    "short_videos": _content(
        "short_videos",
        "short_video_id",
        ("posted_at",),
        {"creator_id": "creators", "shop_id": "shops", "clipped_from_live_id": "live_sessions"},
    ),
    "short_video_products": _pairs(
        "short_video_products", ("short_video_id", "short_videos"), ("product_id", "products")
    ),
    "checkouts": _checkouts,
    "reviews": _reviews,
    "after_sales": _after_sales,
    "chats": _chats,
    "follows": _follows,
    "impressions": _impressions,
}
