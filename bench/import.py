"""Rows imported per second by ``trustflow import``, against a bare insert of the same rows.

A year of marketplace history (``--orders`` orders from 2025-01-01 with their catalogue,
buyers, creators, reviews, after-sales requests, chats and follows) is generated with NumPy and
Polars and written as Parquet files of the import format's version 2 (not timed): about one
order in ten holds two or three lines (other SKUs of its shop), about 30% were placed through a
checkout (some carts split into two shops' orders placed at once), and reviews and after-sales
requests name their line (some orders reviewed line by line, some requests about a few of a
line's units). ``orders`` counts orders, not lines. The import's own flow
(:func:`trustflow.importing.flows.run_import`) then reads, checks and writes them into a fresh
SQLite store, timed as a whole. ``rows`` counts every row it added, in every table: order
events, payments, price history, commission entries and after-sales events included.

The peer: every row the import wrote is read back out of that store (not timed) and inserted,
all columns as stored, into a second fresh store with the plain ``sqlite3`` driver, one
``executemany`` per table in one transaction, under the engine's PRAGMAs (timed). ``ratio`` is
the import's rows per second over the bare insert's; higher is better.

    python -m bench.import [--orders N] [--seed S] [--quick]
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime
from graphlib import TopologicalSorter
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from trustflow import migrate
from trustflow.aftersales.rules import TERMINAL_STATES
from trustflow.db import make_engine
from trustflow.importing.flows import ImportResult, run_import
from trustflow.importing.format import VERSION_FILE

#: The version of the import format the history is written in (docs/import.md).
VERSION = 2
US = 1_000_000
HOUR = 3_600 * US
DAY = 24 * HOUR
MINUTE = 60 * US
START = datetime(2025, 1, 1, tzinfo=UTC)
#: The end of the generated history, and the import's time: nothing happens after it.
AS_OF = datetime(2026, 1, 1, tzinfo=UTC)
START_US = int(START.timestamp()) * US
AS_OF_US = int(AS_OF.timestamp()) * US
UTC_TIME = pl.Datetime("us", "UTC")

CATEGORIES = (
    "Tea",
    "Snacks",
    "Fresh fruit",
    "Womenswear",
    "Menswear",
    "Shoes",
    "Bags",
    "Make-up",
    "Skin care",
    "Baby",
    "Toys",
    "Home",
    "Kitchen",
    "Phones",
    "Computers",
    "Appliances",
    "Sports",
    "Books",
    "Pets",
    "Jewellery",
)
#: Region codes and their share of buyers; the last four are far away (slower transit).
REGIONS = ("GD", "ZJ", "JS", "SD", "HE", "SC", "HA", "SH", "BJ", "FJ", "HB", "XJ", "XZ", "QH", "NX")
REGION_WEIGHTS = (14, 11, 10, 8, 7, 7, 6, 6, 5, 5, 5, 1, 0.5, 0.5, 0.5)
FAR_REGIONS = 4
SHOP_KINDS = ("brand", "fast_brand", "source", "other")
OTHER_CHANNELS = ("self_broadcast", "shelf_search", "shelf_mall", "shelf_shop", "shelf_card")
ROOM_SURFACES = ("follow", "featured", "discover", "short_video_to_live")
REVIEW_TEXTS = (
    ("Not what I ordered", "Broke after a day", "Never again"),
    ("Poor quality", "Smaller than shown", "Late and scratched"),
    ("It is fine", "Okay for the price", "Average"),
    ("Good value", "Nice, arrived quickly", "Would buy again"),
    ("Excellent", "Exactly as described", "Love it"),
)
AFTER_SALES_REASONS = (
    "quality",
    "not_as_described",
    "counterfeit",
    "damaged_in_transit",
    "late_delivery",
    "wrong_item",
    "no_reason_7day",
    "changed_mind",
    "other",
)
REFUND_STATUSES = (
    "refunded",
    "rejected",
    "requested",
    "approved",
    "awaiting_return",
    "returned",
    "escalated",
    "closed",
    "withdrawn",
)
EXCHANGE_STATUSES = ("exchanged", "rejected", "requested", "approved", "withdrawn")
#: the states a request ends in (a rejected one may still be escalated: it has no end yet)
ENDED = tuple(s.value for s in TERMINAL_STATES)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- generating the history ------------------------------------------------------------------


def _ids(prefix: str, n: int) -> pl.Series:
    """``prefix`` and a zero-padded number, 1 to n."""
    width = max(6, len(str(n)))
    numbers = pl.int_range(1, n + 1, eager=True).cast(pl.String).str.zfill(width)
    return (prefix + numbers).rename("id")


def _times(us: npt.NDArray[np.int64], present: npt.NDArray[np.bool_] | None = None) -> pl.Series:
    """Microseconds since the epoch as aware UTC times to the second (as source systems
    keep them); empty where ``present`` is False."""
    seconds = np.asarray(us, dtype=np.int64) // US * US
    frame = pl.DataFrame({"t": seconds})
    value = pl.from_epoch(pl.col("t"), time_unit="us").dt.replace_time_zone("UTC")
    if present is not None:
        frame = frame.with_columns(pl.Series("p", present))
        value = pl.when(pl.col("p")).then(value)
    return frame.select(value.cast(UTC_TIME)).to_series()


def _masked(values: pl.Series, present: npt.NDArray[np.bool_]) -> pl.Series:
    """``values`` where ``present``, else empty."""
    frame = pl.DataFrame({"v": values, "p": present})
    return frame.select(pl.when(pl.col("p")).then(pl.col("v"))).to_series()


def _choice(
    rng: np.random.Generator, values: tuple[Any, ...], n: int, weights: tuple[float, ...]
) -> npt.NDArray[Any]:
    p = np.asarray(weights, dtype=np.float64)
    return np.asarray(values)[rng.choice(len(values), size=n, p=p / p.sum())]


def _popularity(rng: np.random.Generator, n: int, shape: float) -> npt.NDArray[np.float64]:
    """Heavy-tailed weights: a few buyers, SKUs or creators take much of the activity."""
    weights = rng.pareto(shape, n) + 0.05
    return weights / weights.sum()


def _hours(values: npt.ArrayLike) -> npt.NDArray[np.int64]:
    return (np.asarray(values, dtype=np.float64) * HOUR).astype(np.int64)


def generate(orders: int, seed: int = 7, *, traits: bool = False) -> dict[str, pl.DataFrame]:
    """A year of history with ``orders`` orders, file by file, in the import format.

    With ``traits``, shops differ as real ones do, from their own random stream (so the
    history is otherwise the same): each has a carrier speed (its parcels' transit time is
    scaled by a factor around 1) and a share of unhappy buyers (1-2 star reviews, from a few
    percent to a fifth), both kept for the whole year. Without, every shop is alike."""
    rng = np.random.default_rng(seed)
    files: dict[str, pl.DataFrame] = {}

    # categories, merchants, shops (one merchant each)
    n_cat = len(CATEGORIES)
    category_ids = _ids("cat-", n_cat)
    files["categories"] = pl.DataFrame(
        {
            "category_id": category_ids,
            "code": pl.Series(CATEGORIES).str.to_lowercase().str.replace_all(r"[^a-z]", ""),
            "name": pl.Series(CATEGORIES),
        }
    )
    n_shops = max(2, orders // 300)
    merchant_ids, shop_ids = _ids("m-", n_shops), _ids("s-", n_shops)
    shop_numbers = pl.int_range(1, n_shops + 1, eager=True).cast(pl.String).str.zfill(6)
    merchant_created = START_US - 730 * DAY + (rng.random(n_shops) * 540 * DAY).astype(np.int64)
    shop_created = merchant_created + _hours(rng.uniform(24, 720, n_shops))
    shop_category = rng.integers(0, n_cat, n_shops)
    handling = _choice(rng, (24, 48, 72), n_shops, (3, 5, 2)).astype(np.int64)
    files["merchants"] = pl.DataFrame(
        {
            "merchant_id": merchant_ids,
            "name": "Merchant " + shop_numbers + " Co.",
            "created_at": _times(merchant_created),
        }
    )
    files["shops"] = pl.DataFrame(
        {
            "shop_id": shop_ids,
            "merchant_id": merchant_ids,
            "name": "Shop " + shop_numbers,
            "kind": _choice(rng, SHOP_KINDS, n_shops, (2, 2, 3, 3)),
            "category_id": category_ids.gather(shop_category),
            "status": np.full(n_shops, "active"),
            "handling_hours": handling,
            "created_at": _times(shop_created),
        }
    )

    # products: a product key per kind of goods, some sold by two shops
    n_products = max(n_shops, orders // 30)
    product_shop = rng.integers(0, n_shops, n_products)
    goods_key = np.arange(n_products)
    pairs = rng.permutation(n_products)[: 2 * (n_products // 20)]
    first, second = pairs[0::2], pairs[1::2]
    goods_key[second] = goods_key[first]
    product_shop[second] = (product_shop[first] + rng.integers(1, n_shops, len(second))) % n_shops
    own_category = rng.random(n_products) < 0.2
    product_category = np.where(
        own_category, rng.integers(0, n_cat, n_products), shop_category[product_shop]
    )
    product_ids = _ids("p-", n_products)
    product_numbers = pl.int_range(1, n_products + 1, eager=True).cast(pl.String)
    has_brand = rng.random(n_products) < 0.3
    product_created = np.maximum(shop_created[product_shop], START_US - 360 * DAY) + (
        rng.random(n_products) * 300 * DAY
    ).astype(np.int64)
    files["products"] = pl.DataFrame(
        {
            "product_id": product_ids,
            "shop_id": shop_ids.gather(product_shop),
            "category_id": _masked(category_ids.gather(product_category), own_category),
            "title": pl.Series(CATEGORIES).gather(product_category) + " no. " + product_numbers,
            "brand": pl.select(
                pl.when(pl.Series(has_brand))
                .then(pl.format("Brand {}", pl.Series(rng.integers(1, 400, n_products))))
                .otherwise(pl.lit(""))
            ).to_series(),
            "product_key": "goods-" + pl.Series(goods_key).cast(pl.String).str.zfill(7),
            "status": np.full(n_products, "listed"),
            "created_at": _times(product_created),
        }
    )

    # SKUs: one or two per product
    per_product = 1 + (rng.random(n_products) < 0.4).astype(np.int64)
    sku_product = np.repeat(np.arange(n_products), per_product)
    n_skus = len(sku_product)
    second_sku = np.arange(n_skus) - np.repeat(np.cumsum(per_product) - per_product, per_product)
    base_price = np.clip(np.exp(rng.normal(np.log(6_000), 0.9, n_products)), 100, 2_000_000)
    sku_price = np.maximum(
        90, (base_price[sku_product] * (1 + 0.3 * second_sku) / 100).round() * 100 - 10
    ).astype(np.int64)
    files["skus"] = pl.DataFrame(
        {
            "sku_id": _ids("k-", n_skus),
            "product_id": product_ids.gather(sku_product),
            "spec": np.where(second_sku == 1, "Large", "Standard"),
            "price_fen": sku_price,
            "stock": rng.integers(0, 5_000, n_skus),
        }
    )
    # each shop's SKUs side by side (``shop_skus[shop_first[s]:][:shop_count[s]]``), and each
    # SKU's place among its shop's: an order's further lines are other SKUs of its shop
    sku_shop = product_shop[sku_product]
    shop_skus = np.argsort(sku_shop, kind="stable")
    shop_count = np.bincount(sku_shop, minlength=n_shops)
    shop_first = np.cumsum(shop_count) - shop_count
    sku_place = np.empty(n_skus, dtype=np.int64)
    sku_place[shop_skus] = np.arange(n_skus) - shop_first[sku_shop[shop_skus]]

    # buyers and creators
    n_buyers = max(10, orders // 3)
    buyer_ids = _ids("b-", n_buyers)
    buyer_region = rng.choice(
        len(REGIONS), n_buyers, p=np.asarray(REGION_WEIGHTS) / sum(REGION_WEIGHTS)
    )
    files["buyers"] = pl.DataFrame(
        {
            "buyer_id": buyer_ids,
            "name": "Buyer " + buyer_ids.str.slice(2),
            "region": pl.Series(REGIONS).gather(buyer_region),
            "created_at": _times(
                START_US - 1_100 * DAY + (rng.random(n_buyers) * 1_000 * DAY).astype(np.int64)
            ),
        }
    )
    n_creators = max(2, orders // 2_000)
    creator_ids = _ids("c-", n_creators)
    files["creators"] = pl.DataFrame(
        {
            "creator_id": creator_ids,
            "name": "Creator " + creator_ids.str.slice(2),
            "fans": np.exp(rng.normal(np.log(20_000), 1.5, n_creators)).astype(np.int64),
            "created_at": _times(
                START_US - 700 * DAY + (rng.random(n_creators) * 600 * DAY).astype(np.int64)
            ),
        }
    )

    # orders, in the order they were placed; the year grows busier, evenings are busiest
    n = orders
    day = np.floor(365 * rng.random(n) ** 0.85)
    second_of_day = np.where(
        rng.random(n) < 0.6, rng.normal(20.5 * 3_600, 7_200, n) % 86_400, rng.random(n) * 86_400
    )
    created = np.sort(START_US + (day * DAY + second_of_day * US).astype(np.int64))
    buyer = rng.choice(n_buyers, n, p=_popularity(rng, n_buyers, 1.5))
    sku = rng.choice(n_skus, n, p=_popularity(rng, n_skus, 1.2))
    shop = sku_shop[sku]

    # checkouts: about 30% of orders were placed through one; some carts held two shops'
    # goods, split into two orders of one buyer placed at the same time (neighbours in time)
    lead = 2 * np.flatnonzero(rng.random(n // 2) < 0.05)
    lead = lead[shop[lead] != shop[lead + 1]]
    partner = lead + 1
    buyer[partner] = buyer[lead]
    created[partner] = created[lead]
    paired = np.zeros(n, dtype=np.bool_)
    paired[lead] = paired[partner] = True
    leads = np.zeros(n, dtype=np.bool_)
    leads[lead] = True
    opens = np.flatnonzero(leads | (~paired & (rng.random(n) < 0.26)))
    checkout = np.full(n, -1, dtype=np.int64)
    checkout[opens] = np.arange(len(opens))
    checkout[partner] = checkout[lead]
    hours = handling[shop]
    far = buyer_region[buyer] >= len(REGIONS) - FAR_REGIONS

    # lines: about 10% of orders hold two or three, other SKUs of the order's shop (each
    # SKU once: the first line's neighbours in the shop's list, past a random gap)
    want = np.where(rng.random(n) < 0.1, _choice(rng, (2, 3), n, (7, 3)), 1).astype(np.int64)
    in_shop = shop_count[shop]
    lines = np.minimum(want, in_shop)
    gap = (rng.random(n) * (in_shop - lines + 1)).astype(np.int64)
    line_first = np.cumsum(lines) - lines
    line_order = np.repeat(np.arange(n), lines)
    n_lines = len(line_order)
    line_no = np.arange(n_lines) - line_first[line_order] + 1
    place = np.where(
        line_no == 1,
        sku_place[sku[line_order]],
        (sku_place[sku[line_order]] + line_no - 1 + gap[line_order]) % in_shop[line_order],
    )
    line_sku = shop_skus[shop_first[shop[line_order]] + place]
    quantity = _choice(rng, (1, 2, 3, 4, 5), n_lines, (80, 12, 5, 2, 1)).astype(np.int64)
    unit_price = (sku_price[line_sku] * rng.uniform(0.85, 1.0, n_lines) / 10).round() * 10
    unit_price = np.maximum(1, unit_price).astype(np.int64)
    goods = unit_price * quantity
    merchant_discount = np.where(
        rng.random(n_lines) < 0.3, (goods * rng.uniform(0.02, 0.2, n_lines)).astype(np.int64), 0
    )
    platform_discount = np.where(
        rng.random(n_lines) < 0.15, (goods * rng.uniform(0.01, 0.1, n_lines)).astype(np.int64), 0
    )
    line_paid = goods - merchant_discount - platform_discount
    distribution = rng.random(n) < 0.2
    channel = np.where(
        distribution, "distribution", _choice(rng, OTHER_CHANNELS, n, (35, 20, 15, 15, 15))
    )
    creator = rng.choice(n_creators, n, p=_popularity(rng, n_creators, 1.1))
    room = _choice(rng, ROOM_SURFACES, n, (4, 3, 2, 1))
    surface = np.select(
        [
            channel == "self_broadcast",
            distribution & (rng.random(n) < 0.7),
            channel == "shelf_search",
            channel == "shelf_mall",
            channel == "shelf_shop",
        ],
        [room, room, "search", "mall", "shop"],
        default="",
    )

    # promises: hand-over by the shop's handling time, delivery by the region's transit time
    promised = rng.random(n) < 0.9
    ship_by = created + hours * HOUR
    deliver_from = ship_by + np.where(far, 72, 24) * HOUR
    deliver_by = ship_by + np.where(far, 168, 72) * HOUR

    # what happened: most delivered; some cancelled before payment, after it, or in transit;
    # a few lost in transit; the history stops at AS_OF (later orders are still under way)
    fate = rng.random(n)
    unpaid_cancel = fate < 0.05
    paid_cancel = (fate >= 0.05) & (fate < 0.09)
    transit_cancel = (fate >= 0.09) & (fate < 0.10)
    lost = (fate >= 0.10) & (fate < 0.11)
    completed = fate >= 0.11
    paid_at = created + (30 * US + rng.exponential(3 * MINUTE, n)).astype(np.int64)
    shipped_at = paid_at + _hours(hours * rng.beta(2, 3, n) * 1.3 + 0.5)
    picked = (rng.random(n) < 0.9) | lost
    picked_up_at = shipped_at + _hours(rng.uniform(0.5, 8, n))
    transit = np.where(far, rng.uniform(60, 200, n), rng.uniform(20, 90, n))
    shop_speed, shop_unhappy = _shop_traits(seed, n_shops) if traits else (None, None)
    if shop_speed is not None:
        transit = transit * shop_speed[shop]
    delivered_at = np.where(picked, picked_up_at, shipped_at) + _hours(transit)
    received_at = delivered_at + _hours(rng.uniform(8, 168, n))
    cancelled_at = np.select(
        [unpaid_cancel, paid_cancel],
        [
            created + _hours(rng.uniform(0.1, 0.5, n)),
            paid_at + _hours(rng.uniform(0.2, 20, n)),
        ],
        default=np.where(picked, picked_up_at, shipped_at) + _hours(rng.uniform(24, 144, n)),
    )
    shipped = completed | transit_cancel | lost
    has = {
        "paid_at": ~unpaid_cancel,
        "shipped_at": shipped,
        "picked_up_at": shipped & picked,
        "delivered_at": completed,
        "received_at": completed & (rng.random(n) < 0.75),
        "cancelled_at": unpaid_cancel | paid_cancel | transit_cancel,
    }
    stamps = {
        "paid_at": paid_at,
        "shipped_at": shipped_at,
        "picked_up_at": picked_up_at,
        "delivered_at": delivered_at,
        "received_at": received_at,
        "cancelled_at": cancelled_at,
    }
    for name, stamp in stamps.items():
        has[name] = has[name] & (stamp < AS_OF_US)
    cancelled = has["cancelled_at"]
    cancel_reason = np.select(
        [unpaid_cancel, paid_cancel],
        [
            _choice(rng, ("unpaid_timeout", "buyer_changed_mind"), n, (4, 1)),
            _choice(
                rng, ("buyer_changed_mind", "merchant_cannot_fulfil", "risk_control"), n, (6, 3, 1)
            ),
        ],
        default=_choice(rng, ("lost_in_transit", "address_unreachable"), n, (1, 1)),
    )
    order_ids = _ids("o-", n)
    files["checkouts"] = pl.DataFrame(
        {
            "checkout_id": _ids("ch-", len(opens)),
            "buyer_id": buyer_ids.gather(buyer[opens]),
            "created_at": _times(created[opens]),
        }
    )
    files["orders"] = pl.DataFrame(
        {
            "order_id": order_ids,
            "buyer_id": buyer_ids.gather(buyer),
            "checkout_id": _masked(
                files["checkouts"]["checkout_id"].gather(np.maximum(checkout, 0)), checkout >= 0
            ),
            "channel": channel,
            "creator_id": _masked(creator_ids.gather(creator), distribution),
            "surface": _masked(pl.Series(surface), surface != ""),
            "ship_to_region": pl.Series(REGIONS).gather(buyer_region[buyer]),
            "created_at": _times(created),
            "ship_by": _times(ship_by, promised),
            "deliver_from": _times(deliver_from, promised),
            "deliver_by": _times(deliver_by, promised),
            **{name: _times(stamp, has[name]) for name, stamp in stamps.items()},
            "cancel_reason": _masked(pl.Series(cancel_reason), cancelled),
        }
    )
    # a distribution order's creator earns one rate on each of its lines
    bps = _choice(rng, (500, 1_000, 1_500, 2_000, 3_000), n, (1, 3, 3, 2, 1))
    line_ids = order_ids.gather(line_order) + "." + pl.Series(line_no).cast(pl.String)
    files["order_lines"] = pl.DataFrame(
        {
            "line_id": line_ids,
            "order_id": order_ids.gather(line_order),
            "line_no": line_no,
            "sku_id": files["skus"]["sku_id"].gather(line_sku),
            "quantity": quantity,
            "unit_price_fen": unit_price,
            "merchant_discount_fen": merchant_discount,
            "platform_discount_fen": platform_discount,
            "commission_bps": np.where(distribution, bps, 0)[line_order],
        }
    )

    # reviews of about 40% of delivered orders, a few written before the parcel arrived: of
    # one line, or of every line of about half the reviewed orders of several
    delivered = has["delivered_at"]
    chosen = (rng.random(n) * lines).astype(np.int64) + 1
    every = rng.random(n) < 0.5
    reviewed_line = np.flatnonzero(
        (delivered & (rng.random(n) < 0.4))[line_order]
        & (every[line_order] | (line_no == chosen[line_order]))
    )
    reviewed = line_order[reviewed_line]
    early = rng.random(len(reviewed)) < 0.02
    written = np.where(
        early,
        shipped_at[reviewed]
        + (rng.random(len(reviewed)) * (delivered_at - shipped_at)[reviewed]).astype(np.int64),
        delivered_at[reviewed] + _hours(rng.uniform(4, 240, len(reviewed))),
    )
    late = (delivered_at > deliver_by)[reviewed] & promised[reviewed]
    if shop_unhappy is not None:
        # an unhappy buyer gives 1-2 stars, a late parcel makes one unhappy half the time
        unhappy = rng.random(len(reviewed)) < np.where(
            late, 0.5 + 0.5 * shop_unhappy[shop[reviewed]], shop_unhappy[shop[reviewed]]
        )
        happy_stars = _choice(rng, (3, 4, 5), len(reviewed), (8, 21, 65))
        sad_stars = _choice(rng, (1, 2), len(reviewed), (1, 1))
    stars = np.where(
        late,
        _choice(rng, (1, 2, 3, 4, 5), len(reviewed), (15, 15, 25, 25, 20)),
        _choice(rng, (1, 2, 3, 4, 5), len(reviewed), (3, 3, 8, 21, 65)),
    ).astype(np.int64)
    if shop_unhappy is not None:
        stars = np.where(unhappy, sad_stars, happy_stars).astype(np.int64)
    text = np.asarray(REVIEW_TEXTS)[stars - 1, rng.integers(0, 3, len(reviewed))]
    keep = written < AS_OF_US
    reviews = pl.DataFrame(
        {
            "order_id": order_ids.gather(reviewed[keep]),
            "line_id": line_ids.gather(reviewed_line[keep]),
            "stars": stars[keep],
            "text": text[keep],
            "created_at": _times(written[keep]),
        }
    ).sort("created_at", maintain_order=True)
    files["reviews"] = reviews.select(_ids("r-", reviews.height).alias("review_id"), pl.all())

    # after-sales requests on about 3% of delivered orders, each of a line (of two lines of
    # about a third of those orders of several), some of only a few of its units; a refund
    # never above what those units were paid
    pick = (rng.random(n) * lines).astype(np.int64) + 1
    next_too = (rng.random(n) < 0.3) & (lines > 1)
    asked_line = np.flatnonzero(
        (delivered & (rng.random(n) < 0.03))[line_order]
        & (
            (line_no == pick[line_order])
            | (next_too[line_order] & (line_no == pick[line_order] % lines[line_order] + 1))
        )
    )
    asked = line_order[asked_line]
    m = len(asked)
    units = quantity[asked_line]
    some = (units > 1) & (rng.random(m) < 0.5)
    asked_units = np.where(some, 1 + (rng.random(m) * (units - 1)).astype(np.int64), units)
    named_units = some | (rng.random(m) < 0.1)
    opened = delivered_at[asked] + _hours(rng.uniform(2, 240, m))
    kind = _choice(rng, ("refund_only", "return_refund", "exchange"), m, (5, 4, 1))
    exchange = kind == "exchange"
    status = np.where(
        exchange,
        _choice(rng, EXCHANGE_STATUSES, m, (60, 15, 10, 10, 5)),
        _choice(rng, REFUND_STATUSES, m, (55, 12, 6, 5, 5, 3, 4, 5, 5)),
    )
    handled = status != "requested"
    ended = np.isin(status, ENDED)
    handled_at = opened + _hours(rng.uniform(0.5, 48, m))
    resolved_at = handled_at + _hours(rng.uniform(0, 72, m))
    paid_here = line_paid[asked_line] * asked_units // units
    refund = np.where(
        exchange,
        0,
        np.where(
            rng.random(m) < 0.6,
            paid_here,
            (paid_here * rng.uniform(0.2, 0.9, m)).astype(np.int64),
        ),
    )
    outcome = np.where(
        (status == "refunded") & (rng.random(m) < 0.05),
        "buyer_won",
        np.where((status == "rejected") & (rng.random(m) < 0.2), "merchant_won", ""),
    )
    party = _choice(rng, ("", "merchant", "carrier", "buyer"), m, (90, 5, 3, 2))
    last = np.where(ended, resolved_at, np.where(handled, handled_at, opened))
    keep = last < AS_OF_US
    requests = pl.DataFrame(
        {
            "order_id": order_ids.gather(asked),
            "line_id": line_ids.gather(asked_line),
            "quantity": _masked(pl.Series(asked_units), named_units),
            "kind": kind,
            "reason": _choice(rng, AFTER_SALES_REASONS, m, (25, 15, 2, 10, 8, 8, 15, 12, 5)),
            "status": status,
            "refund_fen": refund,
            "responsible_party": _masked(pl.Series(party), party != ""),
            "dispute_outcome": _masked(pl.Series(outcome), outcome != ""),
            "created_at": _times(opened),
            "handled_at": _times(handled_at, handled),
            "resolved_at": _times(resolved_at, ended),
        }
    ).filter(pl.Series(keep))
    files["after_sales"] = requests.select(
        _ids("a-", requests.height).alias("request_id"), pl.all()
    )

    # chats on about 5% of orders: most about the order, some questions before buying
    chatted = np.flatnonzero(rng.random(n) < 0.05)
    k = len(chatted)
    about_order = rng.random(k) < 0.85
    first_message = np.where(
        about_order,
        created[chatted] + _hours(rng.uniform(0.05, 120, k)),
        created[chatted] - _hours(rng.uniform(0.1, 48, k)),
    )
    response = first_message + (np.exp(rng.normal(np.log(180), 1.2, k)) * US).astype(np.int64)
    answered = (rng.random(k) < 0.9) & (response < AS_OF_US)
    keep = first_message < AS_OF_US
    chats = pl.DataFrame(
        {
            "buyer_id": buyer_ids.gather(buyer[chatted]),
            "shop_id": shop_ids.gather(shop[chatted]),
            "order_id": _masked(order_ids.gather(chatted), about_order),
            "first_message_at": _times(first_message),
            "first_response_at": _times(response, answered),
        }
    ).filter(pl.Series(keep))
    files["chats"] = chats.select(_ids("t-", chats.height).alias("chat_id"), pl.all())

    # follows: buyers following shops and creators, once each
    f = orders // 10
    follows_shop = rng.random(f) < 0.7
    follower = rng.choice(n_buyers, f, p=_popularity(rng, n_buyers, 1.5))
    files["follows"] = pl.DataFrame(
        {
            "buyer_id": buyer_ids.gather(follower),
            "creator_id": _masked(
                creator_ids.gather(rng.choice(n_creators, f, p=_popularity(rng, n_creators, 1.1))),
                ~follows_shop,
            ),
            "shop_id": _masked(shop_ids.gather(rng.integers(0, n_shops, f)), follows_shop),
            "created_at": _times(
                START_US - 200 * DAY + (rng.random(f) * 560 * DAY).astype(np.int64)
            ),
        }
    ).unique(["buyer_id", "creator_id", "shop_id"], keep="first", maintain_order=True)
    return files


def _shop_traits(
    seed: int, n_shops: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Each shop's carrier speed (a factor on transit times) and share of unhappy buyers,
    leaning together a little (a shop run well is often run well throughout)."""
    rng = np.random.default_rng(seed + 1_000)
    run_well = rng.normal(0, 1, n_shops)
    speed = np.exp(0.35 * (0.5 * -run_well + 0.87 * rng.normal(0, 1, n_shops)))
    unhappy = 1 / (1 + np.exp(-(-2.4 + 0.6 * (0.5 * -run_well + 0.87 * rng.normal(0, 1, n_shops)))))
    return speed, unhappy


