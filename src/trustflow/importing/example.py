"""``trustflow import --example DIR``: a small, valid set of files to start from.

Two shops sell the same tea (one ``product_key``), a creator picks one shop's tea from the
distribution library and sells it from her live room, the shop goes live itself, and five
orders show what history looks like: delivered and reviewed, refunded
in part, cancelled after payment, still in transit, and reviewed before it arrived (a review
the import keeps and flags). In version 2 (the default) a buyer's cart then checks out two
orders at once, one of them of two lines, each line reviewed and one refunded in part. Every
file of the format is there, in CSV, with ``format.json`` declaring the version.
"""

from __future__ import annotations

import json
from copy import deepcopy
from pathlib import Path

import polars as pl

from trustflow.importing.format import FORMAT_VERSION, VERSION_FILE, files

__all__ = ["EXAMPLE", "EXAMPLE_V1", "write_example"]

Example = dict[str, dict[str, list[object]]]

#: Each file's rows, column by column, as version 1 writes them: an order is one SKU.
EXAMPLE_V1: Example = {
    "categories": {"category_id": ["tea"], "code": ["tea"], "name": ["Tea"]},
    "merchants": {
        "merchant_id": ["m-1", "m-2"],
        "name": ["Hill Farm Co.", "Riverside Trading"],
        "created_at": ["2024-05-01T09:00:00+08:00", "2024-06-12T10:30:00+08:00"],
    },
    "creators": {
        "creator_id": ["c-1"],
        "name": ["Auntie Lin"],
        "fans": [120_000],
        "created_at": ["2023-11-20T20:00:00+08:00"],
    },
    "buyers": {
        "buyer_id": ["b-1", "b-2", "b-3"],
        "name": ["Wang", "Zhao", "Chen"],
        "region": ["GD", "SH", "GD"],
        "created_at": ["2024-01-03T12:00:00+08:00"] * 3,
    },
    "shops": {
        "shop_id": ["s-1", "s-2"],
        "merchant_id": ["m-1", "m-2"],
        "name": ["Hill Farm Tea", "Riverside Tea House"],
        "kind": ["source", "other"],
        "category_id": ["tea", "tea"],
        "status": ["active", "active"],
        "handling_hours": [24, 48],
        "created_at": ["2024-05-02T09:00:00+08:00", "2024-06-13T09:00:00+08:00"],
    },
    "products": {
        "product_id": ["p-1", "p-2"],
        "shop_id": ["s-1", "s-2"],
        "category_id": ["tea", None],
        "title": ["Spring green tea 250 g", "Spring green tea, 250 g tin"],
        "brand": ["", ""],
        "product_key": ["green-tea-250", "green-tea-250"],
        "status": ["listed", "listed"],
        "created_at": ["2024-05-03T09:00:00+08:00", "2024-06-14T09:00:00+08:00"],
    },
    "skus": {
        "sku_id": ["k-1", "k-2"],
        "product_id": ["p-1", "p-2"],
        "spec": ["250 g", "250 g tin"],
        "price_fen": [6_800, 7_200],
        "stock": [120, 40],
    },
    "offers": {
        "offer_id": ["of-1"],
        "product_id": ["p-1"],
        "commission_bps": [1_500],
        "valid_from": ["2025-01-01T00:00:00+08:00"],
        "valid_until": [None],
        "created_at": ["2024-12-30T10:00:00+08:00"],
    },
    "creator_selections": {
        "creator_id": ["c-1"],
        "offer_id": ["of-1"],
        "created_at": ["2025-01-02T10:00:00+08:00"],
    },
    "live_sessions": {
        "live_session_id": ["l-1", "l-2"],
        "creator_id": [None, "c-1"],
        "shop_id": ["s-1", None],
        "title": ["Spring picking, live from the hill", "Auntie Lin's tea night"],
        "status": ["ended", "ended"],
        "scheduled_at": ["2025-03-02T20:00:00+08:00", "2025-03-01T19:30:00+08:00"],
        "started_at": ["2025-03-02T20:00:00+08:00", "2025-03-01T20:00:00+08:00"],
        "ended_at": ["2025-03-02T22:00:00+08:00", "2025-03-01T22:30:00+08:00"],
    },
    "live_session_products": {
        "live_session_id": ["l-1", "l-2"],
        "product_id": ["p-1", "p-1"],
    },
    "short_videos": {
        "short_video_id": ["v-1"],
        "creator_id": ["c-1"],
        "shop_id": [None],
        "title": ["How to brew spring green tea"],
        "clipped_from_live_id": ["l-2"],
        "posted_at": ["2025-03-02T09:00:00+08:00"],
    },
    "short_video_products": {"short_video_id": ["v-1"], "product_id": ["p-1"]},
    "orders": {
        "order_id": ["o-1", "o-2", "o-3", "o-4", "o-5"],
        "buyer_id": ["b-1", "b-2", "b-3", "b-1", "b-2"],
        "sku_id": ["k-1", "k-1", "k-2", "k-2", "k-1"],
        "quantity": [2, 1, 1, 3, 1],
        "unit_price_fen": [6_800, 6_800, 7_200, 6_900, 6_500],
        "merchant_discount_fen": [500, 0, 0, 0, 0],
        "platform_discount_fen": [0, 0, 300, 0, 0],
        "channel": ["distribution", "self_broadcast", "shelf_search", "shelf_mall", "shelf_shop"],
        "creator_id": ["c-1", None, None, None, None],
        "commission_bps": [1_500, 0, 0, 0, 0],
        "offer_id": ["of-1", None, None, None, None],
        "surface": ["follow", "follow", "search", "mall", "shop"],
        "content_kind": ["live_session", "live_session", None, None, None],
        "content_id": ["l-2", "l-1", None, None, None],
        "ship_to_region": ["GD", "SH", "GD", "GD", "SH"],
        "created_at": [
            "2025-03-01T20:15:00+08:00",
            "2025-03-02T21:00:00+08:00",
            "2025-03-03T10:00:00+08:00",
            "2025-03-05T09:00:00+08:00",
            "2025-03-06T09:00:00+08:00",
        ],
        "ship_by": [
            "2025-03-02T20:15:00+08:00",
            None,
            "2025-03-05T10:00:00+08:00",
            "2025-03-07T09:00:00+08:00",
            None,
        ],
        "deliver_from": ["2025-03-03T20:15:00+08:00", None, None, None, None],
        "deliver_by": ["2025-03-05T20:15:00+08:00", None, None, None, None],
        "paid_at": [
            "2025-03-01T20:16:00+08:00",
            "2025-03-02T21:01:00+08:00",
            "2025-03-03T10:02:00+08:00",
            "2025-03-05T09:01:00+08:00",
            "2025-03-06T09:01:00+08:00",
        ],
        "shipped_at": [
            "2025-03-02T11:00:00+08:00",
            "2025-03-03T15:00:00+08:00",
            None,
            "2025-03-06T18:00:00+08:00",
            "2025-03-06T16:00:00+08:00",
        ],
        "picked_up_at": ["2025-03-02T17:00:00+08:00", None, None, None, None],
        "delivered_at": [
            "2025-03-04T10:00:00+08:00",
            "2025-03-05T12:00:00+08:00",
            None,
            None,
            "2025-03-08T12:00:00+08:00",
        ],
        "received_at": ["2025-03-05T08:00:00+08:00", None, None, None, None],
        "cancelled_at": [None, None, "2025-03-03T18:00:00+08:00", None, None],
        "cancel_reason": [None, None, "merchant_cannot_fulfil", None, None],
    },
    "reviews": {
        "review_id": ["r-1", "r-2", "r-3"],
        "order_id": ["o-1", "o-2", "o-4"],
        "stars": [5, 2, 4],
        "text": ["Fresh and fragrant", "Tin arrived dented", "Looks good so far"],
        "created_at": [
            "2025-03-05T09:00:00+08:00",
            "2025-03-06T09:00:00+08:00",
            "2025-03-06T20:00:00+08:00",
        ],
    },
    "after_sales": {
        "request_id": ["a-1"],
        "order_id": ["o-2"],
        "kind": ["refund_only"],
        "reason": ["damaged_in_transit"],
        "status": ["refunded"],
        "refund_fen": [2_000],
        "responsible_party": [None],
        "dispute_outcome": [None],
        "created_at": ["2025-03-06T09:30:00+08:00"],
        "handled_at": ["2025-03-06T11:00:00+08:00"],
        "resolved_at": ["2025-03-06T11:00:00+08:00"],
    },
    "chats": {
        "chat_id": ["t-1", "t-2"],
        "buyer_id": ["b-2", "b-3"],
        "shop_id": ["s-1", "s-2"],
        "order_id": ["o-2", None],
        "first_message_at": ["2025-03-06T09:20:00+08:00", "2025-03-03T09:00:00+08:00"],
        "first_response_at": ["2025-03-06T09:25:00+08:00", None],
    },
    "impressions": {
        "impression_id": ["i-1", "i-2", "i-3"],
        "surface": ["follow", "mall", "discover"],
        "item_kind": ["live_session", "product_card", "short_video"],
        "item_id": ["l-1", "p-2", "v-1"],
        "buyer_id": ["b-2", "b-1", None],
        "shown_at": [
            "2025-03-02T20:30:00+08:00",
            "2025-03-05T08:55:00+08:00",
            "2025-03-02T12:00:00+08:00",
        ],
        "count": [1, 1, 250],
        "is_reward": [False, False, True],
        "reward_plan": [None, None, "chuanliu"],
        "plan_version": [None, None, None],
    },
    "follows": {
        "buyer_id": ["b-1", "b-2"],
        "creator_id": ["c-1", None],
        "shop_id": [None, "s-1"],
        "created_at": ["2025-02-28T20:00:00+08:00", "2025-03-02T21:05:00+08:00"],
    },
}


