"""Set-based order actions: the same rules as :mod:`trustflow.orders.service`, per batch.

Used by the simulator and by bulk imports. A batch's facts are fetched as a whole (SKUs
locked, stock counted, offers and content looked up once); each row is then held to the very
predicates of :mod:`trustflow.orders.rules` that one order is, and either becomes an order or
is refused with the same error code the one-at-a-time path would give. Within a batch, orders
are served in row order: once a SKU's stock is spent, later rows for it are refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.orm import Session

from trustflow.accounts.models import Buyer
from trustflow.bulk import (
    IntArray,
    execute_columns,
    execute_many,
    existing_ids,
    existing_pairs,
    fetch_by_ids,
    fetch_map,
    insert_columns,
    insert_many,
    insert_returning_ids,
    table,
)
from trustflow.catalog.models import Product, Shop, ShopTransitTime, Sku
from trustflow.content.models import LiveSession, ShortVideo
from trustflow.distribution.models import CreatorSelection, DistributionOffer
from trustflow.errors import Conflict, ErrorCode, InvalidInput
from trustflow.orders import commission, rules
from trustflow.orders.models import (
    CancelReason,
    ContentKind,
    Order,
    OrderEvent,
    OrderLine,
    OrderStatus,
    Payment,
)
from trustflow.orders.service import (
    LineRequest,
    OrderRequest,
    PricedLine,
    mark_checkouts_paid,
    new_order_row,
)
from trustflow.vocabulary import Channel, Surface

__all__ = [
    "BatchResult",
    "OrderBatch",
    "advance_orders",
    "place_orders",
]

_orders, _skus, _events = table(Order), table(Sku), table(OrderEvent)
_lines = table(OrderLine)


@dataclass
class OrderBatch:
    """Columns of many order requests (0 / "" mean "none" in the optional columns)."""

    buyer_id: IntArray
    sku_id: IntArray
    quantity: IntArray
    channel: Sequence[Channel]
    idempotency_key: Sequence[str]
    creator_id: IntArray
    content_kind: Sequence[ContentKind | None]
    content_id: IntArray
    surface: Sequence[str | None]
    merchant_discount_fen: IntArray
    platform_discount_fen: IntArray
    #: the row heading each row's order: rows with another head are further lines of that
    #: order (their buyer, key, channel, creator and content are the head's); None: every
    #: row is an order of one line
    head: IntArray | None = None

    def __len__(self) -> int:
        return len(self.buyer_id)

    def heads(self) -> IntArray:
        return np.arange(len(self)) if self.head is None else np.asarray(self.head, np.int64)


@dataclass
class BatchResult:
    """``order_id[i]`` is the order row ``i`` became (or replayed), 0 if refused;
    ``replayed[i]``: the row named an order placed before (its key), not a new one."""

    order_id: IntArray
    refused: dict[int, ErrorCode] = field(default_factory=dict)
    replayed: npt.NDArray[np.bool_] | None = None

    @property
    def placed(self) -> IntArray:
        return self.order_id[self.order_id > 0]


def place_orders(
    session: Session, batch: OrderBatch, *, at: datetime, dry_run: bool = False
) -> BatchResult:
    """Place the batch's orders, each row judged by the rules one order is held to.
    ``dry_run``: judge only, and write nothing: which rows would be refused, and which would
    replay an earlier order (a caller that gives rows something first, such as campaign prices,
    serves only the rows that will be placed)."""
    n = len(batch)
    order_id = np.zeros(n, dtype=np.int64)
    replayed = np.zeros(n, dtype=bool)
    refused: dict[int, ErrorCode] = {}
    if n == 0:
        return BatchResult(order_id=order_id, replayed=replayed)
    ok = np.ones(n, dtype=bool)

    def refuse(i: int, code: ErrorCode | None) -> None:
        if code is not None:
            refused[i] = code
            ok[i] = False

    def remaining() -> list[int]:
        """The rows no rule has refused yet."""
        rows: list[int] = np.flatnonzero(ok).tolist()
        return rows

    # Each row meets the rules of orders/rules.py in the order the one-at-a-time path checks
    # them, so a row is refused with the code its own request would get there; only the facts
    # the rules need are fetched once for the whole batch.
    qty = np.asarray(batch.quantity, dtype=np.int64)
    creator = np.asarray(batch.creator_id, dtype=np.int64)
    mdisc = np.asarray(batch.merchant_discount_fen, dtype=np.int64)
    pdisc = np.asarray(batch.platform_discount_fen, dtype=np.int64)
    content_id = np.asarray(batch.content_id, dtype=np.int64)
    buyer_ids, sku_ids = batch.buyer_id.tolist(), batch.sku_id.tolist()
    head = batch.heads()
    lines_of: dict[int, list[int]] = {}  # each order's rows, its head first
    for i, h in enumerate(head.tolist()):
        lines_of.setdefault(h, []).append(i)
    if any(lines_of.get(h, [h])[0] != h for h in lines_of):
        raise InvalidInput("a row heading an order comes before its further lines")
    for i in range(n):
        refuse(i, _request_refusal(batch, i))
    for rows in lines_of.values():
        if len(rows) > 1:
            for i in rows:
                refuse(i, rules.lines_refusal([sku_ids[r] for r in rows]))

    def spread() -> None:
        """An order is placed whole or not at all: a refused line refuses its order, every
        line of it with the first code one of them got."""
        for rows in lines_of.values():
            codes = [refused[r] for r in rows if r in refused]
            if codes and len(rows) > 1:
                for r in rows:
                    refused.setdefault(r, codes[0])
                    ok[r] = False

    products, shops = table(Product), table(Shop)
    info = fetch_map(
        session,
        select(
            _skus.c.id,
            _skus.c.price_fen,
            _skus.c.stock,
            _skus.c.product_id,
            products.c.status,
            products.c.shop_id,
            shops.c.status,
            shops.c.handling_hours,
        )
        .join(products, products.c.id == _skus.c.product_id)
        .join(shops, shops.c.id == products.c.shop_id),
        _skus.c.id,
        batch.sku_id[ok],
        for_update=True,
    )
    for i in remaining():
        if sku_ids[i] not in info:
            refuse(i, ErrorCode.NOT_FOUND)

    # Replays: keys this buyer already used return the first order, as one at a time would.
    keys = list(batch.idempotency_key)
    seen = existing_pairs(
        session,
        _orders.c.buyer_id,
        _orders.c.idempotency_key,
        [(buyer_ids[i], keys[i]) for i in remaining()],
        _orders.c.id,
        _orders.c.request_hash,
    )
    first_in_batch: dict[tuple[int, str], int] = {}
    duplicate_of = np.full(n, -1, dtype=np.int64)
    for i in remaining():
        if head[i] != i:
            continue  # a further line: its order's key is its head's
        k = (buyer_ids[i], keys[i])
        rows = lines_of[i]
        if k in seen:
            existing_id, existing_hash = seen[k]
            if _request(batch, i, rows).fingerprint() == existing_hash:
                order_id[rows] = existing_id
                replayed[rows] = True
            else:
                for r in rows:
                    refused[r] = ErrorCode.IDEMPOTENCY_KEY_REUSED
            ok[rows] = False
        elif k in first_in_batch:
            duplicate_of[rows] = first_in_batch[k]
            ok[rows] = False
        else:
            first_in_batch[k] = i

    buyers = existing_ids(session, table(Buyer), batch.buyer_id[ok])
    for i in remaining():
        if buyer_ids[i] not in buyers:
            refuse(i, ErrorCode.NOT_FOUND)

    def get(col: int) -> npt.NDArray[Any]:
        """One column of the SKU facts, aligned with the batch's rows."""
        return np.array([info[s][col] if s in info else 0 for s in sku_ids], dtype=object)

    price = get(1).astype(np.int64)
    product_id = get(3).astype(np.int64)
    shop_id = get(5).astype(np.int64)
    for i in remaining():
        _, _, _, _, listing, _, shop_status, _ = info[sku_ids[i]]
        refuse(
            i,
            rules.listing_refusal(listing)
            or rules.shop_refusal(shop_status)
            or rules.same_shop_refusal(int(shop_id[i]), int(shop_id[head[i]]))
            or rules.excess_discount_refusal(
                int(price[i]) * int(qty[i]), int(mdisc[i]), int(pdisc[i])
            ),
        )

    is_dist = np.array([c is Channel.DISTRIBUTION for c in batch.channel], dtype=bool)
    offer_id, bps = _offer_terms(session, creator, product_id, is_dist & ok, at)
    for i in remaining():
        refuse(i, rules.offer_refusal(batch.channel[i], int(offer_id[i]) or None))
    for i, code in _content_refusals(
        session, batch, remaining(), content_id, shop_id, creator, at
    ).items():
        refuse(i, code)

    spread()
    # Stock: serve the orders in the batch's order while their SKUs' stock lasts, each order
    # whole or not at all, as one at a time would.
    stock = {s: int(info[s][2]) for s in set(sku_ids) if s in info}
    for h in remaining():
        if head[h] != h:
            continue
        rows = lines_of[h]
        if all(stock[sku_ids[r]] >= qty[r] for r in rows):
            for r in rows:
                stock[sku_ids[r]] -= int(qty[r])
        else:
            for r in rows:
                refuse(r, ErrorCode.OUT_OF_STOCK)
    spread()

    if dry_run:
        replayed[duplicate_of >= 0] = True
        return BatchResult(order_id=order_id, refused=refused, replayed=replayed)
    rows_idx = np.flatnonzero(ok)
    heads_idx = rows_idx[head[rows_idx] == rows_idx]
    if len(heads_idx):
        promises = _promises(session, batch, heads_idx, shop_id, get(7), at)
        priced = {
            i: PricedLine(
                sku_id=sku_ids[i],
                product_id=int(product_id[i]),
                quantity=int(qty[i]),
                unit_price_fen=int(price[i]),
                merchant_discount_fen=int(mdisc[i]),
                platform_discount_fen=int(pdisc[i]),
                offer_id=int(offer_id[i]) or None,
                commission_bps=int(bps[i]),
            )
            for i in rows_idx.tolist()
        }
        heads = heads_idx.tolist()
        order_rows = [
            new_order_row(
                _request(batch, h, lines_of[h]),
                shop_id=int(shop_id[h]),
                lines=[priced[r] for r in lines_of[h]],
                at=at,
                promise=promises[h][0],
                region=promises[h][1],
            )
            for h in heads
        ]
        new_ids = insert_returning_ids(session, _orders, order_rows)
        for h, oid in zip(heads, new_ids.tolist(), strict=True):
            order_id[lines_of[h]] = oid
        insert_many(
            session,
            _lines,
            [
                priced[r].row(order_id=oid, line_no=no, at=at)
                for h, oid in zip(heads, new_ids.tolist(), strict=True)
                for no, r in enumerate(lines_of[h], start=1)
            ],
        )
        _reserve(session, batch.sku_id[rows_idx], qty[rows_idx])
        insert_columns(
            session,
            _events,
            {
                "order_id": new_ids,
                "action": "place",
                "from_status": None,
                "to_status": OrderStatus.PENDING_PAYMENT.value,
                "actor": "bulk",
                "at": at,
            },
            rows=len(new_ids),
        )
    for i in np.flatnonzero(duplicate_of >= 0).tolist():
        order_id[i] = order_id[duplicate_of[i]]
        replayed[i] = True
    return BatchResult(order_id=order_id, refused=refused, replayed=replayed)


