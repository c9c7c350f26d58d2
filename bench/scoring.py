"""Seconds to compute all three scores on DuckDB, against a plain pandas version as the peer.

The warehouse is synthetic (:mod:`bench._warehouse_synth`): ``--orders`` paid orders over 90
days with their lines, reviews, after-sales requests and chats, in the exporter's layout,
schemas and manifest, cached under ``var/bench/scoring-<N>`` and reused while its marker says it
is complete.

``seconds`` is the wall time of ``compute_duckdb(root, as_of, sql.FULL)`` (every protection
on: extended windows, abuse weights, held bursts, appeals, shrinkage), where ``as_of`` is one
second after the newest payment; it counts reading the Parquet files, both SQL steps and the
hand-over of the results as Polars frames. ``pandas_seconds`` is the same definitions written
as straightforward pandas (``read_parquet`` of the needed columns, merges, group-bys, no loop
per row), also producing the per-metric rows and the per-entity scores. Each path runs once
untimed (to warm the OS file cache and imports), then the best of three timed runs counts. DuckDB
uses its default thread count, pandas what it uses by itself (pyarrow's reader is threaded).
``pandas_matches`` says whether the two agree on every entity and every sub-metric (same rows;
score, interval, sample, observed share, rates, benchmarks, weights, prior strengths and points
within 1e-6; same window, status, tier, restriction and breaches): the proof that the peer
computes the same thing.

``scan_gb_per_s`` is the uncompressed size of the Parquet column chunks that the SQL reads (the
columns it names, in every file, counted once) per second of ``seconds``;
``memcopy_gb_per_s`` is NumPy copying one preallocated 1 GiB array into another (bytes copied
per second, best of 5) in the same run, and ``scan_ratio`` is the first over the second.

    python -m bench.scoring [--orders N] [--quick]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from bench import _warehouse_synth as synth
from trustflow.scoring import rules, sql
from trustflow.scoring.engine import compute_duckdb
from trustflow.scoring.models import ScoreKind, ScoreStatus, Tier
from trustflow.units import DAY, HOUR
from trustflow.warehouse.reader import dimension_path, fact_dir

PROJECT = Path(__file__).resolve().parents[1]
US = 1_000_000
T = TypeVar("T")

#: The columns the score SQL reads from each warehouse table.
SCANNED: dict[str, tuple[str, ...]] = {
    "orders": (
        "id",
        "buyer_id",
        "shop_id",
        "creator_id",
        "paid_at",
        "ship_by",
        "deliver_by",
        "picked_up_at",
        "delivered_at",
        "cancelled_at",
    ),
    "order_lines": ("id", "order_id", "product_id"),
    "reviews": ("id", "order_id", "line_id", "buyer_id", "shop_id", "stars", "created_at"),
    "after_sales": (
        "id",
        "order_id",
        "line_id",
        "shop_id",
        "buyer_id",
        "kind",
        "reason",
        "responsible_party",
        "status",
        "dispute_outcome",
        "created_at",
        "handled_at",
    ),
    "chats": ("id", "buyer_id", "shop_id", "first_message_at", "first_response_seconds"),
    "shops": ("id", "category_id"),
    "products": ("id", "category_id"),
    "categories": ("id", "code", "parent_id"),
    "appeals": ("defect_kind", "defect_id"),
}
FACT_NAMES = ("orders", "order_lines", "after_sales", "reviews", "chats")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# The pandas peer --------------------------------------------------------------------------


def _secs(column: pd.Series) -> np.ndarray:
    """``FLOOR(EPOCH(ts))`` as float64 (NaN for NULL; whole seconds are exact)."""
    micros = column.dt.tz_localize(None).to_numpy().astype("datetime64[us]").view(np.int64)
    out: np.ndarray = (micros // US).astype(np.float64)
    out[column.isna().to_numpy()] = np.nan
    return out


def _flag(condition: pd.Series | np.ndarray) -> np.ndarray:
    return np.asarray(condition, dtype=bool).astype(np.int64)


def _weighted_tally(
    shop_id: pd.Series, weight: np.ndarray, slow: np.ndarray, opportunities: str, defects: str
) -> pd.DataFrame:
    """Per shop: the recency-weighted opportunities, their squares and the weighted defects."""
    return (
        pd.DataFrame(
            {
                "shop_id": shop_id.to_numpy(),
                opportunities: weight,
                f"{opportunities}_sq": weight * weight,
                defects: slow * weight,
            }
        )
        .groupby("shop_id")
        .sum()
    )


def _store_recency(age_s: pd.Series | np.ndarray) -> np.ndarray:
    """A store's recency weight of an order (chat, request) this old: 1 within the standard
    window, then halving every half-life after its end."""
    start = rules.STORE.window_days * DAY
    half_life = (rules.STORE.half_life_days or float(rules.STORE.window_days)) * DAY
    age = np.asarray(age_s, dtype=np.float64)
    return np.where(age < start, 1.0, np.power(0.5, (age - start) / half_life))


def _metric_frame(
    definition: rules.ScoreDefinition, tally: pd.DataFrame, codes: pd.Series | None
) -> list[pd.DataFrame]:
    frames = []
    window_days = (
        tally["window_days"].to_numpy(np.int64)
        if definition.extended_windows
        else np.full(len(tally), definition.window_days, dtype=np.int64)
    )
    for metric in definition.metrics:
        opp = tally[metric.opportunities].to_numpy(np.float64)
        effective = opp
        if definition.half_life_days:
            # Kish's effective sample size of recency-weighted opportunities (0 if none).
            sq = tally[f"{metric.opportunities}_sq"].to_numpy(np.float64)
            with np.errstate(divide="ignore", invalid="ignore"):
                effective = np.where(sq != 0, opp * opp / sq, 0.0)
        weight = np.full(len(tally), metric.weight)
        if codes is not None:
            for code, weights in rules.CATEGORY_WEIGHTS.items():
                weight[(codes == code).to_numpy()] = weights[metric.name]
        frames.append(
            pd.DataFrame(
                {
                    "kind": definition.kind.value,
                    "entity_id": tally["entity_id"].to_numpy(np.int64),
                    "category_id": tally["category_id"].to_numpy(np.int64),
                    "metric": metric.name,
                    "dimension": metric.dimension,
                    "record": metric.record,
                    "defects": tally[metric.defects].to_numpy(np.float64),
                    "opportunities": opp,
                    "effective": effective,
                    "sample": tally["sample"].to_numpy(np.int64),
                    "nominal_weight": weight,
                    "floor": float(metric.floor),
                    "window_days": window_days,
                }
            )
        )
    return frames


def _shrink_toward(level: pd.DataFrame, above: pd.DataFrame) -> pd.DataFrame:
    """A level's benchmark and prior, shrunk toward the level above as if it held
    ``BENCHMARK_PRIOR_ENTITIES`` more entities at that level's rates."""
    k = rules.BENCHMARK_PRIOR_ENTITIES
    d, o, n, r = level["d"], level["o"], level["n"], level["r"]
    own = (n * d / o.where(o != 0)).fillna(0.0)
    return level.assign(
        benchmark=(own + k * above["benchmark"].to_numpy()) / (n + k),
        prior=(r + k * above["prior"].to_numpy()) / (n + k),
    )


