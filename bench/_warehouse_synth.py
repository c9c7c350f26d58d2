"""A synthetic warehouse for the scoring benchmark, in the layout and schemas of the exporter.

Every table is drawn whole with NumPy (no Python loop per row) and written the way
:mod:`trustflow.warehouse.export` writes it: fact tables partitioned by day into
``<root>/<table>/day=YYYY-MM-DD/part-0.parquet`` (zstd), dimensions into
``<root>/dims/<name>.parquet``, with the exact Arrow schemas of ``FACTS`` and ``DIMENSIONS``,
and the manifest of a full export (watermarks, each fact's columns, row counts) last.

The shapes are meant to be plausible, not calibrated: about 20 orders per shop-day for the
largest shops and a long tail of small ones (so some stores reach back to the extended windows), 20
products per shop, 40% of orders sold by creators, a buyer for every four orders, 1% abusive
buyers (one-star reviews and refund-only claims), a few review bombs, and shops whose quality
varies so that their rates differ. Every order has its lines in ``order_lines``: most one, 15%
a second line of another product of the same shop (the order's ``product_id`` and amounts are
its first line's and its lines' sum); a review is about one line (the second line of an order
may be reviewed too, or instead), an after-sales request about one line and some of its units
(1% name no line, which the schema allows: scores read them as about the order's first line).
Every order carries its promises: ``ship_by`` (48 hours after payment) and ``deliver_by`` (24
to 96 hours after that; 1% have none, as imported history may not), and a few shops' parcels
get stuck on the way, so that some orders are still undelivered past their promise.
About half the categories have a parent (``categories.parent_id``) among a few top-level ones.
The warehouse is exported at ``as_of`` (one second after the newest payment): whatever would
happen later is not in it yet.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from trustflow.units import DAY, HOUR
from trustflow.warehouse.export import DIMENSIONS, FACTS, MANIFEST, arrow_schema, fact_columns

#: Bumped whenever the generator changes, so an old cache is rebuilt (a change of the
#: exporter's schemas rebuilds it too: see :data:`SCHEMA_DIGEST`).
VERSION = 8
MARKER = "bench-warehouse.json"
#: The id of the store the synthetic warehouse pretends to be exported from (a manifest
#: records one; see trustflow.store_identity).
STORE_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "trustflow:bench:synthetic-warehouse"))
START = datetime(2026, 1, 1, tzinfo=UTC)
DAYS = 90
US = 1_000_000
CATEGORIES = ("apparel", "beauty", "food", "home", "digital", "jewelry", "mother_baby", "agri")
CATEGORY_SHARE = (0.24, 0.16, 0.13, 0.14, 0.12, 0.05, 0.09, 0.07)
#: About half the categories sit under one of a few top-level ones (categories.parent_id).
PARENTS = {"beauty": "apparel", "jewelry": "apparel", "mother_baby": "home", "agri": "food"}
#: Shops whose parcels get stuck on the way (STUCK_RATE of their orders never arrive): with
#: the few lost elsewhere, ~2% of the orders are past their deliver_by and still undelivered.
STUCK_SHOPS = 0.1
STUCK_RATE = 0.15
#: Orders without a promised delivery (imported history): due DEFAULT_DELIVERY_HOURS after
#: payment.
NO_PROMISE = 0.01
CHANNELS = ("shelf_search", "self_broadcast", "shelf_mall", "shelf_shop", "shelf_card")
CHANNEL_SHARE = (0.4, 0.3, 0.1, 0.1, 0.1)
REASONS = (
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
REASON_SHARE = (0.22, 0.13, 0.02, 0.1, 0.07, 0.05, 0.23, 0.12, 0.06)
PARTIES = ("merchant", "creator", "buyer", "carrier", "force_majeure", "undetermined")
#: reason -> share of each party in PARTIES order (creator share moves to merchant when the
#: order had no creator).
PARTY_SHARE = {
    "quality": (0.85, 0.0, 0.05, 0.0, 0.0, 0.1),
    "not_as_described": (0.6, 0.3, 0.1, 0.0, 0.0, 0.0),
    "counterfeit": (0.9, 0.0, 0.0, 0.0, 0.0, 0.1),
    "damaged_in_transit": (0.3, 0.0, 0.0, 0.65, 0.05, 0.0),
    "late_delivery": (0.5, 0.0, 0.0, 0.45, 0.05, 0.0),
    "wrong_item": (0.9, 0.0, 0.05, 0.0, 0.0, 0.05),
    "no_reason_7day": (0.0, 0.0, 1.0, 0.0, 0.0, 0.0),
    "changed_mind": (0.0, 0.0, 1.0, 0.0, 0.0, 0.0),
    "other": (0.0, 0.0, 0.3, 0.0, 0.0, 0.7),
}
KINDS = ("refund_only", "return_refund", "exchange")
AS_STATUSES = ("requested", "refunded", "exchanged", "rejected", "withdrawn", "closed")
OUTCOMES = ("buyer_won", "merchant_won")
ORDER_STATUSES = ("paid", "shipped", "picked_up", "delivered", "received", "cancelled")

SCHEMAS: dict[str, pa.Schema] = {
    **{f.name: arrow_schema(f.columns) for f in FACTS},
    **{d.name: arrow_schema(d.columns) for d in DIMENSIONS},
}
#: The schemas the cache was written with: a cache of other schemas is rebuilt.
SCHEMA_DIGEST = hashlib.sha256(
    "\n".join(f"{name}: {schema}" for name, schema in sorted(SCHEMAS.items())).encode()
).hexdigest()[:16]
TS = pa.timestamp("us", tz="UTC")
NONE = np.iinfo(np.int64).min  # a null timestamp while drawing


@dataclass(frozen=True)
class Sizes:
    orders: int
    shops: int
    products_per_shop: int
    creators: int
    buyers: int

    @classmethod
    def for_orders(cls, orders: int) -> Sizes:
        return cls(
            orders=orders,
            shops=max(200, round(orders / 500)),
            products_per_shop=20,
            creators=max(100, round(orders / 200)),
            buyers=max(1_000, orders // 4),
        )


# Arrow columns --------------------------------------------------------------------------


def _ts(us: np.ndarray) -> pa.Array:
    null = us == NONE
    return pa.array(us, type=pa.int64(), mask=null if null.any() else None).cast(TS)


def _ids(values: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    return pa.array(values.astype(np.int64), type=pa.int64(), mask=null)


def _enum(codes: np.ndarray, values: tuple[str, ...], null: np.ndarray | None = None) -> pa.Array:
    indices = pa.array(codes.astype(np.int8), type=pa.int8(), mask=null)
    return pa.DictionaryArray.from_arrays(indices, pa.array(values)).cast(pa.string())


def _table(name: str, columns: dict[str, pa.Array]) -> pa.Table:
    schema = SCHEMAS[name]
    return pa.table([columns[f.name] for f in schema], schema=schema)


def _later(*columns: np.ndarray) -> np.ndarray:
    """The latest non-null timestamp of each row."""
    latest: np.ndarray = np.maximum.reduce(list(columns))
    return latest


def _pick(rng: np.random.Generator, shares: tuple[float, ...], size: int) -> np.ndarray:
    p = np.asarray(shares, dtype=np.float64)
    return rng.choice(len(p), size=size, p=p / p.sum()).astype(np.int8)


# Drawing --------------------------------------------------------------------------------


#: How many ``step`` calls :func:`draw` makes (for the progress bar).
STEPS = 6


#: Share of orders holding a second line.
TWO_LINES = 0.15


@dataclass
class Drawn:
    tables: dict[str, pa.Table]
    as_of: int


def draw(sizes: Sizes, seed: int, step: Callable[[str], None]) -> Drawn:
    """Every table of the warehouse, in memory; ``step`` is told what is being drawn."""
    rng = np.random.default_rng(seed)
    n, n_shops, per_shop = sizes.orders, sizes.shops, sizes.products_per_shop
    start_s = int(START.timestamp())

    step("shops and products")
    shop_cat = _pick(rng, CATEGORY_SHARE, n_shops).astype(np.int64) + 1
    shop_pop = rng.lognormal(0.0, 1.7, n_shops)
    shop_quality = rng.lognormal(0.0, 0.6, n_shops)  # defect multiplier (goods)
    shop_logistics = rng.lognormal(0.0, 0.7, n_shops)  # late pick-up, slow delivery
    shop_service = rng.lognormal(0.0, 0.7, n_shops)  # chat and after-sales handling
    shop_stuck = rng.random(n_shops) < STUCK_SHOPS  # parcels lost on the way
    n_products = n_shops * per_shop
    product_cat = np.repeat(shop_cat, per_shop)
    other = rng.random(n_products) < 0.1
    product_cat[other] = rng.integers(1, len(CATEGORIES) + 1, int(other.sum()))
    creator_pop = rng.lognormal(0.0, 2.0, sizes.creators)
    creator_quality = rng.lognormal(0.0, 0.8, sizes.creators)
    abusive_buyer = rng.random(sizes.buyers + 1) < 0.01

    step("orders")
    day_weight = 1.004 ** np.arange(DAYS)
    day = rng.choice(DAYS, size=n, p=day_weight / day_weight.sum())
    second = (rng.normal(20.5 * HOUR, 4 * HOUR, n) % DAY).astype(np.int64)
    paid = np.sort((start_s + day * DAY + second) * US + rng.integers(0, US, n))
    del day, second
    as_of = int(paid[-1] // US) + 1
    now = as_of * US
    shop = rng.choice(n_shops, size=n, p=shop_pop / shop_pop.sum())  # 0-based index
    product = shop * per_shop + np.minimum(rng.geometric(0.15, n) - 1, per_shop - 1)
    has_creator = rng.random(n) < 0.4
    creator = np.where(
        has_creator, rng.choice(sizes.creators, size=n, p=creator_pop / creator_pop.sum()), -1
    )
    buyer = rng.integers(1, sizes.buyers + 1, n)
    abusive = abusive_buyer[buyer]
    channel = np.where(has_creator, len(CHANNELS), _pick(rng, CHANNEL_SHARE, n)).astype(np.int8)
    created = paid - rng.integers(5, 1800, n) * US
    ship_by = paid + 48 * HOUR * US

    cancelled = np.where(
        rng.random(n) < 0.02, paid + rng.integers(10 * 60, 40 * HOUR, n) * US, NONE
    )
    live = cancelled == NONE
    late = rng.random(n) < np.minimum(0.04 * shop_logistics[shop], 0.6)
    picked = np.where(
        late,
        ship_by + (rng.exponential(12 * HOUR, n) + 60).astype(np.int64) * US,
        paid + rng.integers(2 * HOUR, 46 * HOUR, n) * US,
    )
    picked[~live | (rng.random(n) < 0.003)] = NONE
    shipped = np.where(
        picked != NONE, paid + ((picked - paid) * rng.uniform(0.3, 0.95, n)).astype(np.int64), NONE
    )
    transit = rng.uniform(20 * HOUR, 64 * HOUR, n)
    slow = rng.random(n) < np.minimum(0.08 * shop_logistics[shop], 0.7)
    transit[slow] += rng.exponential(48 * HOUR, int(slow.sum()))
    delivered = np.where(picked != NONE, picked + (transit * US).astype(np.int64), NONE)
    # Parcels that never arrive: a few in every shop, many in the shops with stuck parcels.
    delivered[rng.random(n) < np.where(shop_stuck[shop], STUCK_RATE, 0.002)] = NONE
    # The delivery promise, 1-4 days after the hand-over promise; imported history had none.
    deliver_by = ship_by + rng.integers(24 * HOUR, 96 * HOUR + 1, n) * US
    deliver_by[rng.random(n) < NO_PROMISE] = NONE
    del transit, slow, late
    received = np.where(delivered != NONE, delivered + rng.integers(HOUR, 5 * DAY, n) * US, NONE)
    # The export happens at as_of: what would happen later has not happened yet.
    for col in (shipped, picked, delivered, received, cancelled):
        col[col >= now] = NONE
    status = np.select(
        [cancelled != NONE, received != NONE, delivered != NONE, picked != NONE, shipped != NONE],
        [5, 4, 3, 2, 1],
        0,
    ).astype(np.int8)
    order_id = np.arange(1, n + 1, dtype=np.int64)

    # Lines: the first of every order, then a second line (another product of the same shop)
    # for some; ids in order of (order, line_no), as placement numbers them.
    two = rng.random(n) < TWO_LINES
    second = np.flatnonzero(two)
    product2 = shop * per_shop + (product - shop * per_shop + rng.integers(1, per_shop, n)) % (
        per_shop
    )
    l_order = np.concatenate([np.arange(n), second])
    l_no = np.concatenate([np.ones(n, dtype=np.int64), np.full(second.size, 2, dtype=np.int64)])
    by_order = np.lexsort((l_no, l_order))
    l_order, l_no = l_order[by_order], l_no[by_order]
    l_product = np.where(l_no == 1, product[l_order], product2[l_order])
    n_lines = l_order.size
    line_id = np.arange(1, n_lines + 1, dtype=np.int64)
    first_line = line_id[l_no == 1]  # by order index (l_no == 1 rows are in order order)
    second_line = np.zeros(n, dtype=np.int64)
    second_line[l_order[l_no == 2]] = line_id[l_no == 2]
    l_qty = 1 + (rng.random(n_lines) < 0.2) * rng.integers(1, 3, n_lines)
    unit = np.maximum(100, rng.lognormal(np.log(6_000), 0.9, n_lines) / l_qty).astype(np.int64)
    goods = unit * l_qty
    merchant_off = np.where(
        rng.random(n_lines) < 0.3, goods * rng.uniform(0.0, 0.15, n_lines), 0
    ).astype(np.int64)
    platform_off = np.where(
        rng.random(n_lines) < 0.2, goods * rng.uniform(0.0, 0.05, n_lines), 0
    ).astype(np.int64)
    l_paid = goods - merchant_off - platform_off
    l_creator = has_creator[l_order]
    bps = np.where(l_creator, rng.choice(np.array([500, 1000, 2000, 3000]), n_lines), 0)
    amount = np.bincount(l_order, weights=l_paid, minlength=n).astype(np.int64)
    order_lines = _table(
        "order_lines",
        {
            "id": _ids(line_id),
            "order_id": _ids(order_id[l_order]),
            "line_no": _ids(l_no),
            "product_id": _ids(l_product + 1),
            "sku_id": _ids(l_product * 3 + rng.integers(0, 3, n_lines) + 1),
            "quantity": _ids(l_qty),
            "unit_price_fen": _ids(unit),
            "goods_amount_fen": _ids(goods),
            "merchant_discount_fen": _ids(merchant_off),
            "platform_discount_fen": _ids(platform_off),
            "paid_amount_fen": _ids(l_paid),
            # one distribution offer per product (the offer's id is the product's)
            "offer_id": _ids(l_product + 1, null=~l_creator),
            "commission_bps": _ids(bps),
            "commission_fen": _ids(l_paid * bps // 10_000),
            "created_at": _ts(created[l_order]),
        },
    )
    del by_order, unit, goods, merchant_off, platform_off, l_creator, bps, second
    orders = _table(
        "orders",
        {
            "id": _ids(order_id),
            "buyer_id": _ids(buyer),
            "shop_id": _ids(shop + 1),
            "product_id": _ids(product + 1),
            "creator_id": _ids(creator + 1, null=~has_creator),
            "channel": _enum(channel, (*CHANNELS, "distribution")),
            "status": _enum(status, ORDER_STATUSES),
            "paid_amount_fen": _ids(amount),
            "created_at": _ts(created),
            "paid_at": _ts(paid),
            "ship_by": _ts(ship_by),
            "deliver_by": _ts(deliver_by),
            "shipped_at": _ts(shipped),
            "picked_up_at": _ts(picked),
            "delivered_at": _ts(delivered),
            "received_at": _ts(received),
            "cancelled_at": _ts(cancelled),
            "updated_at": _ts(
                _later(created, paid, shipped, picked, delivered, received, cancelled)
            ),
        },
    )
    del shipped, received, ship_by, deliver_by, created, status, channel

    step("reviews")
    was_delivered = delivered != NONE
    review = was_delivered & (rng.random(n) < np.where(abusive, 0.9, 0.35))
    reviewed_at = delivered + rng.integers(DAY, 3 * DAY, n) * US
    # A few shops are review-bombed: one day of one-star reviews on orders delivered just before.
    bombed = rng.random(n_shops) < 0.003
    bomb_day = np.where(bombed, rng.integers(10, DAYS, n_shops), -1)[shop]
    bomb_start = (start_s + bomb_day * DAY) * US
    bomb = (
        (bomb_day >= 0)
        & was_delivered
        & (delivered >= bomb_start - 4 * DAY * US)
        & (delivered < bomb_start)
        & (rng.random(n) < 0.95)
    )
    review |= bomb
    reviewed_at = np.where(bomb, bomb_start + rng.integers(0, DAY, n) * US, reviewed_at)
    review &= reviewed_at < now
    p_bad = np.minimum(0.05 * shop_quality[shop], 0.7)
    p_bad = np.where(has_creator, p_bad * (0.7 + 0.3 * creator_quality[creator]), p_bad)
    good_stars = np.array([3, 4, 5])[_pick(rng, (0.1, 0.25, 0.65), n)]
    stars = np.where(rng.random(n) < p_bad, np.where(rng.random(n) < 0.6, 1, 2), good_stars).astype(
        np.int64
    )
    stars[abusive | bomb] = 1
    # An order of two lines: its second line is reviewed too (minutes later, stars of its
    # own), or sometimes instead of the first.
    only_second = two & (rng.random(n) < 0.1)
    review2 = two & review & (only_second | (rng.random(n) < 0.7))
    review1 = review & ~only_second
    reviewed_at2 = reviewed_at + rng.integers(0, 10 * 60, n) * US
    review2 &= reviewed_at2 < now
    good_stars = np.array([3, 4, 5])[_pick(rng, (0.1, 0.25, 0.65), n)]
    stars2 = np.where(
        rng.random(n) < p_bad, np.where(rng.random(n) < 0.6, 1, 2), good_stars
    ).astype(np.int64)
    stars2[abusive | bomb] = 1
    del good_stars, p_bad
    r1, r2 = np.flatnonzero(review1), np.flatnonzero(review2)
    r = np.concatenate([r1, r2])  # order index of each review
    r_line = np.concatenate([first_line[r1], second_line[r2]])
    r_product = np.concatenate([product[r1], product2[r2]])
    r_stars = np.concatenate([stars[r1], stars2[r2]])
    r_at = np.concatenate([reviewed_at[r1], reviewed_at2[r2]])
    by_time = np.argsort(r_at, kind="stable")
    r, r_line, r_product, r_stars, r_at = (
        r[by_time],
        r_line[by_time],
        r_product[by_time],
        r_stars[by_time],
        r_at[by_time],
    )
    reviews = _table(
        "reviews",
        {
            "id": _ids(np.arange(1, r.size + 1)),
            "order_id": _ids(order_id[r]),
            "line_id": _ids(r_line),
            "buyer_id": _ids(buyer[r]),
            "product_id": _ids(r_product + 1),
            "shop_id": _ids(shop[r] + 1),
            "creator_id": _ids(creator[r] + 1, null=~has_creator[r]),
            "stars": _ids(r_stars),
            "created_at": _ts(r_at),
        },
    )
    review_stars = r_stars
    review_shop = shop[r]
    del review, review1, review2, only_second, reviewed_at, reviewed_at2, stars, stars2
    del r1, r2, r_line, r_product, r_at, by_time, bomb, bomb_day, bomb_start, product2

    step("after-sales")
    p_claim = np.where(abusive, 0.7, np.minimum(0.08 * (0.5 + 0.5 * shop_quality[shop]), 0.6))
    a = np.flatnonzero(was_delivered & (rng.random(n) < p_claim))
    del p_claim
    m = a.size
    a_abusive = abusive[a]
    a_creator = has_creator[a]
    kind = np.where(a_abusive, 0, _pick(rng, (0.4, 0.45, 0.15), m)).astype(np.int8)
    reason = _pick(rng, REASON_SHARE, m)
    reason[a_abusive] = rng.choice(np.array([0, 1, 6], dtype=np.int8), int(a_abusive.sum()))
    content = a_creator & (rng.random(m) < np.minimum(0.08 * creator_quality[creator[a]], 0.6))
    reason[content] = 1
    party = np.zeros(m, dtype=np.int8)
    u = rng.random(m)
    for code, name in enumerate(REASONS):
        rows = reason == code
        cum = np.cumsum(PARTY_SHARE[name])
        party[rows] = np.searchsorted(cum, u[rows] * cum[-1], side="right")
    party = np.minimum(party, len(PARTIES) - 1)
    party[(party == 1) & ~a_creator] = 0  # no creator: the merchant answers for the words
    party[content] = 1
    party[a_abusive] = np.array([0, 2, 5], dtype=np.int8)[
        _pick(rng, (0.6, 0.2, 0.2), int(a_abusive.sum()))
    ]
    claimed = (
        delivered[a]
        + np.minimum(rng.exponential(2 * DAY, m), 15 * DAY).astype(np.int64) * US
        + rng.integers(0, US, m)
    )
    handled = claimed + (rng.lognormal(np.log(10 * HOUR), 1.0, m) * shop_service[shop[a]] * US)
    handled = handled.astype(np.int64)
    outcome_u = rng.random(m)
    s_u = rng.random(m)
    final = np.where(kind == 2, 2, 1)
    a_status = np.select([s_u < 0.08, s_u < 0.2, s_u < 0.28], [4, 3, 5], final).astype(
        np.int8
    )  # withdrawn, rejected, closed, else refunded / exchanged
    outcome = np.full(m, -1, dtype=np.int8)
    outcome[(a_status == 3) & (outcome_u < 0.25)] = 0
    outcome[(a_status == 3) & (outcome_u >= 0.25) & (outcome_u < 0.5)] = 1
    outcome[(a_status == 1) & (outcome_u < 0.03)] = 0
    resolved = handled + rng.integers(0, 3 * DAY, m) * US
    keep = claimed < now
    pending = handled >= now
    handled[pending] = NONE
    resolved[pending | (resolved >= now)] = NONE
    a_status[pending] = 0
    outcome[pending] = -1
    order = np.flatnonzero(keep)
    order = order[np.argsort(claimed[order], kind="stable")]
    oa = a[order]
    # the line it is about (the second for some orders of two), and how many of its units
    on_second = two[a] & (rng.random(m) < 0.4)
    a_line = np.where(on_second, second_line[a], first_line[a])
    a_li = a_line - 1  # index into the line arrays
    a_qty = l_qty[a_li]
    units = np.where(
        (a_qty > 1) & (rng.random(m) < 0.3), rng.integers(1, np.maximum(a_qty, 2)), a_qty
    )
    refund = np.where(a_status == 1, l_paid[a_li] * units // a_qty, 0)
    no_line = ~on_second & (rng.random(m) < 0.01)  # names no quantity: the whole line
    after_sales = _table(
        "after_sales",
        {
            "id": _ids(np.arange(1, order.size + 1)),
            "order_id": _ids(order_id[oa]),
            "line_id": _ids(a_line[order]),
            "quantity": _ids(units[order], null=no_line[order]),
            "shop_id": _ids(shop[oa] + 1),
            "buyer_id": _ids(buyer[oa]),
            "kind": _enum(kind[order], KINDS),
            "reason": _enum(reason[order], REASONS),
            "responsible_party": _enum(party[order], PARTIES),
            "status": _enum(a_status[order], AS_STATUSES),
            "dispute_outcome": _enum(
                np.maximum(outcome[order], 0), OUTCOMES, null=outcome[order] < 0
            ),
            "refund_fen": _ids(refund[order]),
            "created_at": _ts(claimed[order]),
            "handled_at": _ts(handled[order]),
            "resolved_at": _ts(resolved[order]),
            "updated_at": _ts(_later(claimed, handled, resolved)[order]),
        },
    )
    claim_party = party[order]
    claim_shop = shop[oa]
    del a, oa, claimed, handled, resolved, a_status, outcome, kind, reason, party, refund
    del on_second, a_line, a_li, a_qty, units, no_line, two, first_line, second_line
    del l_order, l_no, l_product, l_qty, l_paid, line_id

    step("chats")
    c = np.flatnonzero(rng.random(n) < 0.12)
    k = c.size
    first = paid[c] + rng.integers(-12 * HOUR, 72 * HOUR, k) * US
    answer = np.round(rng.lognormal(np.log(45.0), 1.1, k) * shop_service[shop[c]]).astype(np.int64)
    unanswered = (rng.random(k) < 0.05) | (first + answer * US >= now)
    keep = first < now
    c, first, answer, unanswered = c[keep], first[keep], answer[keep], unanswered[keep]
    order = np.argsort(first, kind="stable")
    c, first, answer, unanswered = c[order], first[order], answer[order], unanswered[order]
    chats = _table(
        "chats",
        {
            "id": _ids(np.arange(1, c.size + 1)),
            "buyer_id": _ids(buyer[c]),
            "shop_id": _ids(shop[c] + 1),
            "first_message_at": _ts(first),
            "first_response_seconds": _ids(answer, null=unanswered),
            "updated_at": _ts(np.where(unanswered, first, first + answer * US)),
        },
    )
    del c, first, answer, unanswered

    step("dimensions and appeals")
    appeal_reviews = np.flatnonzero((review_stars <= 2) & (rng.random(review_stars.size) < 0.005))
    appeal_claims = np.flatnonzero((claim_party == 0) & (rng.random(claim_party.size) < 0.01))
    n_appeals = appeal_reviews.size + appeal_claims.size
    appeals = _table(
        "appeals",
        {
            "id": _ids(np.arange(1, n_appeals + 1)),
            "shop_id": _ids(
                np.concatenate([review_shop[appeal_reviews], claim_shop[appeal_claims]]) + 1
            ),
            "defect_kind": _enum(
                np.repeat(np.array([0, 1]), [appeal_reviews.size, appeal_claims.size]),
                ("review", "after_sales"),
            ),
            "defect_id": _ids(np.concatenate([appeal_reviews, appeal_claims]) + 1),
        },
    )
    shop_ids = np.arange(1, n_shops + 1)
    shops = _table(
        "shops",
        {
            "id": _ids(shop_ids),
            "merchant_id": _ids(rng.integers(1, max(2, int(n_shops * 0.8)), n_shops)),
            "kind": _enum(
                _pick(rng, (0.2, 0.2, 0.3, 0.3), n_shops),
                ("brand", "fast_brand", "source", "other"),
            ),
            "category_id": _ids(shop_cat),
            "status": _enum(
                _pick(rng, (0.97, 0.02, 0.01), n_shops), ("active", "suspended", "closed")
            ),
            # opened up to two years before the window
            "created_at": _ts((start_s - rng.integers(0, 2 * 365 * DAY, n_shops)) * 1_000_000),
        },
    )
    creators = _table(
        "creators",
        {
            "id": _ids(np.arange(1, sizes.creators + 1)),
            "created_at": _ts(
                (start_s - rng.integers(0, 2 * 365 * DAY, sizes.creators)) * 1_000_000
            ),
        },
    )
    products = _table(
        "products",
        {
            "id": _ids(np.arange(1, n_products + 1)),
            "shop_id": _ids(np.repeat(shop_ids, per_shop)),
            "category_id": _ids(product_cat),
            "status": _enum(_pick(rng, (0.95, 0.05), n_products), ("listed", "delisted")),
            # listed up to two years before the start (no draw: later draws stay as they were)
            "created_at": _ts((start_s - (np.arange(n_products) % 730) * DAY) * 1_000_000),
        },
    )
    parent_id = np.array([CATEGORIES.index(PARENTS.get(c, c)) + 1 for c in CATEGORIES])
    categories = _table(
        "categories",
        {
            "id": _ids(np.arange(1, len(CATEGORIES) + 1)),
            "code": pa.array(CATEGORIES, type=pa.string()),
            "parent_id": _ids(parent_id, null=np.array([c not in PARENTS for c in CATEGORIES])),
        },
    )
    tables = {
        "orders": orders,
        "order_lines": order_lines,
        "after_sales": after_sales,
        "reviews": reviews,
        "chats": chats,
        "shops": shops,
        "creators": creators,
        "products": products,
        "categories": categories,
        "appeals": appeals,
        # no platform verdicts on bursts yet: every burst the rule flags is held
        "burst_decisions": SCHEMAS["burst_decisions"].empty_table(),
    }
    # traffic (impressions, live sessions, videos) is not scored: empty, with its schema
    for name in SCHEMAS.keys() - tables.keys():
        tables[name] = SCHEMAS[name].empty_table()
    return Drawn(tables=tables, as_of=as_of)


# Writing --------------------------------------------------------------------------------

#: The column each fact table is partitioned by (the exporter's ``day_column``).
DAY_COLUMNS = {f.name: f.day_column.name for f in FACTS}
#: The column each fact table's watermark is read from (the exporter's ``stamp_column``).
STAMP_COLUMNS = {f.name: f.stamp_column.name for f in FACTS}


def _partitions(name: str, table: pa.Table) -> list[tuple[Path, pa.Table]]:
    stamps = table[DAY_COLUMNS[name]].cast(pa.int64()).to_numpy()
    days = stamps // (DAY * US)
    order = np.argsort(days, kind="stable")
    if not np.array_equal(order, np.arange(order.size)):
        table, days = table.take(pa.array(order)), days[order]
    bounds = np.flatnonzero(np.diff(days)) + 1
    starts = np.concatenate([[0], bounds])
    ends = np.concatenate([bounds, [days.size]])
    parts = []
    for lo, hi in zip(starts.tolist(), ends.tolist(), strict=True):
        if hi <= lo:
            continue
        date = datetime.fromtimestamp(int(days[lo]) * DAY, tz=UTC).date().isoformat()
        parts.append((Path(name) / f"day={date}" / "part-0.parquet", table.slice(lo, hi - lo)))
    return parts


def manifest(drawn: Drawn, partitions: dict[str, int]) -> dict[str, Any]:
    """What a full export at ``as_of`` records (``trustflow.warehouse.export.export``): the
    store, each fact's watermark (its newest stamp; none for a fact with no rows) and columns,
    and each table's rows and partitions."""
    watermarks = {}
    for name, stamp in STAMP_COLUMNS.items():
        table = drawn.tables[name]
        if table.num_rows:
            newest = pc.max(table[stamp]).as_py()
            watermarks[name] = newest.isoformat()
    tables: dict[str, dict[str, int]] = {
        name: {"rows": drawn.tables[name].num_rows, "partitions": partitions.get(name, 0)}
        for name in DAY_COLUMNS
    }
    for dim in DIMENSIONS:
        tables[dim.name] = {"rows": drawn.tables[dim.name].num_rows, "partitions": 1}
    return {
        "store_id": STORE_ID,
        "watermarks": watermarks,
        "columns": fact_columns(),
        "history_imported_at": None,
        "exported_at": datetime.fromtimestamp(drawn.as_of, tz=UTC).isoformat(),
        "tables": tables,
    }


