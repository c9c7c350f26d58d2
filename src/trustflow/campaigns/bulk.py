"""Campaign prices and platform coupons for a batch of orders: the bulk order path's
(the simulator's, an import's) side of :mod:`trustflow.campaigns.checkout`, by the same rules.

:func:`discount_batch` runs before :func:`trustflow.orders.bulk.place_orders` and says what
comes off each row; :func:`record_batch` runs after it, with what was placed. Everything a
batch uses is taken first, each by one guarded update, as the checkout takes it:

- a campaign offer's units (``sold + units <= quantity``, per registration), in row order
  while they last (:func:`~trustflow.campaigns.checkout.campaign_offers` finds the offer);
- a subsidised offer's subsidy from its campaign's budget and its shop's cap, in row order
  while they cover it (:func:`~trustflow.campaigns.subsidies.take_subsidies`);
- a platform coupon's budget and its campaign's subsidy (``committed + amount <= budget``),
  for the batch's uses in row order while they fit;
- each claim's move from claimed to reserved (``WHERE status = 'claimed'``).

What the order rules then refuse is given back, each by a guarded update the other way. So
the bulk path can neither sell past a registration's quantity nor spend past a budget, and a
claim is used once. A couponed order is placed in a checkout of its own, as the buyer's
checkout would be, and from then on the claim lives as any other: paid, redeemed; cancelled
unpaid, released; refunded in full, its value back to the budget
(:func:`~trustflow.campaigns.checkout.settle_claims`).

The bulk path applies platform coupons (a festival's): one per order, the buyer's claims in
the order they were made. Merchant coupons go through the checkout.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

import numpy as np
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from trustflow.bulk import (
    IntArray,
    execute_columns,
    existing_pairs,
    fetch_by_ids,
    fetch_map,
    insert_columns,
    insert_returning_ids,
    rowcount,
    table,
)
from trustflow.campaigns import rules, subsidies
from trustflow.campaigns.checkout import offers_by_sku
from trustflow.campaigns.models import (
    Campaign,
    CampaignRegistration,
    CampaignSale,
    ClaimStatus,
    Coupon,
    CouponClaim,
    CouponEvent,
    CouponHolding,
    CouponIssuer,
)
from trustflow.catalog.models import Sku
from trustflow.errors import InvalidInput
from trustflow.orders import bulk as orders_bulk
from trustflow.orders.bulk import BatchResult, OrderBatch
from trustflow.orders.models import Checkout, CheckoutStatus, Order, OrderLine

__all__ = ["BatchDiscounts", "claim_coupon_bulk", "discount_batch", "place_batch", "record_batch"]

_claims, _coupons, _campaigns = table(CouponClaim), table(Coupon), table(Campaign)
_registrations, _holdings = table(CampaignRegistration), table(CouponHolding)
_events = table(CouponEvent)


@dataclass
class BatchDiscounts:
    """What comes off each row of a batch, and what was taken to give it."""

    #: per row: the merchant's discount (the campaign price) and the platform's (a product
    #: subsidy and a coupon)
    merchant_fen: IntArray
    platform_fen: IntArray
    #: per row: the registration whose campaign price it sells at (0: none), units, what the
    #: merchant takes off each unit and what the platform pays of each (its subsidy)
    registration_id: IntArray
    quantity: IntArray
    unit_discount_fen: IntArray
    unit_subsidy_fen: IntArray
    #: per row heading an order: the claim used on it (0: none), its coupon and its value
    claim_id: IntArray
    coupon_id: IntArray
    claim_fen: IntArray
    #: the row heading each row's order
    head: IntArray
    buyer_id: IntArray
    #: rows of an order placed before with the same key: given what it was given, took nothing
    replay: np.ndarray
    #: each registration used: its campaign and shop (whose subsidy budgets a row took from)
    owner: dict[int, tuple[int, int]] = field(default_factory=dict)


def discount_batch(
    session: Session,
    *,
    buyer_id: IntArray,
    sku_id: IntArray,
    quantity: IntArray,
    head: IntArray | None = None,
    at: datetime,
    idempotency_key: Sequence[str] | None = None,
    refused: Collection[int] = (),
    actor: str = "bulk",
) -> BatchDiscounts:
    """Take the batch's campaign units, coupon budgets and claims, and say what comes off
    each row (the columns :class:`~trustflow.orders.bulk.OrderBatch` takes). Rows are served
    in their order; ``head`` as the order batch's.

    With ``idempotency_key``, a row whose order the buyer placed before (a retried batch) is
    given what its order was given then, and takes nothing. Rows in ``refused`` (those the
    order rules will refuse: :func:`place_batch` learns them from a dry run) take nothing, so
    they hold nothing back from later rows."""
    n = len(sku_id)
    head = np.arange(n) if head is None else np.asarray(head, dtype=np.int64)
    qty = np.asarray(quantity, dtype=np.int64)
    zeros = np.zeros(n, dtype=np.int64)
    out = BatchDiscounts(
        merchant_fen=zeros.copy(),
        platform_fen=zeros.copy(),
        registration_id=zeros.copy(),
        quantity=qty,
        unit_discount_fen=zeros.copy(),
        unit_subsidy_fen=zeros.copy(),
        claim_id=zeros.copy(),
        coupon_id=zeros.copy(),
        claim_fen=zeros.copy(),
        head=head,
        buyer_id=np.asarray(buyer_id, dtype=np.int64),
        replay=np.zeros(n, dtype=bool),
    )
    if n == 0:
        return out
    if idempotency_key is not None:
        _replays(session, out, idempotency_key)
    serve = ~out.replay
    serve[[r for r in refused if 0 <= r < n]] = False
    serve &= np.bincount(head, weights=~serve, minlength=n)[head] == 0  # orders whole
    skus = table(Sku)
    price_of = fetch_map(session, select(skus.c.id, skus.c.price_fen), skus.c.id, sku_id)
    price = np.array([price_of[s][1] if s in price_of else 0 for s in sku_id.tolist()])
    _take_campaign_units(session, out, sku_id, price, at, serve)
    left = price * qty - out.merchant_fen - out.platform_fen
    _take_coupons(session, out, left, at, actor, serve)
    return out


def _replays(session: Session, out: BatchDiscounts, keys: Sequence[str]) -> None:
    """Rows of orders the buyer placed before with the same key: what their lines were given
    then (by line number), so the retried row replays its order instead of being refused."""
    orders, lines = table(Order), table(OrderLine)
    heads = np.flatnonzero(out.head == np.arange(len(out.head)))
    pairs = [(int(out.buyer_id[h]), keys[h]) for h in heads.tolist()]
    found = existing_pairs(session, orders.c.buyer_id, orders.c.idempotency_key, pairs, orders.c.id)
    if not found:
        return
    order_of = {
        h: int(found[p][0]) for h, p in zip(heads.tolist(), pairs, strict=True) if p in found
    }
    given = {
        (int(o), int(no)): (int(m), int(p))
        for o, no, m, p in fetch_by_ids(
            session,
            select(
                lines.c.order_id,
                lines.c.line_no,
                lines.c.merchant_discount_fen,
                lines.c.platform_discount_fen,
            ),
            lines.c.order_id,
            sorted(order_of.values()),
        )
    }
    number = _line_numbers(out.head)
    for r, h in enumerate(out.head.tolist()):
        if h in order_of:
            out.replay[r] = True
            m, p = given.get((order_of[h], int(number[r])), (0, 0))
            out.merchant_fen[r], out.platform_fen[r] = m, p


def _take_campaign_units(
    session: Session,
    out: BatchDiscounts,
    sku_id: IntArray,
    price: IntArray,
    at: datetime,
    serve: np.ndarray,
) -> None:
    """The campaign price for each row whose SKU has an offer, while its units last: a row
    they cannot cover pays the list price (as at the checkout)."""
    listed = offers_by_sku(session, set(sku_id.tolist()), at)
    every = [offer for offers in listed.values() for offer, _ in offers]
    # lock order (campaigns/subsidies.py): every campaign whose subsidy budget the batch may
    # take from (its subsidised offers', its platform coupons') first
    paying = select(_coupons.c.campaign_id).where(
        _coupons.c.campaign_id.is_not(None), _coupons.c.valid_from <= at, _coupons.c.valid_to > at
    )
    subsidies.lock_campaigns(
        session,
        {o.campaign_id for o in every if o.unit_subsidy_fen}
        | {int(c) for c in session.scalars(paying.distinct())},
    )
    if not listed:
        return
    # who each campaign keeps out, among the batch's buyers
    held_out = {
        offer.campaign_id: rules.in_holdout(offer.campaign_id, out.buyer_id, bps)
        for offers in listed.values()
        for offer, bps in offers
    }
    # the units left as the store has them now (the session may hold an offer read earlier)
    left = {
        int(rid): int(quantity - sold)
        for rid, quantity, sold in session.execute(
            select(_registrations.c.id, _registrations.c.quantity, _registrations.c.sold).where(
                _registrations.c.id.in_(sorted(o.id for o in every))
            )
        )
    }
    taken: dict[int, list[int]] = defaultdict(list)
    for i in np.flatnonzero(serve & (out.quantity >= 1) & np.isin(sku_id, list(listed))).tolist():
        # the checkout's rule (campaign_offers): the lowest price of a campaign that does not
        # keep this buyer out
        offer = next((o for o, _ in listed[int(sku_id[i])] if not held_out[o.campaign_id][i]), None)
        if offer is None or price[i] <= offer.campaign_price_fen:
            continue  # held out of every offer, or no cut
        if out.quantity[i] <= left[offer.id]:
            left[offer.id] -= int(out.quantity[i])
            taken[offer.id].append(i)
    by_id = {o.id: o for o in every}
    for registration_id, rows in sorted(taken.items()):  # registrations in id order
        units = int(out.quantity[rows].sum())
        took = rowcount(
            session.execute(
                update(_registrations)
                .where(
                    _registrations.c.id == registration_id,
                    _registrations.c.sold + units <= _registrations.c.quantity,
                )
                .values(sold=_registrations.c.sold + units)
            )
        )
        if took != 1:
            continue  # sold meanwhile on another connection: these rows pay the list price
        offer = by_id[registration_id]
        unit = price[rows] - offer.campaign_price_fen
        out.registration_id[rows] = registration_id
        out.unit_discount_fen[rows] = unit
        out.merchant_fen[rows] = unit * out.quantity[rows]
        out.owner[registration_id] = (offer.campaign_id, offer.shop_id)
        if offer.unit_subsidy_fen:
            # the subsidy, in row order while the campaign's budget and the shop's cap last
            paid = rows[
                : subsidies.take_subsidies(
                    session,
                    offer.campaign_id,
                    offer.shop_id,
                    offer.unit_subsidy_fen * out.quantity[rows],
                    at,
                )
            ]
            out.unit_subsidy_fen[paid] = offer.unit_subsidy_fen
            out.platform_fen[paid] = offer.unit_subsidy_fen * out.quantity[paid]


def _take_coupons(
    session: Session,
    out: BatchDiscounts,
    left: IntArray,
    at: datetime,
    actor: str,
    serve: np.ndarray,
) -> None:
    """Each order's platform coupon: the buyer's next claim of a coupon valid now that takes
    something off what the order has left to pay (an order below every threshold uses none),
    while the coupon's budget and its campaign's subsidy cover the batch's uses in row order."""
    heads = np.flatnonzero((out.head == np.arange(len(out.head))) & serve)
    goods = np.bincount(out.head, weights=left, minlength=len(out.head)).astype(np.int64)
    claims = _open_claims(session, set(out.buyer_id[heads].tolist()), at)
    if not claims:
        return
    # the k-th order of a buyer in the batch uses the buyer's k-th claim
    used: dict[int, int] = defaultdict(int)
    chosen: dict[int, list[tuple[int, int]]] = defaultdict(list)  # coupon -> (head, claim)
    terms: dict[int, rules.CouponTerms] = {}
    for h in heads.tolist():
        buyer = int(out.buyer_id[h])
        mine = claims.get(buyer, [])
        if used[buyer] < len(mine):
            claim_id, coupon_id, coupon_terms = mine[used[buyer]]
            if rules.discounts_fen(coupon_terms, goods[[h]])[0] == 0:
                continue  # below its threshold: the claim waits for another order
            used[buyer] += 1
            chosen[coupon_id].append((h, claim_id))
            terms[coupon_id] = coupon_terms
    for coupon_id, uses in chosen.items():
        rows = np.array([h for h, _ in uses], dtype=np.int64)
        off = rules.discounts_fen(terms[coupon_id], goods[rows])
        keep = off > 0
        rows, off = rows[keep], off[keep]
        claim_ids = np.array([c for (_, c), k in zip(uses, keep, strict=True) if k])
        admitted = _take_budget(session, coupon_id, off, at)
        rows, off, claim_ids = rows[:admitted], off[:admitted], claim_ids[:admitted]
        if admitted == 0:
            continue
        moved = execute_columns(
            session,
            update(_claims)
            .where(
                _claims.c.id == bindparam("cid"),
                _claims.c.status == ClaimStatus.CLAIMED.value,
            )
            .values(status=ClaimStatus.RESERVED.value, amount_fen=bindparam("off"), updated_at=at),
            {"cid": claim_ids, "off": off},
            rows=len(claim_ids),
        )
        if moved != len(claim_ids):
            raise InvalidInput("a claim of this batch was used meanwhile; run the batch again")
        out.claim_id[rows] = claim_ids
        out.coupon_id[rows] = coupon_id
        out.claim_fen[rows] = off
        by_head = np.argsort(out.head, kind="stable")  # each order's rows, found by bisection
        first = np.searchsorted(out.head[by_head], rows, side="left")
        last = np.searchsorted(out.head[by_head], rows, side="right")
        for amount, a, b in zip(off.tolist(), first.tolist(), last.tolist(), strict=True):
            lines = by_head[a:b]
            shares = rules.split(amount, left[lines].tolist())
            out.platform_fen[lines] += np.array(shares, dtype=np.int64)
        _coupon_events(session, coupon_id, claim_ids, off, "reserve", actor, at)