def _promises(
    session: Session,
    batch: OrderBatch,
    rows_idx: IntArray,
    shop_id: IntArray,
    handling_hours: npt.NDArray[Any],
    at: datetime,
) -> dict[int, tuple[rules.Promise, str | None]]:
    """Each placed row's promise and destination, as one at a time: the shop's handling time,
    its transit time for the buyer's region (else its ``*`` row, else the default)."""
    regions = {
        row[0]: row[1]
        for row in fetch_by_ids(
            session,
            select(table(Buyer).c.id, table(Buyer).c.region),
            table(Buyer).c.id,
            batch.buyer_id[rows_idx],
        )
    }
    transit = table(ShopTransitTime)
    windows = {
        (row[0], row[1]): (row[2], row[3])
        for row in fetch_by_ids(
            session,
            select(transit.c.shop_id, transit.c.region, transit.c.min_hours, transit.c.max_hours),
            transit.c.shop_id,
            shop_id[rows_idx],
        )
    }
    out: dict[int, tuple[rules.Promise, str | None]] = {}
    cache: dict[tuple[int, str | None], rules.Promise] = {}
    for i in rows_idx.tolist():
        shop, region = int(shop_id[i]), regions.get(int(batch.buyer_id[i]))
        key = (shop, region)
        if key not in cache:
            hours = windows.get((shop, region)) if region is not None else None
            cache[key] = rules.promise(
                at,
                handling_hours=int(handling_hours[i]),
                transit_hours=hours or windows.get((shop, "*")) or rules.DEFAULT_TRANSIT_HOURS,
            )
        out[i] = (cache[key], region)
    return out