def write(
    drawn: Drawn, root: Path, advance: Callable[[int], None], total: Callable[[int], None]
) -> None:
    """Every partition and dimension file, then the manifest (as the export does, last)."""
    jobs: list[tuple[Path, pa.Table]] = []
    partitions: dict[str, int] = {}
    for name in DAY_COLUMNS:
        parts = _partitions(name, drawn.tables[name])
        partitions[name] = len(parts)
        jobs.extend(parts)
    for dim in DIMENSIONS:
        jobs.append((Path("dims") / f"{dim.name}.parquet", drawn.tables[dim.name]))
    total(len(jobs))

    def one(job: tuple[Path, pa.Table]) -> None:
        path = root / job[0]
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(job[1], path, compression="zstd")
        advance(1)

    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(one, jobs))
    root.mkdir(parents=True, exist_ok=True)
    (root / MANIFEST).write_text(json.dumps(manifest(drawn, partitions), indent=2, sort_keys=True))


def ensure(root: Path, orders: int, *, seed: int = 11) -> dict[str, Any]:
    """The warehouse under ``root`` (built unless a complete one of this size is there);
    returns the marker: sizes, ``as_of``, row counts and how long generating took."""
    marker = root / MARKER
    if marker.exists():
        info: dict[str, Any] = json.loads(marker.read_text())
        if (
            info.get("version") == VERSION
            and info.get("schemas") == SCHEMA_DIGEST
            and info.get("orders") == orders
        ):
            info["cached"] = True
            return info
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    tmp = root.with_name(root.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    started = time.perf_counter()
    sizes = Sizes.for_orders(orders)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=False,
    ) as progress:
        task = progress.add_task(f"drawing {orders:,} orders", total=STEPS)
        done = iter(range(STEPS))

        def step(label: str) -> None:
            progress.update(task, completed=next(done), description=f"drawing {label}")

        drawn = draw(sizes, seed, step)
        progress.update(task, completed=STEPS, description=f"drew {orders:,} orders")
        files = progress.add_task("writing Parquet", total=None)
        write(
            drawn,
            tmp,
            advance=lambda k: progress.advance(files, k),
            total=lambda k: progress.update(files, total=k),
        )
    info = {
        "version": VERSION,
        "schemas": SCHEMA_DIGEST,
        "orders": orders,
        "seed": seed,
        "as_of": drawn.as_of,
        "sizes": sizes.__dict__,
        "rows": {name: t.num_rows for name, t in drawn.tables.items()},
        "generate_seconds": round(time.perf_counter() - started, 1),
    }
    (tmp / MARKER).write_text(json.dumps(info, indent=2))
    shutil.rmtree(root, ignore_errors=True)
    tmp.rename(root)
    info["cached"] = False
    return info