def _open_claims(
    session: Session, buyers: set[int], at: datetime
) -> dict[int, list[tuple[int, int, rules.CouponTerms]]]:
    """Each buyer's claims still to use of platform coupons valid at ``at``, oldest first."""
    rows = session.execute(
        select(
            CouponClaim.buyer_id,
            CouponClaim.id,
            Coupon.id,
            Coupon.kind,
            Coupon.threshold_fen,
            Coupon.amount_fen,
            Coupon.discount_bps,
        )
        .join(Coupon, Coupon.id == CouponClaim.coupon_id)
        .where(
            CouponClaim.buyer_id.in_(sorted(buyers)),
            CouponClaim.status == ClaimStatus.CLAIMED,
            Coupon.issuer == CouponIssuer.PLATFORM,
            Coupon.valid_from <= at,
            Coupon.valid_to > at,
        )
        .order_by(CouponClaim.id)
    ).all()
    out: dict[int, list[tuple[int, int, rules.CouponTerms]]] = defaultdict(list)
    for buyer, claim_id, coupon_id, kind, threshold, amount, bps in rows:
        out[int(buyer)].append(
            (int(claim_id), int(coupon_id), rules.CouponTerms(kind, threshold, amount, bps))
        )
    return out


def _take_budget(session: Session, coupon_id: int, off: IntArray, at: datetime) -> int:
    """Take the uses ``off`` from the coupon's budget and its campaign's subsidy, as many
    of them (in order) as both cover, in guarded updates; returns how many."""
    coupon = session.execute(
        select(
            _coupons.c.budget_fen,
            _coupons.c.committed_fen,
            _coupons.c.budget_count,
            _coupons.c.committed_count,
            _coupons.c.campaign_id,
        ).where(_coupons.c.id == coupon_id)
    ).one()
    room_fen = coupon.budget_fen - coupon.committed_fen
    room_count = coupon.budget_count - coupon.committed_count
    if coupon.campaign_id is not None:
        subsidy = session.execute(
            select(_campaigns.c.subsidy_budget_fen, _campaigns.c.subsidy_committed_fen).where(
                _campaigns.c.id == coupon.campaign_id
            )
        ).one()
        room_fen = min(room_fen, subsidy[0] - subsidy[1])
    cum = np.cumsum(off)
    admitted = int(min(np.searchsorted(cum, room_fen, side="right"), max(room_count, 0)))
    if admitted == 0:
        return 0
    total = int(cum[admitted - 1])
    with session.begin_nested() as savepoint:
        took = rowcount(
            session.execute(
                update(_coupons)
                .where(
                    _coupons.c.id == coupon_id,
                    _coupons.c.committed_fen + total <= _coupons.c.budget_fen,
                    _coupons.c.committed_count + admitted <= _coupons.c.budget_count,
                )
                .values(
                    committed_fen=_coupons.c.committed_fen + total,
                    committed_count=_coupons.c.committed_count + admitted,
                    updated_at=at,
                )
            )
        )
        if took == 1 and coupon.campaign_id is not None:
            took = rowcount(
                session.execute(
                    update(_campaigns)
                    .where(
                        _campaigns.c.id == coupon.campaign_id,
                        _campaigns.c.subsidy_committed_fen + total
                        <= _campaigns.c.subsidy_budget_fen,
                    )
                    .values(subsidy_committed_fen=_campaigns.c.subsidy_committed_fen + total)
                )
            )
        if took != 1:  # spent meanwhile on another connection: no coupon in this batch
            savepoint.rollback()
            return 0
    return admitted