def write_history(
    folder: Path, orders: int, seed: int = 7, *, traits: bool = False, drop: tuple[str, ...] = ()
) -> dict[str, int]:
    """Generate the history and write it into ``folder`` as Parquet, declared as format
    :data:`VERSION`; rows per file. ``drop`` leaves those files out (a history that never
    recorded them)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / VERSION_FILE).write_text(json.dumps({"version": VERSION}) + "\n", encoding="utf-8")
    counts = {}
    for name, frame in generate(orders, seed, traits=traits).items():
        if name in drop:
            continue
        frame.write_parquet(folder / f"{name}.parquet")
        counts[name] = frame.height
    return counts


# -- the store --------------------------------------------------------------------------------


def fresh_store(path: Path) -> None:
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    engine.dispose()


def table_state(path: Path) -> dict[str, tuple[int, int]]:
    """Each table's (row count, largest rowid)."""
    conn = sqlite3.connect(path)
    try:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {
            t: conn.execute(f'SELECT count(*), coalesce(max(rowid), 0) FROM "{t}"').fetchone()
            for t in names
        }
    finally:
        conn.close()


def _parents_first(conn: sqlite3.Connection, tables: list[str]) -> list[str]:
    """The tables in an order where every row's references are inserted before it."""
    graph = {
        t: {r[2] for r in conn.execute(f'PRAGMA foreign_key_list("{t}")') if r[2] in tables} - {t}
        for t in tables
    }
    return list(TopologicalSorter(graph).static_order())