def _request(batch: OrderBatch, i: int, rows: Sequence[int] = ()) -> OrderRequest:
    """Row ``i`` as the one-at-a-time request it stands for, with its order's further lines
    (``rows``: the order's rows, ``i`` first)."""
    surface = batch.surface[i]
    more = tuple(
        LineRequest(
            int(batch.sku_id[r]),
            int(batch.quantity[r]),
            int(batch.merchant_discount_fen[r]),
            int(batch.platform_discount_fen[r]),
        )
        for r in rows[1:]
    )
    return OrderRequest(
        more_lines=more,
        buyer_id=int(batch.buyer_id[i]),
        sku_id=int(batch.sku_id[i]),
        quantity=int(batch.quantity[i]),
        channel=batch.channel[i],
        idempotency_key=batch.idempotency_key[i],
        creator_id=int(batch.creator_id[i]) or None,
        content_kind=batch.content_kind[i],
        content_id=int(batch.content_id[i]) or None,
        surface=Surface(surface) if surface else None,
        merchant_discount_fen=int(batch.merchant_discount_fen[i]),
        platform_discount_fen=int(batch.platform_discount_fen[i]),
    )


def _request_refusal(batch: OrderBatch, i: int) -> ErrorCode | None:
    """What the rules say of row ``i``'s request alone, read as :func:`_request` reads it."""
    return (
        rules.quantity_refusal(int(batch.quantity[i]))
        or rules.idempotency_key_refusal(batch.idempotency_key[i])
        or rules.negative_discount_refusal(
            int(batch.merchant_discount_fen[i]), int(batch.platform_discount_fen[i])
        )
        or rules.creator_refusal(batch.channel[i], int(batch.creator_id[i]) or None)
        or rules.content_pairing_refusal(batch.content_kind[i], int(batch.content_id[i]) or None)
    )