def _coupon_events(
    session: Session,
    coupon_id: int,
    claim_ids: IntArray,
    amounts: IntArray,
    action: str,
    actor: str,
    at: datetime,
) -> None:
    insert_columns(
        session,
        _events,
        {
            "coupon_id": coupon_id,
            "claim_id": claim_ids,
            "action": action,
            "amount_fen": amounts,
            "actor": actor,
            "at": at,
        },
        rows=len(claim_ids),
    )


def place_batch(
    session: Session, batch: OrderBatch, *, at: datetime, actor: str = "bulk"
) -> tuple[BatchResult, BatchDiscounts]:
    """The bulk path with campaigns on, in one call: judge the batch without writing (a dry
    run of :func:`~trustflow.orders.bulk.place_orders`), give the rows that will be placed
    their campaign prices and coupons (:func:`discount_batch`; where a campaign gives an
    order anything, it replaces the order's other promotions), place the batch, and record
    what was taken (:func:`record_batch`)."""
    n = len(batch)
    head = batch.heads()
    judged = orders_bulk.place_orders(session, batch, at=at, dry_run=True)
    d = discount_batch(
        session,
        buyer_id=np.asarray(batch.buyer_id, dtype=np.int64),
        sku_id=np.asarray(batch.sku_id, dtype=np.int64),
        quantity=np.asarray(batch.quantity, dtype=np.int64),
        head=head,
        at=at,
        idempotency_key=batch.idempotency_key,
        # refused rows, and rows repeating an earlier row's key, take nothing
        refused=set(judged.refused)
        | set(np.flatnonzero(judged.replayed if judged.replayed is not None else []).tolist()),
        actor=actor,
    )
    given = (d.merchant_fen + d.platform_fen).astype(np.float64)
    touched = (np.bincount(head, weights=given, minlength=n)[head] > 0) | d.replay
    placed = orders_bulk.place_orders(
        session,
        replace(
            batch,
            merchant_discount_fen=np.where(touched, d.merchant_fen, batch.merchant_discount_fen),
            platform_discount_fen=np.where(touched, d.platform_fen, batch.platform_discount_fen),
        ),
        at=at,
    )
    record_batch(session, d, placed.order_id, at=at, replayed=placed.replayed, actor=actor)
    return placed, d