def bare_insert(source: Path, target: Path, since: dict[str, int]) -> tuple[float, int]:
    """Copy the rows of ``source`` above each table's rowid in ``since`` into ``target`` with
    ``sqlite3`` alone: one ``executemany`` per table, one transaction. Reading is not timed;
    returns (seconds inserting and committing, rows)."""
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target, isolation_level=None)
    for pragma in (
        "foreign_keys=ON",
        "journal_mode=WAL",
        "synchronous=NORMAL",
        "cache_size=-131072",
    ):
        dst.execute(f"PRAGMA {pragma}")
    seconds, total = 0.0, 0
    try:
        dst.execute("BEGIN IMMEDIATE")
        for name in _parents_first(src, list(since)):
            cursor = src.execute(f'SELECT * FROM "{name}" WHERE rowid > ?', (since[name],))
            columns = [d[0] for d in cursor.description]
            rows = cursor.fetchall()
            if not rows:
                continue
            quoted = ", ".join(f'"{c}"' for c in columns)
            slots = ", ".join("?" * len(columns))
            sql = f'INSERT INTO "{name}" ({quoted}) VALUES ({slots})'
            started = time.perf_counter()
            dst.executemany(sql, rows)
            seconds += time.perf_counter() - started
            total += len(rows)
            _log(f"  bare insert: {len(rows):,} {name}, {seconds:.1f}s so far")
            del rows
        started = time.perf_counter()
        dst.execute("COMMIT")
        seconds += time.perf_counter() - started
    finally:
        src.close()
        dst.close()
    return seconds, total