def _offer_terms(
    session: Session,
    creator: IntArray,
    product_id: IntArray,
    mask: npt.NDArray[np.bool_],
    at: datetime,
) -> tuple[IntArray, IntArray]:
    """Best valid offer (id, bps) each creator selected for each product, as of ``at``."""
    n = len(creator)
    offer_id = np.zeros(n, dtype=np.int64)
    bps = np.zeros(n, dtype=np.int64)
    if not mask.any():
        return offer_id, bps
    offers, selections = table(DistributionOffer), table(CreatorSelection)
    best: dict[tuple[int, int], tuple[int, int]] = {}
    rows = fetch_by_ids(
        session,
        select(selections.c.creator_id, offers.c.product_id, offers.c.id, offers.c.commission_bps)
        .join(offers, offers.c.id == selections.c.offer_id)
        .where(
            offers.c.valid_from <= at,
            or_(offers.c.valid_until.is_(None), offers.c.valid_until > at),
        ),
        selections.c.creator_id,
        creator[mask],
    )
    for c, p, o, b in rows:
        current = best.get((c, p))
        if current is None or (b, -o) > (current[1], -current[0]):
            best[(c, p)] = (o, b)
    for i in np.flatnonzero(mask).tolist():
        found = best.get((int(creator[i]), int(product_id[i])))
        if found is not None:
            offer_id[i], bps[i] = found
    return offer_id, bps