def record_batch(
    session: Session,
    discounts: BatchDiscounts,
    order_id: IntArray,
    *,
    at: datetime,
    replayed: np.ndarray | None = None,
    actor: str = "bulk",
) -> None:
    """After :func:`~trustflow.orders.bulk.place_orders`: each row sold at a campaign price
    becomes a :class:`CampaignSale`, each couponed order a checkout of its own holding the
    claim; what rows refused (``order_id`` 0) or replaying an earlier order took is given
    back."""
    d = discounts
    new = order_id > 0
    if replayed is not None:
        new &= ~np.asarray(replayed, dtype=bool)
    _give_back_units(session, d, ~new, at)
    _give_back_claims(session, d, ~new, at, actor)
    _record_sales(session, d, order_id, new, at)
    _record_checkouts(session, d, order_id, new, at)


def _give_back_units(session: Session, d: BatchDiscounts, back: np.ndarray, at: datetime) -> None:
    rows = np.flatnonzero(back & (d.registration_id > 0))
    if len(rows) == 0:
        return
    units: dict[int, int] = defaultdict(int)
    subsidy: dict[tuple[int, int], int] = defaultdict(int)
    for r in rows.tolist():
        units[int(d.registration_id[r])] += int(d.quantity[r])
        subsidy[d.owner[int(d.registration_id[r])]] += int(d.unit_subsidy_fen[r] * d.quantity[r])
    for (campaign_id, shop_id), amount in sorted(subsidy.items()):
        subsidies.give_back(session, campaign_id, shop_id, amount, at)
    execute_columns(
        session,
        update(_registrations)
        .where(_registrations.c.id == bindparam("rid"))
        .values(sold=_registrations.c.sold - bindparam("units")),
        {"rid": list(units), "units": list(units.values())},
        rows=len(units),
    )