def _phases(marks: list[tuple[str, float]], end: float) -> dict[str, float]:
    """Seconds per step of the import, from the times its steps were announced: the check,
    each file's write (up to the mark saying it was written) and the commit."""
    phases: dict[str, float] = {}
    bounds = [*marks, ("end", end)]
    for (label, start), (next_label, stop) in pairwise(bounds):
        if next_label.startswith("wrote "):
            name = f"write_{next_label.split()[-1]}"
        elif label.startswith("reading"):
            name = "check"
        elif label.startswith(("committing", "wrote ")):
            name = "commit"
        else:
            name = label
        phases[name] = round(phases.get(name, 0.0) + stop - start, 2)
    return phases


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _problems(result: ImportResult) -> str:
    """The report, one line per file, column and code, with its first row and reason."""
    summary = (
        result.report.group_by("file", "column", "code")
        .agg(pl.len().alias("rows"), pl.col("row").first(), pl.col("reason").first())
        .sort("rows", descending=True)
    )
    with pl.Config(tbl_rows=50, fmt_str_lengths=100, tbl_width_chars=200):
        return str(summary)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="20,000 orders, for smoke runs")
    args = parser.parse_args(argv)
    orders = 20_000 if args.quick else args.orders

    with tempfile.TemporaryDirectory() as tmp:
        folder, imported, bare = Path(tmp) / "files", Path(tmp) / "import.db", Path(tmp) / "bare.db"
        started = time.perf_counter()
        files = write_history(folder, orders, args.seed)
        generated = time.perf_counter() - started
        gc.collect()
        _log(
            f"generated {sum(files.values()):,} rows in {generated:.1f}s: "
            + ", ".join(f"{v:,} {k}" for k, v in files.items())
        )

        fresh_store(imported)
        before = table_state(imported)
        engine = make_engine(f"sqlite:///{imported}")
        marks: list[tuple[str, float]] = []

        def step(message: str, *_progress: int) -> None:
            marks.append((message, time.perf_counter()))
            _log(
                f"  import: {message} ({marks[-1][1] - started:.1f}s,"
                f" peak {_peak_rss_mb():,.0f} MB so far)"
            )

        started = time.perf_counter()
        result, _ = run_import(engine, folder, at=AS_OF, on_step=step)
        seconds = time.perf_counter() - started
        import_rss = _peak_rss_mb()
        engine.dispose()
        if result.report.height or not result.wrote:
            _log(f"the import refused rows:\n{_problems(result)}")
            raise SystemExit(1)
        if result.written != files:
            raise SystemExit(f"the import wrote {result.written}, the files hold {files}")

        after = table_state(imported)
        added = {t: after[t][0] - before[t][0] for t in after if after[t][0] != before[t][0]}
        rows = sum(added.values())
        phases = _phases(marks, started + seconds)
        _log(f"imported {rows:,} rows in {seconds:.1f}s: {phases}")

        fresh_store(bare)
        since = {t: before[t][1] for t in added}
        raw_seconds, raw_rows = bare_insert(imported, bare, since)
        if raw_rows != rows:
            raise SystemExit(f"read back {raw_rows:,} rows, the import added {rows:,}")
        _log(f"bare insert of {raw_rows:,} rows in {raw_seconds:.1f}s")

    rate, raw_rate = rows / seconds, rows / raw_seconds
    print(
        json.dumps(
            {
                "orders": orders,
                "rows": rows,
                "seconds": round(seconds, 1),
                "rows_per_s": round(rate, 1),
                "raw_seconds": round(raw_seconds, 1),
                "raw_rows_per_s": round(raw_rate, 1),
                "ratio": round(rate / raw_rate, 3),
                "peak_rss_mb": round(_peak_rss_mb(), 1),
                "import_peak_rss_mb": round(import_rss, 1),
                "generate_seconds": round(generated, 1),
                "phases": phases,
                "rows_by_table": added,
                "store": "sqlite",
            }
        )
    )


if __name__ == "__main__":
    main()