def _content_refusals(
    session: Session,
    batch: OrderBatch,
    rows: list[int],
    content_id: IntArray,
    shop_id: IntArray,
    creator: IntArray,
    at: datetime,
) -> dict[int, ErrorCode]:
    """The rows among ``rows`` whose content the rules refuse, with why; each kind of content
    is fetched once for the batch."""
    out: dict[int, ErrorCode] = {}
    live_rows = [i for i in rows if batch.content_kind[i] is ContentKind.LIVE_SESSION]
    if live_rows:
        lives = table(LiveSession)
        facts = fetch_map(
            session,
            select(lives.c.id, lives.c.status, lives.c.shop_id, lives.c.creator_id),
            lives.c.id,
            content_id[live_rows],
        )
        for i in live_rows:
            live = facts.get(int(content_id[i]))
            code = rules.live_session_refusal(
                batch.channel[i],
                shop_id=int(shop_id[i]),
                creator_id=int(creator[i]) or None,
                live_status=None if live is None else live[1],
                host_shop_id=None if live is None else live[2],
                host_creator_id=None if live is None else live[3],
            )
            if code is not None:
                out[i] = code
    video_rows = [i for i in rows if batch.content_kind[i] is ContentKind.SHORT_VIDEO]
    if video_rows:
        videos = table(ShortVideo)
        posted = dict(
            fetch_by_ids(
                session,
                select(videos.c.id, videos.c.posted_at),
                videos.c.id,
                content_id[video_rows],
            )
        )
        for i in video_rows:
            code = rules.short_video_refusal(posted.get(int(content_id[i])), at)
            if code is not None:
                out[i] = code
    return out


_TAKE_STOCK = (
    update(_skus)
    .where(_skus.c.id == bindparam("sku"), _skus.c.stock >= bindparam("qty"))
    .values(stock=_skus.c.stock - bindparam("qty"))
)
_RETURN_STOCK = (
    update(_skus)
    .where(_skus.c.id == bindparam("sku"))
    .values(stock=_skus.c.stock + bindparam("qty"))
)


def _per_sku(sku_ids: IntArray, quantities: IntArray) -> list[dict[str, int]]:
    skus, inverse = np.unique(sku_ids, return_inverse=True)
    totals = np.bincount(inverse, weights=quantities).astype(np.int64)
    return [{"sku": int(s), "qty": int(q)} for s, q in zip(skus, totals, strict=True)]


def _reserve(session: Session, sku_ids: IntArray, quantities: IntArray) -> None:
    params = _per_sku(sku_ids, quantities)
    # one atomic update per SKU; the count of rows changed proves none would go negative
    if execute_many(session, _TAKE_STOCK, params) != len(params):
        raise Conflict("stock changed under the batch", code=ErrorCode.OUT_OF_STOCK)