def _give_back_claims(
    session: Session, d: BatchDiscounts, back: np.ndarray, at: datetime, actor: str
) -> None:
    rows = np.flatnonzero(back & (d.claim_id > 0))
    if len(rows) == 0:
        return
    execute_columns(
        session,
        update(_claims)
        .where(_claims.c.id == bindparam("cid"), _claims.c.status == ClaimStatus.RESERVED.value)
        .values(status=ClaimStatus.CLAIMED.value, amount_fen=0, updated_at=at),
        {"cid": d.claim_id[rows]},
        rows=len(rows),
    )
    for coupon_id in np.unique(d.coupon_id[rows]).tolist():
        mine = rows[d.coupon_id[rows] == coupon_id]
        total = int(d.claim_fen[mine].sum())
        session.execute(
            update(_coupons)
            .where(_coupons.c.id == coupon_id)
            .values(
                committed_fen=_coupons.c.committed_fen - total,
                committed_count=_coupons.c.committed_count - len(mine),
                updated_at=at,
            )
        )
        campaign_id = session.scalar(
            select(_coupons.c.campaign_id).where(_coupons.c.id == coupon_id)
        )
        if campaign_id is not None:
            session.execute(
                update(_campaigns)
                .where(_campaigns.c.id == campaign_id)
                .values(subsidy_committed_fen=_campaigns.c.subsidy_committed_fen - total)
            )
        _coupon_events(
            session, coupon_id, d.claim_id[mine], -d.claim_fen[mine], "release", actor, at
        )