def compute_pandas(root: Path, as_of: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``sql.statements(as_of, sql.FULL)`` in pandas: ``(score_metrics, entity_scores)``."""
    t = int(as_of)
    store, product, creator = rules.STORE, rules.PRODUCT, rules.CREATOR
    bad = rules.BAD_REVIEW_MAX_STARS
    quality = [r.value for r in rules.QUALITY_REASONS]
    logistics = [r.value for r in rules.LOGISTICS_REASONS]
    goods_parties = [p.value for p in rules.QUALITY_PARTIES[ScoreKind.CREATOR]]
    event_from = t - sql.EVENT_WINDOW_DAYS * DAY
    abuse_from = t - rules.ABUSE_WINDOW_DAYS * DAY
    # A store's windows, shortest first; its orders fall in age bands, one per window.
    windows = (store.window_days, *store.extended_windows)
    store_long = windows[-1]

    def fact(name: str) -> pd.DataFrame:
        return pd.read_parquet(fact_dir(root, name), columns=list(SCANNED[name]))

    def dim(name: str) -> pd.DataFrame:
        return pd.read_parquet(dimension_path(root, name), columns=list(SCANNED[name]))

    # base: paid orders of the longest window, with their promises.
    o = fact("orders")
    paid = _secs(o["paid_at"])
    keep = (paid < t) & (paid >= t - sql.ORDER_WINDOW_DAYS * DAY)
    o = o.loc[keep]
    paid = paid[keep]
    deliver_by = _secs(o["deliver_by"])
    # no promised delivery (imported history): due DEFAULT_DELIVERY_HOURS after payment
    deliver_by = np.where(
        np.isnan(deliver_by), paid + rules.DEFAULT_DELIVERY_HOURS * HOUR, deliver_by
    )
    base = pd.DataFrame(
        {
            "order_id": o["id"].to_numpy(),
            "buyer_id": o["buyer_id"].to_numpy(),
            "shop_id": o["shop_id"].to_numpy(),
            "creator_id": o["creator_id"].to_numpy(),
            "age_s": t - paid,
            "paid_s": paid,
            "ship_by_s": _secs(o["ship_by"]),
            "deliver_by_s": deliver_by,
            "picked_s": _secs(o["picked_up_at"]),
            "delivered_s": _secs(o["delivered_at"]),
            "cancelled_s": _secs(o["cancelled_at"]),
        }
    )
    del o, paid, keep, deliver_by
    shops = dim("shops").rename(columns={"id": "shop_id", "category_id": "shop_category"})
    categories = dim("categories")
    codes = categories[["id", "code"]].rename(
        columns={"id": "shop_category", "code": "category_code"}
    )
    products = dim("products").rename(
        columns={"id": "product_id", "category_id": "product_category"}
    )
    appeals = dim("appeals")
    lines = fact("order_lines")

    # rv: reviews of the event window that no upheld appeal removed.
    r = fact("reviews")
    r["at_s"] = _secs(r.pop("created_at"))
    appealed = appeals.loc[appeals["defect_kind"] == "review", "defect_id"]
    rv = r.loc[~r["id"].isin(appealed) & (r["at_s"] < t) & (r["at_s"] >= event_from)].copy()
    del r
    rv["day"] = np.floor(rv["at_s"] / DAY)
    bad_rv = rv.loc[rv["stars"] <= bad]

    # bursts: a shop-day with many more bad reviews than the shop's usual day (over the
    # burst rule's lookback).
    bad_days = (
        bad_rv.loc[bad_rv["at_s"] >= t - sql.BURST_LOOKBACK_DAYS * DAY]
        .groupby(["shop_id", "day"])
        .size()
        .rename("k")
        .reset_index()
    )
    bad_days["total"] = bad_days.groupby("shop_id")["k"].transform("sum")
    burst_days = sql.BURST_LOOKBACK_DAYS - 1
    is_burst = (bad_days["k"] >= rules.BURST_MIN_BAD_REVIEWS) & (
        bad_days["k"] > rules.BURST_FACTOR * ((bad_days["total"] - bad_days["k"]) / burst_days + 1)
    )
    bursts = bad_days.loc[is_burst, ["shop_id", "day"]].assign(burst=1)
    reviewed = rv[["order_id", "line_id", "stars", "shop_id", "day"]].merge(
        bursts, on=["shop_id", "day"], how="left"
    )
    held = _flag((reviewed["burst"] == 1) & (reviewed["stars"] <= bad))
    flags = pd.DataFrame(
        {
            "order_id": reviewed["order_id"].to_numpy(),
            "line_id": reviewed["line_id"].to_numpy(),
            "reviewed": 1 - held,
            "bad_review": (1 - held) * _flag(reviewed["stars"] <= bad),
            "held_review": held,
        }
    )
    # An order's (or a line's) reviews: reviewed if one counts, bad if a counted one is bad,
    # held if one is held. An order counts once for its shop and creator, a line for its
    # product.
    review_flags = ["reviewed", "bad_review", "held_review"]
    order_reviews = flags.groupby("order_id")[review_flags].max()
    line_reviews = (
        flags.dropna(subset=["line_id"])
        .astype({"line_id": np.int64})
        .groupby("line_id")[review_flags]
        .max()
    )
    del reviewed, flags, held

    # asr: after-sales requests of the event window that no upheld appeal removed.
    a = fact("after_sales")
    a["at_s"] = _secs(a.pop("created_at"))
    a["handled_s"] = _secs(a.pop("handled_at"))
    appealed = appeals.loc[appeals["defect_kind"] == "after_sales", "defect_id"]
    asr = a.loc[~a["id"].isin(appealed) & (a["at_s"] < t) & (a["at_s"] >= event_from)].copy()
    del a
    counted = (
        asr["status"].notna()
        & (asr["status"] != "withdrawn")
        & (asr["dispute_outcome"].fillna("") != "merchant_won")
    )

    # How much of each kind of record the history holds in the window (chats below): a
    # metric read from a record the history lacks is not known for anyone.
    recorded = {
        "reviews": len(rv),
        "after_sales": len(asr),
        "arbitrations": int(asr["dispute_outcome"].notna().sum()),
        "pickups": int(base["picked_s"].notna().sum()),
        "deliveries": int(base["delivered_s"].notna().sum()),
    }

    # Buyer abuse weights: complaints beyond the platform's rate for their deliveries.
    complaints = pd.concat(
        [
            bad_rv.loc[bad_rv["at_s"] >= abuse_from].groupby("buyer_id").size(),
            asr.loc[(asr["kind"] == "refund_only") & counted & (asr["at_s"] >= abuse_from)]
            .groupby("buyer_id")
            .size(),
        ]
    )
    complaints = complaints.groupby(level=0).sum().astype(np.float64)
    deliveries = (
        base.loc[(base["delivered_s"] < t) & (base["paid_s"] >= abuse_from)]
        .groupby("buyer_id")
        .size()
    )
    rate = float(complaints.sum()) / max(int(deliveries.sum()), 1)
    expected = rate * deliveries.reindex(complaints.index, fill_value=0) + rules.ABUSE_ALLOWANCE
    buyer_weights = pd.Series(
        np.where(complaints <= expected, 1.0, expected / complaints), index=complaints.index
    )

    # by_order (by_line): what each order's (line's) after-sales requests charge to whom.
    party = asr["responsible_party"]
    reason = asr["reason"]
    charged = pd.DataFrame(
        {
            "order_id": asr["order_id"],
            "line_id": asr["line_id"],
            "merchant_quality": _flag(counted & reason.isin(quality) & (party == "merchant")),
            "goods_quality": _flag(counted & reason.isin(quality) & party.isin(goods_parties)),
            "content_complaint": _flag(
                counted & (reason == "not_as_described") & (party == "creator")
            ),
            "logistics_complaint": _flag(counted & reason.isin(logistics) & (party == "merchant")),
            "dispute_lost": _flag((asr["dispute_outcome"] == "buyer_won") & (party == "merchant")),
        }
    )
    by_order = charged.drop(columns="line_id").groupby("order_id").max()
    by_line = (
        charged.dropna(subset=["line_id"])
        .astype({"line_id": np.int64})
        .groupby("line_id")[["merchant_quality", "dispute_lost"]]
        .max()
    )
    del charged

    # facts: one row per order with its flags, the buyer's weight, its age band and its
    # store recency weight.
    f = base.merge(order_reviews, left_on="order_id", right_index=True, how="left")
    customers = base[["shop_id", "buyer_id"]].drop_duplicates()  # who may chat (below)
    del base, order_reviews
    f = f.merge(by_order, left_on="order_id", right_index=True, how="left")
    for column in (*by_order.columns, *review_flags):
        f[column] = f[column].fillna(0).astype(np.int64)
    bw = f["buyer_id"].map(buyer_weights).fillna(1.0).to_numpy()
    f["bw"] = bw
    f["band"] = np.searchsorted(np.asarray(windows[:-1]) * DAY, f["age_s"], side="right")
    f["rw"] = _store_recency(f["age_s"])
    f["delivered"] = _flag(f["delivered_s"] < t)
    open_ = f["cancelled_s"].isna() | (f["cancelled_s"] > f["ship_by_s"])
    due = (f["ship_by_s"] < t) & open_
    f["pickup_due"] = _flag(due)
    f["late_pickup"] = _flag(due & (f["picked_s"].isna() | (f["picked_s"] > f["ship_by_s"])))
    # due for delivery once the promise passed, unless cancelled before it; late when not
    # delivered by it (delivered after it, or not yet)
    promise = f["deliver_by_s"]
    delivery_due = (promise < t) & (f["cancelled_s"].isna() | (f["cancelled_s"] > promise))
    f["delivery_due"] = _flag(delivery_due)
    f["late_delivery"] = _flag(
        delivery_due & (f["delivered_s"].isna() | (f["delivered_s"] > promise))
    )
    f["bad_w"] = f["bad_review"] * bw
    f["merchant_quality_w"] = f["merchant_quality"] * bw
    f["logistics_w"] = f["logistics_complaint"] * bw
    f["goods_quality_w"] = f["goods_quality"] * bw
    f["content_w"] = f["content_complaint"] * bw
    f = f[list(_FACT_COLUMNS)]

    # Store: the first window holding min_sample orders, else the longest; orders (and
    # opportunities) weighted by recency, with their squares for Kish's effective n.
    sf = f.loc[f["age_s"] < store_long * DAY]
    rw = sf["rw"].to_numpy()
    by_band = (
        pd.DataFrame(
            {
                "shop_id": sf["shop_id"].to_numpy(),
                "band": sf["band"].to_numpy(),
                "held_reviews": sf["held_review"].to_numpy(),
                **{name: sf[column].to_numpy() * rw for column, name in _STORE_SUMS},
                **{
                    f"{name}_sq": sf[column].to_numpy() * rw * rw
                    for column, name in _STORE_SUMS
                    if name in _STORE_OPPORTUNITIES
                },
            }
        )
        .groupby(["shop_id", "band"], as_index=False)
        .agg(sample=("held_reviews", "size"), **{c: (c, "sum") for c in _STORE_TOTALS})
    )
    del sf, rw
    sample = (
        by_band.pivot(index="shop_id", columns="band", values="sample")
        .reindex(columns=range(len(windows)))
        .fillna(0)
    )
    reached = sample.cumsum(axis=1).to_numpy() >= store.min_sample
    reached[:, -1] = True
    reach = reached.argmax(axis=1)
    shop_windows = pd.DataFrame(
        {
            "shop_id": sample.index.to_numpy(),
            "reach": reach,
            "window_days": np.asarray(windows)[reach],
        }
    )
    by_band = by_band.merge(shop_windows, on="shop_id")
    shop_orders = (
        by_band.loc[by_band["band"] <= by_band["reach"]]
        .groupby("shop_id", as_index=False)
        .agg(
            window_days=("window_days", "max"),
            sample=("sample", "sum"),
            **{c: (c, "sum") for c in _STORE_TOTALS},
        )
        .merge(shops, on="shop_id")
        .merge(codes, on="shop_category")
    )
    del by_band
    spans = shop_orders[["shop_id", "window_days"]]

    # lines of paid orders, with their product's category: a store's category mix (its lines
    # in its window) and the products' tallies (their lines of the product window).
    lf = f[["order_id", "shop_id", "band", "age_s", "bw", "delivered"]].merge(
        lines[["id", "order_id", "product_id"]].rename(columns={"id": "line_id"}),
        on="order_id",
    )
    del lines
    lf = lf.merge(products, on="product_id")
    mixed_in = lf.merge(shop_windows[["shop_id", "reach"]], on="shop_id")
    shop_mix = (
        mixed_in.loc[
            (mixed_in["band"] <= mixed_in["reach"]) & (mixed_in["age_s"] < store_long * DAY)
        ]
        .groupby(["shop_id", "product_category"])
        .size()
        .rename("n")
        .reset_index()
    )
    del mixed_in
    lf = (
        lf.loc[lf["age_s"] < product.window_days * DAY]
        .merge(line_reviews, left_on="line_id", right_index=True, how="left")
        .merge(by_line, left_on="line_id", right_index=True, how="left")
    )
    del line_reviews, by_line
    for column in ("reviewed", "bad_review", "held_review", "merchant_quality", "dispute_lost"):
        lf[column] = lf[column].fillna(0).astype(np.int64)
    lf["bad_w"] = lf["bad_review"] * lf["bw"]
    lf["merchant_quality_w"] = lf["merchant_quality"] * lf["bw"]

    # one buyer, one voice: only customers' chats (a paid order in the order window), and of
    # each customer only the first chat with the shop in the store's window
    chats = fact("chats").merge(spans, on="shop_id").merge(customers, on=["shop_id", "buyer_id"])
    first = _secs(chats["first_message_at"])
    chats = chats.assign(first_s=first).loc[(first < t) & (first >= t - chats["window_days"] * DAY)]
    recorded["chats"] = len(chats)
    chats = chats.sort_values(["first_message_at", "id"]).drop_duplicates(
        ["shop_id", "buyer_id"], keep="first"
    )
    answer = chats["first_response_seconds"]
    answered = (chats["first_s"] + answer < t).fillna(False).astype(bool)
    chat_w = _store_recency(t - chats["first_s"])
    slow = _flag(
        np.where(
            answered,
            answer > rules.SLOW_CHAT_SECONDS,
            t - chats["first_s"] > rules.SLOW_CHAT_SECONDS,
        )
    )
    shop_chats = _weighted_tally(chats["shop_id"], chat_w, slow, "chats", "slow_chats")
    del chats

    slow_after = rules.SLOW_HANDLING_HOURS * HOUR
    rq = asr[["shop_id", "at_s", "handled_s"]].merge(spans, on="shop_id")
    rq = rq.loc[rq["at_s"] >= t - rq["window_days"] * DAY]
    rq_w = _store_recency(t - rq["at_s"])
    slow = _flag(np.minimum(rq["handled_s"].fillna(t), t) - rq["at_s"] > slow_after)
    shop_requests = _weighted_tally(rq["shop_id"], rq_w, slow, "requests", "slow_handlings")
    del rq, rq_w, slow
    store_tally = shop_orders.rename(
        columns={"shop_id": "entity_id", "shop_category": "category_id"}
    )
    store_tally = store_tally.merge(
        shop_chats, left_on="entity_id", right_index=True, how="left"
    ).merge(shop_requests, left_on="entity_id", right_index=True, how="left")
    for column in (*shop_chats.columns, *shop_requests.columns):
        store_tally[column] = store_tally[column].fillna(0.0)

    # Product: 60 days of its lines, by the product's own category.
    product_tally = (
        lf.groupby("product_id", as_index=False)
        .agg(
            category_id=("product_category", "max"),
            sample=("age_s", "size"),
            reviews=("reviewed", "sum"),
            bad_reviews=("bad_w", "sum"),
            held_reviews=("held_review", "sum"),
            delivered=("delivered", "sum"),
            quality_refunds=("merchant_quality_w", "sum"),
            complaints=("dispute_lost", "sum"),
        )
        .rename(columns={"product_id": "entity_id"})
    )
    del lf

    # Creator: 90 days, recent orders weigh more (half-life), one benchmark for all.
    cf = f.loc[f["creator_id"].notna() & (f["age_s"] < creator.window_days * DAY)]
    half_life = creator.half_life_days or float(creator.window_days)
    recency = np.power(0.5, cf["age_s"].to_numpy() / (half_life * DAY))
    creator_tally = (
        pd.DataFrame(
            {
                "entity_id": cf["creator_id"].to_numpy(),
                "reviews": cf["reviewed"].to_numpy() * recency,
                "reviews_sq": cf["reviewed"].to_numpy() * recency * recency,
                "bad_reviews": cf["bad_w"].to_numpy() * recency,
                "held_reviews": cf["held_review"].to_numpy(),
                "delivered": cf["delivered"].to_numpy() * recency,
                "delivered_sq": cf["delivered"].to_numpy() * recency * recency,
                "goods_refunds": cf["goods_quality_w"].to_numpy() * recency,
                "content_complaints": cf["content_w"].to_numpy() * recency,
            }
        )
        .groupby("entity_id", as_index=False)
        .agg(
            sample=("reviews", "size"),
            **{c: (c, "sum") for c in _CREATOR_SUMS},
        )
        .assign(category_id=0)
    )
    del cf, recency, f

    held_reviews = pd.concat(
        [
            pd.DataFrame(
                {
                    "kind": kind.value,
                    "entity_id": tally["entity_id"].to_numpy(np.int64),
                    "held_reviews": tally["held_reviews"].to_numpy(np.int64),
                }
            )
            for kind, tally in (
                (ScoreKind.STORE, store_tally),
                (ScoreKind.PRODUCT, product_tally),
                (ScoreKind.CREATOR, creator_tally),
            )
        ],
        ignore_index=True,
    )
    m = pd.concat(
        _metric_frame(store, store_tally, store_tally["category_code"])
        + _metric_frame(product, product_tally, None)
        + _metric_frame(creator, creator_tally, None),
        ignore_index=True,
    )

    # Each entity's share of each category it is benchmarked in: a store by its order lines'
    # categories, a product in its own, a creator among all creators (category 0).
    mix = pd.concat(
        [
            pd.DataFrame(
                {
                    "kind": ScoreKind.STORE.value,
                    "entity_id": shop_mix["shop_id"].to_numpy(np.int64),
                    "category_id": shop_mix["product_category"].to_numpy(np.int64),
                    "share": shop_mix["n"] / shop_mix.groupby("shop_id")["n"].transform("sum"),
                }
            ),
            pd.DataFrame(
                {
                    "kind": ScoreKind.PRODUCT.value,
                    "entity_id": product_tally["entity_id"].to_numpy(np.int64),
                    "category_id": product_tally["category_id"].to_numpy(np.int64),
                    "share": 1.0,
                }
            ),
            pd.DataFrame(
                {
                    "kind": ScoreKind.CREATOR.value,
                    "entity_id": creator_tally["entity_id"].to_numpy(np.int64),
                    "category_id": 0,
                    "share": 1.0,
                }
            ),
        ],
        ignore_index=True,
    )
    # a category's parent; a top category (or the creators' 0) is its own
    parents = pd.DataFrame(
        {
            "category_id": np.append(categories["id"].to_numpy(np.int64), 0),
            "parent_id": np.append(
                categories["parent_id"].fillna(categories["id"]).to_numpy(np.int64), 0
            ),
        }
    )
    del shop_mix

    # Benchmarks and priors, level by level: a category shrunk toward its parent, a parent
    # toward all entities of the kind; an entity's are its categories' mixed by its shares.
    d, n = m["defects"], m["opportunities"]
    has = n > 0
    mixed = (
        m[["kind", "entity_id", "metric"]]
        .assign(defects=d, opportunities=n, has=_flag(has), raw_rate=(d / n.where(has)))
        .merge(mix, on=["kind", "entity_id"])
        .merge(parents, on="category_id")
    )
    share = mixed["share"]
    by_category = (
        mixed[["kind", "metric", "category_id", "parent_id"]]
        .assign(
            d=share * mixed["defects"],
            o=share * mixed["opportunities"],
            n=share * mixed["has"],
            r=(share * mixed["raw_rate"]).fillna(0.0),
        )
        .groupby(["kind", "metric", "category_id"], as_index=False)
        .agg(
            parent_id=("parent_id", "max"),
            d=("d", "sum"),
            o=("o", "sum"),
            n=("n", "sum"),
            r=("r", "sum"),
        )
    )
    sums = ["d", "o", "n", "r"]
    by_parent = by_category.groupby(["kind", "metric", "parent_id"], as_index=False)[sums].sum()
    by_kind = by_parent.groupby(["kind", "metric"], as_index=False)[sums].sum()
    pooled = by_kind["d"] / by_kind["o"].where(by_kind["o"] != 0)
    by_kind["benchmark"] = pooled.fillna(0.0)
    by_kind["prior"] = (
        (by_kind["r"] / by_kind["n"].where(by_kind["n"] != 0)).fillna(pooled).fillna(0.0)
    )
    above = by_parent.merge(
        by_kind[["kind", "metric", "benchmark", "prior"]], on=["kind", "metric"]
    )
    parent_levels = _shrink_toward(above[[*by_parent.columns]], above)
    above = by_category.merge(
        parent_levels[["kind", "metric", "parent_id", "benchmark", "prior"]],
        on=["kind", "metric", "parent_id"],
    )
    category_levels = _shrink_toward(above[[*by_category.columns]], above)
    levels = mixed[["kind", "entity_id", "metric", "category_id", "share"]].merge(
        category_levels[["kind", "metric", "category_id", "benchmark", "prior"]],
        on=["kind", "metric", "category_id"],
    )
    entity_levels = (
        levels[["kind", "entity_id", "metric"]]
        .assign(
            benchmark=levels["share"] * levels["benchmark"],
            prior=levels["share"] * levels["prior"],
        )
        .groupby(["kind", "entity_id", "metric"], as_index=False)
        .sum()
    )
    del mixed, levels, by_category, by_parent, above

    s = m.merge(entity_levels, on=["kind", "entity_id", "metric"])

    # The fitted prior strength: the beta-binomial method of moments around each entity's
    # prior, E[n (rate - mu)^2] = mu (1 - mu) (1 + (n - 1) rho).
    known = s.loc[s["opportunities"] > 0]
    mu, eff = known["prior"], known["effective"]
    spread = mu * (1 - mu)
    disp = (
        known[["kind", "metric"]]
        .assign(
            num=eff * (known["defects"] / known["opportunities"] - mu) ** 2 - spread,
            den=(eff - 1) * spread,
        )
        .groupby(["kind", "metric"], as_index=False)[["num", "den"]]
        .sum()
    )
    rho = disp["num"] / disp["den"].where(disp["den"] != 0)
    top, low = rules.PRIOR_STRENGTH_MAX, rules.PRIOR_STRENGTH_MIN
    disp["prior_strength"] = np.where(
        rho.isna() | (rho <= 1.0 / (top + 1)), top, np.maximum(low, 1.0 / rho - 1.0)
    )
    del known

    # Weights of the recorded metrics, scaled up to sum to one; known where the entity had
    # opportunities for a recorded metric.
    s = s.merge(disp[["kind", "metric", "prior_strength"]], on=["kind", "metric"], how="left")
    s["prior_strength"] = s["prior_strength"].fillna(top)
    live = s["record"].map(recorded).fillna(0).to_numpy() > 0
    nominal = s["nominal_weight"].where(live, 0.0)
    total = nominal.groupby([s["kind"], s["entity_id"]]).transform("sum")
    s["weight"] = (nominal / total.where(total != 0)).fillna(0.0)
    s["observed"] = _flag((s["opportunities"] > 0).to_numpy() & live)
    s["observed_share"] = (
        (s["observed"] * s["weight"]).groupby([s["kind"], s["entity_id"]]).transform("sum")
    )
    s["scale"] = np.maximum(s["floor"], s["benchmark"])
    d, n, prior = s["defects"], s["opportunities"], s["prior_strength"]
    s["raw_rate"] = (d / n).where(n > 0)
    s["rate"] = (d + prior * s["prior"]) / (n + prior)
    mass = n + prior
    s["variance"] = s["rate"] * (1 - s["rate"]) / (mass + 1)
    s["points"] = np.clip(100.0 - rules.POINTS_PER_BENCHMARK * s["rate"] / s["scale"], 0.0, 100.0)
    s["breach"] = _flag(
        (d >= rules.PENALTY_MIN_DEFECTS)
        & (s["raw_rate"] >= rules.PENALTY_RATE_MULTIPLE * s["scale"])
    )
    s = s.merge(held_reviews, on=["kind", "entity_id"], how="left")
    s["held_reviews"] = s["held_reviews"].fillna(0).astype(np.int64)
    metrics = s[list(_METRIC_COLUMNS)]

    # entity_scores: weighted points, the interval, status, tier, restriction; only entities
    # enough of whose score is known.
    w = s["weight"]
    per = (
        s[["kind", "entity_id", "sample", "window_days", "observed_share", "breach"]]
        .assign(
            held_reviews=s["held_reviews"],
            wp=w * s["points"],
            v=(w * rules.POINTS_PER_BENCHMARK / s["scale"]) ** 2 * s["variance"],
        )
        .groupby(["kind", "entity_id"], as_index=False)
        .agg(
            sample=("sample", "max"),
            window_days=("window_days", "max"),
            observed_share=("observed_share", "max"),
            wp=("wp", "sum"),
            v=("v", "sum"),
            breach=("breach", "max"),
            held_reviews=("held_reviews", "max"),
        )
    )
    per = per.loc[per["observed_share"] >= rules.MIN_OBSERVED_WEIGHT - 1e-9].reset_index(drop=True)
    score = per["wp"]
    sd = np.sqrt(per["v"])
    min_sample = per["kind"].map({d.kind.value: d.min_sample for d in rules.DEFINITIONS.values()})
    status = np.where(
        per["sample"] < min_sample, ScoreStatus.PROVISIONAL.value, ScoreStatus.SCORED.value
    )
    tier = np.full(len(per), Tier.LOW.value, dtype=object)
    for level, lowest in reversed(rules.TIERS):
        tier[(score >= lowest).to_numpy()] = level.value
    z = rules.INTERVAL_Z
    scores = pd.DataFrame(
        {
            "kind": per["kind"],
            "entity_id": per["entity_id"],
            "score": score,
            "lower": np.maximum(0.0, score - z * sd),
            "upper": np.minimum(100.0, score + z * sd),
            "sample": per["sample"],
            "window_days": per["window_days"],
            "observed_share": per["observed_share"],
            "status": status,
            "tier": tier,
            "restricted": _flag(
                (tier == Tier.LOW.value)
                & (status == ScoreStatus.SCORED.value)
                & (per["breach"] == 1).to_numpy()
            ),
            "held_reviews": per["held_reviews"],
        }
    )
    return metrics, scores


#: What the tallies read from the per-order facts.
_FACT_COLUMNS = (
    "order_id",
    "shop_id",
    "creator_id",
    "age_s",
    "band",
    "rw",
    "bw",
    "reviewed",
    "bad_w",
    "held_review",
    "delivered",
    "merchant_quality_w",
    "goods_quality_w",
    "content_w",
    "pickup_due",
    "late_pickup",
    "delivery_due",
    "late_delivery",
    "logistics_w",
    "dispute_lost",
)
#: A store's recency-weighted sums: (fact column, tally column).
_STORE_SUMS = (
    ("reviewed", "reviews"),
    ("bad_w", "bad_reviews"),
    ("delivered", "delivered"),
    ("merchant_quality_w", "quality_refunds"),
    ("pickup_due", "pickups"),
    ("late_pickup", "late_pickups"),
    ("delivery_due", "deliveries_due"),
    ("late_delivery", "late_deliveries"),
    ("logistics_w", "logistics_complaints"),
    ("dispute_lost", "disputes_lost"),
)
#: Its order-based opportunities, whose squared weights are summed too.
_STORE_OPPORTUNITIES = ("reviews", "delivered", "pickups", "deliveries_due")
_STORE_TOTALS = (
    "held_reviews",
    *(name for _, name in _STORE_SUMS),
    *(f"{name}_sq" for name in _STORE_OPPORTUNITIES),
)
_CREATOR_SUMS = (
    "reviews",
    "reviews_sq",
    "bad_reviews",
    "held_reviews",
    "delivered",
    "delivered_sq",
    "goods_refunds",
    "content_complaints",
)
#: The columns of ``score_metrics``.
_METRIC_COLUMNS = (
    "kind",
    "entity_id",
    "category_id",
    "metric",
    "dimension",
    "defects",
    "opportunities",
    "sample",
    "window_days",
    "prior_strength",
    "weight",
    "observed",
    "benchmark",
    "scale",
    "raw_rate",
    "rate",
    "variance",
    "points",
    "breach",
    "held_reviews",
)


# Comparison, scan size, memory ceiling ------------------------------------------------


def _diff(
    duck: pd.DataFrame, peer: pd.DataFrame, keys: list[str], close: tuple[str, ...]
) -> tuple[int, dict[str, float], pd.DataFrame]:
    joined = duck.merge(peer, on=keys, how="outer", suffixes=("", "_pd"), indicator=True)
    both = joined["_merge"] == "both"
    j = joined.loc[both]
    diff = {}
    for c in close:
        a, b = j[c].astype(float), j[f"{c}_pd"].astype(float)
        same_null = a.isna() & b.isna()
        gap = (a - b).abs().where(~same_null, 0.0).fillna(np.inf)
        diff[c] = float(gap.max()) if len(gap) else 0.0
    return int((~both).sum()), diff, j


def compare(
    duck: pd.DataFrame, peer: pd.DataFrame, duck_m: pd.DataFrame, peer_m: pd.DataFrame
) -> dict[str, Any]:
    """How far the pandas results are from DuckDB's: every entity, every sub-metric."""
    closeness = ("score", "lower", "upper", "sample", "observed_share", "held_reviews")
    unmatched, diff, j = _diff(duck, peer, ["kind", "entity_id"], closeness)
    differ = {c: int((j[c] != j[f"{c}_pd"]).sum()) for c in ("status", "tier")}
    for c in ("restricted", "window_days"):
        differ[c] = int((j[c].astype(int) != j[f"{c}_pd"].astype(int)).sum())
    # every number of a metric row, from its defects to its breach
    metric_closeness = _METRIC_COLUMNS[
        _METRIC_COLUMNS.index("defects") : _METRIC_COLUMNS.index("held_reviews")
    ]
    metric_unmatched, metric_diff, _ = _diff(
        duck_m, peer_m, ["kind", "entity_id", "metric"], metric_closeness
    )
    matches = (
        unmatched == 0
        and metric_unmatched == 0
        and len(duck) == len(peer)
        and len(duck_m) == len(peer_m)
        and all(v < 1e-6 for v in diff.values())
        and all(v < 1e-6 for v in metric_diff.values())
        and not any(differ.values())
    )
    return {
        "matches": matches,
        "unmatched": unmatched,
        "max_abs_diff": diff,
        "differ": differ,
        "metrics_unmatched": metric_unmatched,
        "metrics_max_abs_diff": metric_diff,
    }


def scan_bytes(root: Path, as_of: int) -> int:
    """Uncompressed bytes of the column chunks the score SQL reads, every file once."""
    text = "\n".join(q for _, q in sql.statements(as_of, sql.FULL))
    for columns in SCANNED.values():
        for column in columns:
            # qualified (``o.paid_at``) or, where one table is read, bare (``line_no``)
            if not re.search(rf"\b{column}\b", text):
                raise AssertionError(f"{column} is not read by the score SQL any more")
    total = 0
    for table, columns in SCANNED.items():
        if table in FACT_NAMES:
            paths = sorted(Path(fact_dir(root, table)).glob("*/*.parquet"))
        else:
            paths = [Path(dimension_path(root, table))]
        for path in paths:
            meta = pq.read_metadata(path)
            for g in range(meta.num_row_groups):
                group = meta.row_group(g)
                for c in range(group.num_columns):
                    chunk = group.column(c)
                    if chunk.path_in_schema in columns:
                        total += chunk.total_uncompressed_size
    return total


def memcopy_gb_per_s(nbytes: int = 1 << 30, repeats: int = 5) -> float:
    src = np.ones(nbytes // 8)
    dst = np.zeros_like(src)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - started)
    return nbytes / 1e9 / best


def timed(label: str, fn: Callable[[], T], runs: int = 3) -> tuple[float, T]:
    """One untimed warm-up run, then the best of ``runs``; returns (seconds, first result)."""
    started = time.perf_counter()
    result = fn()
    log(f"{label}: warm-up {time.perf_counter() - started:.2f}s")
    best = float("inf")
    for i in range(runs):
        started = time.perf_counter()
        fn()
        elapsed = time.perf_counter() - started
        best = min(best, elapsed)
        log(f"{label}: run {i + 1}/{runs} {elapsed:.2f}s")
    return best, result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=10_000_000)
    parser.add_argument("--quick", action="store_true", help="200,000 orders, for smoke runs")
    args = parser.parse_args(argv)
    orders = 200_000 if args.quick else args.orders

    root = PROJECT / "var" / "bench" / f"scoring-{orders}"
    info = synth.ensure(root, orders)
    as_of = int(info["as_of"])
    rows = info["rows"]
    log(
        f"warehouse {root} ({'cached; ' if info['cached'] else ''}generated in"
        f" {info['generate_seconds']}s): " + ", ".join(f"{k} {v:,}" for k, v in rows.items())
    )

    memcopy = memcopy_gb_per_s()
    log(f"memcopy: {memcopy:.2f} GB/s")
    scanned = scan_bytes(root, as_of)
    log(f"scan: {scanned / 1e9:.3f} GB of column chunks")

    seconds, duck = timed("duckdb", lambda: compute_duckdb(root, as_of, sql.FULL))
    pandas_seconds, (peer_metrics, peer) = timed("pandas", lambda: compute_pandas(root, as_of))
    check = compare(duck.scores.to_pandas(), peer, duck.metrics.to_pandas(), peer_metrics)
    log(f"pandas vs duckdb: {json.dumps(check)}")

    scores = duck.scores
    scan = scanned / 1e9 / seconds
    print(
        json.dumps(
            {
                "orders": orders,
                "seconds": round(seconds, 3),
                "pandas_seconds": round(pandas_seconds, 3),
                "speedup_vs_pandas": round(pandas_seconds / seconds, 2),
                "scan_gb_per_s": round(scan, 3),
                "memcopy_gb_per_s": round(memcopy, 2),
                "scan_ratio": round(scan / memcopy, 4),
                "scan_gb": round(scanned / 1e9, 3),
                "pandas_matches": check["matches"],
                "max_score_diff": float(f"{check['max_abs_diff']['score']:.3g}"),
                "entities": scores.height,
                "stores": int((scores["kind"] == ScoreKind.STORE.value).sum()),
                "products": int((scores["kind"] == ScoreKind.PRODUCT.value).sum()),
                "creators": int((scores["kind"] == ScoreKind.CREATOR.value).sum()),
                "extended_stores": int(
                    (
                        (scores["kind"] == ScoreKind.STORE.value)
                        & (scores["window_days"] > rules.STORE.window_days)
                    ).sum()
                ),
                "restricted": int(scores["restricted"].sum()),
                "order_lines": rows["order_lines"],
                "reviews": rows["reviews"],
                "after_sales": rows["after_sales"],
                "chats": rows["chats"],
                "generate_seconds": info["generate_seconds"],
                "cached": info["cached"],
                "as_of": as_of,
            }
        )
    )
    if not check["matches"]:
        # The peer no longer implements the same definitions: the speed-up means nothing.
        log("pandas and DuckDB disagree: update the pandas peer to match scoring/sql.py")
        raise SystemExit(1)


if __name__ == "__main__":
    main()