def advance_orders(
    session: Session,
    order_ids: Sequence[int] | IntArray,
    action: str,
    at: datetime | Sequence[datetime],
    *,
    actor: str = "bulk",
    reason: CancelReason | None = None,
) -> IntArray:
    """Apply one named action to many orders; returns the ids it applied to (``reason``:
    why, for ``cancel``).

    Orders whose state does not allow the action, or whose last event is later than the
    action's time, are left untouched (and not returned), exactly as the one-at-a-time action
    would refuse them. ``at`` is one time or one per order.
    """
    if action not in rules.TRANSITIONS.moves:
        raise InvalidInput(f"unknown order action {action!r}")
    if (action == "cancel") != (reason is not None):
        raise InvalidInput("a cancellation needs its reason, and only a cancellation has one")
    ids = np.asarray(order_ids, dtype=np.int64)
    when = [at] * len(ids) if isinstance(at, datetime) else list(at)
    if len(when) != len(ids):
        raise InvalidInput("one time per order, or one for all")
    sources, target = rules.TRANSITIONS.sources(action), rules.TRANSITIONS.target(action)
    facts = fetch_map(
        session,
        select(
            _orders.c.id,
            _orders.c.status,
            _orders.c.paid_amount_fen,
            *(_orders.c[s] for s in rules.STAMPS),
        ),
        _orders.c.id,
        ids,
        for_update=True,
    )
    # as one at a time: the state must allow the action, and it may not precede the last event
    chosen = [
        i
        for i, o in enumerate(ids.tolist())
        if o in facts and facts[o][1] in sources and when[i] >= rules.last_event_at(*facts[o][3:])
    ]
    # A batch may name an order twice: the first mention acts, a repeat would be illegal.
    unique: dict[int, int] = {}
    for i in chosen:
        unique.setdefault(int(ids[i]), i)
    if not unique:
        return np.zeros(0, dtype=np.int64)
    stamp = rules.TIMESTAMP_FIELD[action]
    stmt = (
        update(_orders)
        .where(_orders.c.id == bindparam("oid"), _orders.c.status == bindparam("was"))
        .values({"status": target, stamp: bindparam("at"), "updated_at": bindparam("at")})
    )
    done = np.fromiter(unique.keys(), dtype=np.int64, count=len(unique))
    times = [when[i] for i in unique.values()]
    columns: dict[str, Any] = {"oid": done, "was": [facts[o][1] for o in unique], "at": times}
    if (
        reason is not None
    ):  # a cancellation, as one at a time: the reason, its party, the paid amount back
        stmt = stmt.values(
            cancel_reason=reason,
            cancel_party=rules.CANCEL_REASONS[reason].party,
            cancel_refund_fen=bindparam("refund"),
        )
        columns["refund"] = [
            facts[o][2] if facts[o][1] != OrderStatus.PENDING_PAYMENT else 0 for o in unique
        ]
    execute_columns(session, stmt, columns, rows=len(done))
    if action == "pay":
        insert_columns(
            session,
            table(Payment),
            {
                "order_id": done,
                "amount_fen": [facts[o][2] for o in unique],
                "idempotency_key": [f"bulk-pay-{o}" for o in unique],
                "created_at": times,
            },
            rows=len(done),
        )
        commission.accrue_commissions(session, done, at=times)
        # the checkouts of the orders paid (a bulk order has one when a coupon was used on it)
        in_checkouts = fetch_by_ids(session, select(_orders.c.checkout_id), _orders.c.id, done)
        mark_checkouts_paid(session, {int(c) for (c,) in in_checkouts if c is not None})
    if action == "cancel":
        # every line's units go back on sale
        lines = fetch_by_ids(
            session, select(_lines.c.sku_id, _lines.c.quantity), _lines.c.order_id, done
        )
        skus = np.array([line[0] for line in lines], dtype=np.int64)
        qty = np.array([line[1] for line in lines], dtype=np.int64)
        execute_many(session, _RETURN_STOCK, _per_sku(skus, qty))
        paid = [o for o in unique if facts[o][1] != OrderStatus.PENDING_PAYMENT]
        commission.reverse_commissions(
            session,
            paid,
            [commission.REVERSE_CANCEL] * len(paid),
            [facts[o][2] for o in paid],
            at=[when[unique[o]] for o in paid],
        )
    insert_columns(
        session,
        _events,
        {
            "order_id": done,
            "action": action,
            "from_status": [facts[o][1].value for o in unique],
            "to_status": target.value,
            "actor": actor,
            "at": times,
        },
        rows=len(done),
    )
    return done