def _line_numbers(head: IntArray) -> IntArray:
    """Each row's line number in its order: lines are numbered in their order's row order."""
    number = np.zeros(len(head), dtype=np.int64)
    seen: dict[int, int] = defaultdict(int)
    for r, h in enumerate(head.tolist()):
        seen[h] += 1
        number[r] = seen[h]
    return number


def _line_ids(session: Session, order_id: IntArray, d: BatchDiscounts, rows: IntArray) -> IntArray:
    """The order line each of ``rows`` became."""
    number = _line_numbers(d.head)
    lines = table(OrderLine)
    found = {
        (int(o), int(no)): int(i)
        for i, o, no in fetch_by_ids(
            session,
            select(lines.c.id, lines.c.order_id, lines.c.line_no),
            lines.c.order_id,
            np.unique(order_id[rows]),
        )
    }
    return np.array(
        [found[(int(order_id[r]), int(number[r]))] for r in rows.tolist()], dtype=np.int64
    )


def _record_sales(
    session: Session, d: BatchDiscounts, order_id: IntArray, new: np.ndarray, at: datetime
) -> None:
    rows = np.flatnonzero(new & (d.registration_id > 0))
    if len(rows) == 0:
        return
    insert_columns(
        session,
        table(CampaignSale),
        {
            "registration_id": d.registration_id[rows],
            "order_id": order_id[rows],
            "line_id": _line_ids(session, order_id, d, rows),
            "quantity": d.quantity[rows],
            "unit_discount_fen": d.unit_discount_fen[rows],
            "unit_subsidy_fen": d.unit_subsidy_fen[rows],
            "status": "held",
            "created_at": at,
            "updated_at": at,
        },
        rows=len(rows),
    )