#: The goods of an order of version 1, a line's in version 2.
_GOODS = (
    "sku_id",
    "quantity",
    "unit_price_fen",
    "merchant_discount_fen",
    "platform_discount_fen",
    "offer_id",
    "commission_bps",
)


def _version_2(v1: Example) -> Example:
    """The example in version 2: version 1's orders as orders of one line each, then a cart
    of two orders checked out at once, one of them two lines of one shop."""
    out = deepcopy(v1)
    orders = out["orders"]
    order_ids = [str(o) for o in orders["order_id"]]
    lines: dict[str, list[object]] = {
        "line_id": [f"{o}.1" for o in order_ids],
        "order_id": list(order_ids),
        "line_no": [1] * len(order_ids),
        **{c: orders.pop(c) for c in _GOODS},
    }
    orders["checkout_id"] = [None] * len(order_ids)
    out["skus"] = {
        "sku_id": [*v1["skus"]["sku_id"], "k-3"],
        "product_id": [*v1["skus"]["product_id"], "p-1"],
        "spec": [*v1["skus"]["spec"], "500 g tin"],
        "price_fen": [*v1["skus"]["price_fen"], 12_800],
        "stock": [*v1["skus"]["stock"], 30],
    }
    out["checkouts"] = {
        "checkout_id": ["ch-1"],
        "buyer_id": ["b-3"],
        "created_at": ["2025-03-07T20:00:00+08:00"],
    }
    # the cart: Hill Farm's 250 g and 500 g teas (one order of two lines) and Riverside's
    # tin (an order of its own), paid at once
    new: dict[str, list[object]] = {
        "order_id": ["o-6", "o-7"],
        "buyer_id": ["b-3", "b-3"],
        "checkout_id": ["ch-1", "ch-1"],
        "channel": ["shelf_shop", "shelf_shop"],
        "creator_id": [None, None],
        "surface": ["shop", "shop"],
        "content_kind": [None, None],
        "content_id": [None, None],
        "ship_to_region": ["GD", "GD"],
        "created_at": ["2025-03-07T20:00:00+08:00"] * 2,
        "ship_by": [None, None],
        "deliver_from": [None, None],
        "deliver_by": [None, None],
        "paid_at": ["2025-03-07T20:01:00+08:00"] * 2,
        "shipped_at": ["2025-03-08T10:00:00+08:00", "2025-03-08T15:00:00+08:00"],
        "picked_up_at": [None, None],
        "delivered_at": ["2025-03-10T11:00:00+08:00", "2025-03-10T16:00:00+08:00"],
        "received_at": [None, None],
        "cancelled_at": [None, None],
        "cancel_reason": [None, None],
    }
    for column, values in new.items():
        orders[column] = [*orders[column], *values]
    more_lines: dict[str, list[object]] = {
        "line_id": ["o-6.1", "o-6.2", "o-7.1"],
        "order_id": ["o-6", "o-6", "o-7"],
        "line_no": [1, 2, 1],
        "sku_id": ["k-1", "k-3", "k-2"],
        "quantity": [2, 1, 1],
        "unit_price_fen": [6_800, 12_800, 7_200],
        "merchant_discount_fen": [600, 0, 0],
        "platform_discount_fen": [0, 1_000, 0],
        "offer_id": [None, None, None],
        "commission_bps": [0, 0, 0],
    }
    out["order_lines"] = {c: [*lines[c], *more_lines[c]] for c in lines}
    reviews = out["reviews"]
    reviews["line_id"] = [None] * len(reviews["review_id"])
    added: dict[str, list[object]] = {
        "review_id": ["r-4", "r-5"],
        "order_id": ["o-6", "o-6"],
        "line_id": ["o-6.1", "o-6.2"],
        "stars": [5, 3],
        "text": ["The 250 g is lovely", "The 500 g tin came scratched"],
        "created_at": ["2025-03-11T09:00:00+08:00", "2025-03-11T09:05:00+08:00"],
    }
    for column, values in added.items():
        reviews[column] = [*reviews[column], *values]
    after_sales = out["after_sales"]
    after_sales["line_id"] = [None] * len(after_sales["request_id"])
    after_sales["quantity"] = [None] * len(after_sales["request_id"])
    requested: dict[str, list[object]] = {
        "request_id": ["a-2"],
        "order_id": ["o-6"],
        "line_id": ["o-6.2"],
        "quantity": [1],
        "kind": ["refund_only"],
        "reason": ["damaged_in_transit"],
        "status": ["refunded"],
        "refund_fen": [1_500],
        "responsible_party": [None],
        "dispute_outcome": [None],
        "created_at": ["2025-03-11T10:00:00+08:00"],
        "handled_at": ["2025-03-11T12:00:00+08:00"],
        "resolved_at": ["2025-03-11T12:00:00+08:00"],
    }
    for column, values in requested.items():
        after_sales[column] = [*after_sales[column], *values]
    return out


#: Each file's rows, column by column, in the current version.
EXAMPLE: Example = _version_2(EXAMPLE_V1)
_EXAMPLES = {1: EXAMPLE_V1, 2: EXAMPLE}


def write_example(folder: Path, *, version: int = FORMAT_VERSION) -> list[Path]:
    """Write the example's files of ``version`` into ``folder`` (created if need be), and
    the declaration of its version; the files' paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    example = _EXAMPLES[version]
    if version >= 2:
        declared = folder / VERSION_FILE
        declared.write_text(json.dumps({"version": version}) + "\n", encoding="utf-8")
        paths.append(declared)
    for file in files(version):
        columns = example[file.name]
        frame = pl.DataFrame(
            {c.name: columns.get(c.name) for c in file.columns if c.name in columns},
            strict=False,
        )
        path = folder / f"{file.name}.csv"
        frame.write_csv(path)
        paths.append(path)
    return paths
