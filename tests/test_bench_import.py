"""The import benchmark's generated history is of the format's version 2 (orders of several
lines, checkouts, reviews and after-sales of a line), passes every check of the import, and
its bare insert copies exactly the rows the import wrote."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import polars as pl

from trustflow.db import make_engine
from trustflow.importing.flows import run_import

# ``import`` is a keyword: the module is only reachable by name
history = importlib.import_module("bench.import")

ORDERS = 1_000


def _read(folder: Path, name: str) -> pl.DataFrame:
    return pl.read_parquet(folder / f"{name}.parquet")


def test_generated_history_is_imported_whole_and_copied(tmp_path: Path) -> None:
    files = history.write_history(tmp_path / "files", ORDERS, seed=3)
    store, bare = tmp_path / "store.db", tmp_path / "bare.db"
    history.fresh_store(store)
    before = history.table_state(store)
    engine = make_engine(f"sqlite:///{store}")
    try:
        result, _ = run_import(engine, tmp_path / "files", at=history.AS_OF)
    finally:
        engine.dispose()

    assert result.report.height == 0, result.report
    assert result.wrote
    assert result.written == files
    after = history.table_state(store)
    assert after["orders"][0] == ORDERS == files["orders"]
    assert after["order_lines"][0] == files["order_lines"] > ORDERS
    assert after["checkouts"][0] == files["checkouts"] > 0
    added = {t: after[t][0] - before[t][0] for t in after if after[t] != before[t]}
    assert {
        "order_events",
        "payments",
        "price_history",
        "after_sales_events",
        "order_lines",
        "checkouts",
    } <= set(added)

    history.fresh_store(bare)
    _, copied = history.bare_insert(store, bare, {t: before[t][1] for t in added})
    assert copied == sum(added.values())
    assert history.table_state(bare) == after


def test_generated_history_is_version_2(tmp_path: Path) -> None:
    folder = tmp_path / "files"
    history.write_history(folder, ORDERS, seed=3)
    assert json.loads((folder / "format.json").read_text()) == {"version": 2}

    orders = _read(folder, "orders")
    assert not {"sku_id", "quantity", "unit_price_fen", "commission_bps"} & set(orders.columns)
    shop_of_sku = _read(folder, "skus").join(
        _read(folder, "products").select("product_id", "shop_id"), on="product_id"
    )
    lines = _read(folder, "order_lines").join(shop_of_sku.select("sku_id", "shop_id"), on="sku_id")
    per_order = lines.group_by("order_id").agg(
        pl.len().alias("lines"),
        pl.col("sku_id").n_unique().alias("skus"),
        pl.col("shop_id").n_unique().alias("shops"),
        pl.col("line_no").sort().alias("numbers"),
    )
    assert per_order.height == ORDERS
    several = per_order.filter(pl.col("lines") > 1)
    # about one order in ten holds two or three lines, each of another SKU of the same shop
    assert 0.05 * ORDERS < several.height < 0.15 * ORDERS
    assert set(several["lines"]) == {2, 3}
    assert (per_order["skus"] == per_order["lines"]).all()
    assert (per_order["shops"] == 1).all()
    assert all(n == list(range(1, len(n) + 1)) for n in per_order["numbers"].to_list())

    # about 30% of orders through a checkout, some checkouts holding two shops' orders placed
    # at once by the checkout's buyer
    checkouts = _read(folder, "checkouts")
    in_checkout = orders.filter(pl.col("checkout_id").is_not_null())
    assert 0.2 * ORDERS < in_checkout.height < 0.4 * ORDERS
    first_shop = lines.filter(pl.col("line_no") == 1).select("order_id", "shop_id")
    carts = (
        in_checkout.join(first_shop, on="order_id")
        .join(checkouts, on="checkout_id", suffix="_checkout")
        .group_by("checkout_id")
        .agg(
            pl.len().alias("orders"),
            pl.col("shop_id").n_unique().alias("shops"),
            (pl.col("buyer_id") == pl.col("buyer_id_checkout")).all().alias("same_buyer"),
            (pl.col("created_at") >= pl.col("created_at_checkout")).all().alias("after"),
        )
    )
    assert carts.height == checkouts.height
    assert carts["same_buyer"].all() and carts["after"].all()
    assert set(carts["orders"]) == {1, 2}
    assert (carts.filter(pl.col("orders") == 2)["shops"] == 2).all()

    # reviews and after-sales name a line of their order; some orders reviewed line by line,
    # some requests about a few of the line's units
    reviews = _read(folder, "reviews")
    assert (reviews["line_id"].str.replace(r"\.\d+$", "") == reviews["order_id"]).all()
    assert reviews["line_id"].n_unique() == reviews.height
    assert (reviews.group_by("order_id").len()["len"] > 1).any()
    requests = _read(folder, "after_sales").join(
        lines.select("line_id", pl.col("quantity").alias("units")), on="line_id"
    )
    assert (requests["line_id"].str.replace(r"\.\d+$", "") == requests["order_id"]).all()
    assert (requests["quantity"] < requests["units"]).any()
    assert (requests["quantity"] <= requests["units"]).all()