def _record_checkouts(
    session: Session, d: BatchDiscounts, order_id: IntArray, new: np.ndarray, at: datetime
) -> None:
    """Each couponed order in a checkout of its own (the claim's ``checkout_id``)."""
    rows = np.flatnonzero(new & (d.claim_id > 0))
    if len(rows) == 0:
        return
    orders = table(Order)
    facts = {
        int(o): (goods, paid, key_hash)
        for o, goods, paid, key_hash in fetch_by_ids(
            session,
            select(
                orders.c.id,
                orders.c.goods_amount_fen,
                orders.c.paid_amount_fen,
                orders.c.request_hash,
            ),
            orders.c.id,
            order_id[rows],
        )
    }
    ids: Sequence[int] = order_id[rows].tolist()
    items = np.bincount(d.head, minlength=len(d.head))
    checkout_ids = insert_returning_ids(
        session,
        table(Checkout),
        [
            {
                "buyer_id": int(d.buyer_id[r]),
                "status": CheckoutStatus.PENDING_PAYMENT.value,
                "items": int(items[r]),
                "goods_amount_fen": facts[o][0],
                "paid_amount_fen": facts[o][1],
                "idempotency_key": f"bulk-order-{o}",
                "request_hash": facts[o][2],
                "created_at": at,
                "updated_at": at,
            }
            for r, o in zip(rows.tolist(), ids, strict=True)
        ],
    )
    execute_columns(
        session,
        update(orders).where(orders.c.id == bindparam("oid")).values(checkout_id=bindparam("ck")),
        {"oid": order_id[rows], "ck": checkout_ids},
        rows=len(rows),
    )
    execute_columns(
        session,
        update(_claims).where(_claims.c.id == bindparam("cid")).values(checkout_id=bindparam("ck")),
        {"cid": d.claim_id[rows], "ck": checkout_ids},
        rows=len(rows),
    )


def claim_coupon_bulk(
    session: Session, *, coupon_id: int, buyer_ids: IntArray, at: datetime, actor: str = "bulk"
) -> IntArray:
    """Many buyers claim one coupon at once, each within the per-buyer limit (buyers at it
    are left out), within the coupon's validity. Returns the buyers who claimed."""
    coupon = session.get_one(Coupon, coupon_id)
    rules.require_valid(coupon.valid_from, coupon.valid_to, at)
    buyers = np.unique(np.asarray(buyer_ids, dtype=np.int64))
    if coupon.campaign_id is not None:  # not offered to the buyers the campaign keeps out
        campaign = session.get_one(Campaign, coupon.campaign_id)
        buyers = buyers[~rules.in_holdout(campaign.id, buyers, campaign.holdout_bps)]
    held = dict(
        fetch_by_ids(
            session,
            select(_holdings.c.buyer_id, _holdings.c.claims).where(
                _holdings.c.coupon_id == coupon_id
            ),
            _holdings.c.buyer_id,
            buyers,
            for_update=True,
        )
    )
    fresh = np.array([b for b in buyers.tolist() if b not in held], dtype=np.int64)
    again = np.array(
        [b for b in buyers.tolist() if b in held and held[b] < coupon.per_buyer_limit],
        dtype=np.int64,
    )
    if len(fresh):
        insert_columns(
            session,
            _holdings,
            {"coupon_id": coupon_id, "buyer_id": fresh, "claims": 1},
            rows=len(fresh),
        )
    if len(again):
        execute_columns(
            session,
            update(_holdings)
            .where(
                _holdings.c.coupon_id == coupon_id,
                _holdings.c.buyer_id == bindparam("bid"),
                _holdings.c.claims < coupon.per_buyer_limit,
            )
            .values(claims=_holdings.c.claims + 1),
            {"bid": again},
            rows=len(again),
        )
    claimed = np.sort(np.concatenate([fresh, again]))
    if len(claimed) == 0:
        return claimed
    counts = {b: held.get(b, 0) + 1 for b in claimed.tolist()}
    ids = insert_returning_ids(
        session,
        _claims,
        [
            {
                "coupon_id": coupon_id,
                "buyer_id": b,
                "status": ClaimStatus.CLAIMED.value,
                "amount_fen": 0,
                "checkout_id": None,
                "idempotency_key": f"bulk-claim-{coupon_id}-{counts[b]}",
                "claimed_at": at,
                "updated_at": at,
            }
            for b in claimed.tolist()
        ],
    )
    _coupon_events(session, coupon_id, ids, np.zeros(len(ids), dtype=np.int64), "claim", actor, at)
    return claimed
