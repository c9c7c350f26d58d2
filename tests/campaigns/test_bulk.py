"""Campaign prices and platform coupons on the bulk order path: the rows a batch serves,
what comes off each line and who pays for it, what refused and replayed rows give back, and
the claims' life after (paid, cancelled unpaid, refunded in full)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests import factories
from trustflow.campaigns import bulk as campaigns_bulk
from trustflow.campaigns import checkout as campaign_checkout
from trustflow.campaigns import coupons, festivals
from trustflow.campaigns.models import (
    Campaign,
    CampaignRegistration,
    CampaignSale,
    ClaimStatus,
    Coupon,
    CouponClaim,
    CouponEvent,
    CouponHolding,
    SaleStatus,
)
from trustflow.campaigns.rules import CouponNotApplicable
from trustflow.catalog import service as catalog_service
from trustflow.db import transaction
from trustflow.errors import ErrorCode
from trustflow.orders import bulk as orders_bulk
from trustflow.orders import service as orders_service
from trustflow.orders.models import CancelReason, Checkout, CheckoutStatus, Order, OrderLine
from trustflow.vocabulary import Channel

from .test_coupons import T0, spec

REGISTERED = datetime(2026, 9, 10, tzinfo=UTC)
#: inside the campaign's main window and the coupon's validity (T0 .. T0 + 44 days)
MAIN = datetime(2026, 11, 1, tzinfo=UTC)
LIST_FEN, CAMPAIGN_FEN, OTHER_FEN = 9_900, 7_900, 5_000
GHOST = 999_999


@dataclass
class Market:
    """One shop: SKU ``sku`` at 99.00 (campaign price 79.00 if registered), ``other`` at
    50.00 (no campaign price); a festival with a subsidy budget."""

    seller: factories.Seller
    other_sku: int
    campaign: int
    buyers: list[int]

    @property
    def sku(self) -> int:
        return self.seller.sku_id


def market(
    s: Session,
    *,
    buyers: int = 4,
    stock: int = 100,
    subsidy_fen: int = 1_000_000,
    units: int | None = 5,
) -> Market:
    """The market, and (``units`` not None) an approved registration of ``sku`` at 79.00
    for that many units."""
    seller = factories.seller(
        s,
        category_id=factories.category(s),
        price_fen=LIST_FEN,
        stock=stock,
        at=REGISTERED - timedelta(days=60),
    )
    other = catalog_service.add_sku(
        s,
        product_id=seller.product_id,
        price_fen=OTHER_FEN,
        stock=stock,
        spec="small",
        at=REGISTERED - timedelta(days=60),
    ).id
    campaign = festivals.create_campaign(
        s,
        festivals.CampaignSpec(
            name="116",
            registration_from=datetime(2026, 9, 1, tzinfo=UTC),
            registration_to=datetime(2026, 9, 28, tzinfo=UTC),
            warmup_from=datetime(2026, 10, 20, tzinfo=UTC),
            main_from=datetime(2026, 10, 28, tzinfo=UTC),
            main_to=datetime(2026, 11, 12, tzinfo=UTC),
            subsidy_budget_fen=subsidy_fen,
        ),
        actor="operator:1",
        at=REGISTERED,
    ).id
    if units is not None:
        registration = festivals.register(
            s,
            campaign_id=campaign,
            request=festivals.RegistrationRequest(
                sku_id=seller.sku_id, campaign_price_fen=CAMPAIGN_FEN, quantity=units
            ),
            at=REGISTERED,
            actor="merchant:1",
        )
        festivals.review(
            s, registration_id=registration.id, approve=True, reason="ok", actor="op", at=REGISTERED
        )
    return Market(seller, other, campaign, [factories.buyer(s, f"b{i}") for i in range(buyers)])


def registration_of(s: Session, m: Market) -> CampaignRegistration:
    return s.scalars(select(CampaignRegistration).where(CampaignRegistration.sku_id == m.sku)).one()


def platform_coupon(s: Session, m: Market, **overrides: object) -> int:
    """A platform coupon paid from the festival's subsidy: 10.00 off from 100.00."""
    values: dict[str, object] = {
        "threshold_fen": 10_000,
        "amount_fen": 1_000,
        "budget_fen": 100_000,
        "campaign_id": m.campaign,
    }
    return coupons.create_coupon(s, spec(**(values | overrides)), actor="operator:1").id


def claim_all(s: Session, coupon_id: int, buyers: list[int]) -> dict[int, int]:
    """Each buyer claims the coupon (in bulk); their claim ids, by buyer."""
    claimed = campaigns_bulk.claim_coupon_bulk(
        s, coupon_id=coupon_id, buyer_ids=np.array(buyers, dtype=np.int64), at=MAIN
    )
    assert sorted(claimed.tolist()) == sorted(set(buyers))
    return claims_by_buyer(s, coupon_id)


def claims_by_buyer(s: Session, coupon_id: int) -> dict[int, int]:
    rows = s.execute(
        select(CouponClaim.buyer_id, CouponClaim.id)
        .where(CouponClaim.coupon_id == coupon_id)
        .order_by(CouponClaim.id)
    ).all()
    return {int(b): int(c) for b, c in rows}


def claims_by_buyer_all(s: Session, coupon_id: int) -> list[int]:
    """The coupon's claims, in the order they were made."""
    return list(
        s.scalars(
            select(CouponClaim.id)
            .where(CouponClaim.coupon_id == coupon_id)
            .order_by(CouponClaim.id)
        )
    )


@dataclass
class Placed:
    discounts: campaigns_bulk.BatchDiscounts
    result: orders_bulk.BatchResult


def place(
    s: Session,
    buyers: list[int],
    skus: list[int],
    quantities: list[int],
    keys: list[str],
    *,
    head: list[int] | None = None,
    at: datetime = MAIN,
) -> Placed:
    """The caller's flow: what comes off each row, the batch placed with it, then recorded."""
    n = len(buyers)
    buyer_id = np.array(buyers, dtype=np.int64)
    sku_id = np.array(skus, dtype=np.int64)
    quantity = np.array(quantities, dtype=np.int64)
    heads = None if head is None else np.array(head, dtype=np.int64)
    d = campaigns_bulk.discount_batch(
        s, buyer_id=buyer_id, sku_id=sku_id, quantity=quantity, head=heads, at=at
    )
    batch = orders_bulk.OrderBatch(
        buyer_id=buyer_id,
        sku_id=sku_id,
        quantity=quantity,
        channel=[Channel.SHELF_SEARCH] * n,
        idempotency_key=keys,
        creator_id=np.zeros(n, dtype=np.int64),
        content_kind=[None] * n,
        content_id=np.zeros(n, dtype=np.int64),
        surface=[None] * n,
        merchant_discount_fen=d.merchant_fen,
        platform_discount_fen=d.platform_fen,
        head=heads,
    )
    result = orders_bulk.place_orders(s, batch, at=at)
    campaigns_bulk.record_batch(s, d, result.order_id, at=at, replayed=result.replayed)
    return Placed(d, result)


def lines_of(s: Session, order_id: int) -> list[tuple[int, int, int, int]]:
    """(line id, merchant discount, platform discount, paid) of the order's lines."""
    rows = s.execute(
        select(
            OrderLine.id,
            OrderLine.merchant_discount_fen,
            OrderLine.platform_discount_fen,
            OrderLine.paid_amount_fen,
        )
        .where(OrderLine.order_id == order_id)
        .order_by(OrderLine.line_no)
    ).all()
    return [(int(i), int(m), int(p), int(paid)) for i, m, p, paid in rows]


def budget(s: Session, coupon_id: int) -> tuple[int, int, int]:
    """The coupon's committed fen and count, and its campaign's committed subsidy."""
    coupon = s.get_one(Coupon, coupon_id)
    assert coupon.campaign_id is not None
    subsidy = s.get_one(Campaign, coupon.campaign_id).subsidy_committed_fen
    return coupon.committed_fen, coupon.committed_count, subsidy


def claim_state(s: Session, claim_id: int) -> tuple[ClaimStatus, int, int | None]:
    claim = s.get_one(CouponClaim, claim_id)
    return claim.status, claim.amount_fen, claim.checkout_id


# 1. campaign prices in bulk


def test_a_batch_sells_at_the_campaign_price_in_row_order_while_the_units_last(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as s:
        m = market(s, units=5)
    with transaction(factory) as s:
        placed = place(s, m.buyers, [m.sku] * 4, [2, 2, 2, 1], ["k0", "k1", "k2", "k3"])

    d, order_id = placed.discounts, placed.result.order_id
    assert (order_id > 0).all()
    # 2 + 2 of the 5 units; the third row's 2 > the 1 left: list price; the fourth's 1 fits
    assert d.merchant_fen.tolist() == [4_000, 4_000, 0, 2_000]
    assert d.platform_fen.tolist() == [0, 0, 0, 0]
    with factory() as s:
        registration = registration_of(s, m)
        assert registration.sold == 5
        lines = [lines_of(s, int(o)) for o in order_id]
        assert [line[0][1:] for line in lines] == [
            (4_000, 0, 15_800),
            (4_000, 0, 15_800),
            (0, 0, 19_800),
            (2_000, 0, 7_900),
        ]
        sales = s.execute(
            select(
                CampaignSale.registration_id,
                CampaignSale.order_id,
                CampaignSale.line_id,
                CampaignSale.quantity,
                CampaignSale.unit_discount_fen,
                CampaignSale.status,
            ).order_by(CampaignSale.id)
        ).all()
        assert [tuple(row) for row in sales] == [
            (registration.id, int(order_id[r]), lines[r][0][0], q, 2_000, SaleStatus.HELD)
            for r, q in ((0, 2), (1, 2), (3, 1))
        ]
        orders = {o.id: o for o in s.scalars(select(Order))}
        assert [orders[int(o)].merchant_discount_fen for o in order_id] == [4_000, 4_000, 0, 2_000]
        # no coupon was used: no checkout was made
        assert s.scalar(select(func.count()).select_from(Checkout)) == 0


def test_a_line_of_a_multi_line_order_gets_the_campaign_price_on_its_own_line(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as s:
        m = market(s, units=3)
    with transaction(factory) as s:
        # one order: 50.00 × 1 (no campaign), then 99.00 × 3 (campaign: 3 units left)
        placed = place(s, [m.buyers[0]] * 2, [m.other_sku, m.sku], [1, 3], ["o", "o"], head=[0, 0])
    (order,) = set(placed.result.order_id.tolist())
    with factory() as s:
        (first, second) = lines_of(s, order)
        assert first[1:] == (0, 0, 5_000)
        assert second[1:] == (6_000, 0, 3 * CAMPAIGN_FEN)
        sale = s.scalars(select(CampaignSale)).one()
        assert (sale.line_id, sale.quantity, sale.unit_discount_fen) == (second[0], 3, 2_000)
        assert s.get_one(Order, order).merchant_discount_fen == 6_000
        assert registration_of(s, m).sold == 3


# 2. refused rows give back


def test_rows_the_order_rules_refuse_give_their_units_and_claims_back(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as s:
        m = market(s, buyers=3, units=5, stock=5)
        coupon = platform_coupon(s, m)
        claims = claim_all(s, coupon, m.buyers[:2])
    with transaction(factory) as s:  # before the festival, at the list price: 3 left in stock
        early = place(s, [m.buyers[2]], [m.sku], [2], ["early"], at=REGISTERED + timedelta(days=1))
        assert early.discounts.merchant_fen.tolist() == [0]
    with transaction(factory) as s:
        placed = place(
            s,
            [m.buyers[0], m.buyers[1], GHOST],
            [m.sku] * 3,
            [2, 2, 1],
            ["k0", "k1", "k2"],
        )

    d, result = placed.discounts, placed.result
    # discount_batch took the 5 units and both claims; the second row is out of stock (1
    # left of 3), the third's buyer does not exist
    assert d.merchant_fen.tolist() == [4_000, 4_000, 2_000]
    assert d.claim_fen.tolist() == [1_000, 1_000, 0]
    assert result.order_id[0] > 0 and result.order_id[1:].tolist() == [0, 0]
    assert result.refused == {1: ErrorCode.OUT_OF_STOCK, 2: ErrorCode.NOT_FOUND}
    with factory() as s:
        assert registration_of(s, m).sold == 2
        assert s.scalar(select(func.count()).select_from(CampaignSale)) == 1
        checkout = s.scalars(select(Checkout)).one()
        assert claim_state(s, claims[m.buyers[0]]) == (ClaimStatus.RESERVED, 1_000, checkout.id)
        assert claim_state(s, claims[m.buyers[1]]) == (ClaimStatus.CLAIMED, 0, None)
        assert budget(s, coupon) == (1_000, 1, 1_000)
        back = s.execute(
            select(CouponEvent.action, CouponEvent.amount_fen).where(
                CouponEvent.claim_id == claims[m.buyers[1]]
            )
        ).all()
        assert sorted(tuple(e) for e in back) == [
            ("claim", 0),
            ("release", -1_000),
            ("reserve", 1_000),
        ]


# 3. a platform coupon in bulk


def test_a_platform_coupon_comes_off_an_order_above_its_threshold_split_over_its_lines(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as s:
        m = market(s, units=5)
        coupon = platform_coupon(s, m)  # 10.00 off from 100.00
        claims = claim_all(s, coupon, m.buyers[:2])
    with transaction(factory) as s:
        placed = place(
            s,
            [m.buyers[0], m.buyers[0], m.buyers[1]],
            [m.sku, m.other_sku, m.other_sku],
            [2, 1, 1],
            ["a", "a", "b"],
            head=[0, 0, 2],
        )

    d, order_id = placed.discounts, placed.result.order_id
    big, small = int(order_id[0]), int(order_id[2])
    assert order_id.tolist() == [big, big, small] and big != small
    # the first order has 158.00 (2 × 79.00) + 50.00 left: 10.00 splits 158 : 50,
    # 7.596 : 2.404 → 7.59 + 2.40, the spare fen to the larger remainder: 7.60 + 2.40.
    # The second order's 50.00 is under the threshold: nothing.
    assert d.platform_fen.tolist() == [760, 240, 0]
    assert d.claim_fen.tolist() == [1_000, 0, 0]
    with factory() as s:
        assert [line[1:] for line in lines_of(s, big)] == [
            (4_000, 760, 15_800 - 760),
            (0, 240, 5_000 - 240),
        ]
        assert lines_of(s, small)[0][1:] == (0, 0, 5_000)
        order = s.get_one(Order, big)
        assert (order.platform_discount_fen, order.paid_amount_fen) == (1_000, 19_800)
        # the couponed order is placed in a checkout of its own, holding the claim
        checkout = s.scalars(select(Checkout)).one()
        assert order.checkout_id == checkout.id
        assert s.get_one(Order, small).checkout_id is None
        assert (
            checkout.buyer_id,
            checkout.status,
            checkout.items,
            checkout.goods_amount_fen,
            checkout.paid_amount_fen,
        ) == (m.buyers[0], CheckoutStatus.PENDING_PAYMENT, 2, 24_800, 19_800)
        assert claim_state(s, claims[m.buyers[0]]) == (ClaimStatus.RESERVED, 1_000, checkout.id)
        assert claim_state(s, claims[m.buyers[1]]) == (ClaimStatus.CLAIMED, 0, None)
        assert budget(s, coupon) == (1_000, 1, 1_000)


def test_a_buyers_second_order_in_a_batch_uses_their_second_claim(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as s:
        m = market(s, units=None)
        coupon = platform_coupon(s, m, per_buyer_limit=2)
        buyer = m.buyers[0]
        claim_all(s, coupon, [buyer])
        claim_all(s, coupon, [buyer])
        first, second = claims_by_buyer_all(s, coupon)
    with transaction(factory) as s:
        placed = place(s, [buyer] * 3, [m.sku] * 3, [2, 2, 2], ["a", "b", "c"])

    # three orders of 198.00 and two claims: the first two orders use them, oldest first
    assert placed.discounts.platform_fen.tolist() == [1_000, 1_000, 0]
    assert placed.discounts.claim_id.tolist() == [first, second, 0]
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(Checkout)) == 2
        assert budget(s, coupon) == (2_000, 2, 2_000)


# 4. the budget is never overspent


@pytest.mark.parametrize(
    ("budget_fen", "budget_count", "subsidy_fen", "admitted"),
    [
        pytest.param(2_500, 100, 1_000_000, 2, id="coupon-fen"),
        pytest.param(100_000, 3, 1_000_000, 3, id="coupon-count"),
        pytest.param(100_000, 100, 1_999, 1, id="campaign-subsidy"),
    ],
)
def test_a_budget_admits_exactly_the_uses_it_covers_in_row_order(
    factory: sessionmaker[Session],
    budget_fen: int,
    budget_count: int,
    subsidy_fen: int,
    admitted: int,
) -> None:
    with transaction(factory) as s:
        m = market(s, buyers=5, units=None, subsidy_fen=subsidy_fen)
        coupon = platform_coupon(s, m, budget_fen=budget_fen, budget_count=budget_count)
        claims = claim_all(s, coupon, m.buyers)
    with transaction(factory) as s:
        placed = place(s, m.buyers, [m.sku] * 5, [2] * 5, [f"k{i}" for i in range(5)])

    assert (placed.result.order_id > 0).all()
    assert placed.discounts.platform_fen.tolist() == [1_000] * admitted + [0] * (5 - admitted)
    with factory() as s:
        assert budget(s, coupon) == (1_000 * admitted, admitted, 1_000 * admitted)
        states = [claim_state(s, claims[b])[:2] for b in m.buyers]
        assert states == [(ClaimStatus.RESERVED, 1_000)] * admitted + [(ClaimStatus.CLAIMED, 0)] * (
            5 - admitted
        )
        assert s.scalar(select(func.count()).select_from(Checkout)) == admitted
        coupon_row = s.get_one(Coupon, coupon)
        assert coupon_row.committed_fen <= coupon_row.budget_fen
        assert coupon_row.committed_count <= coupon_row.budget_count


def test_a_budget_already_partly_spent_admits_only_what_is_left(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as s:
        m = market(s, buyers=4, units=None)
        coupon = platform_coupon(s, m, budget_fen=3_000)
        claims = claim_all(s, coupon, m.buyers)
    with transaction(factory) as s:
        place(s, m.buyers[:1], [m.sku], [2], ["first"])
    with transaction(factory) as s:
        placed = place(s, m.buyers[1:], [m.sku] * 3, [2] * 3, ["a", "b", "c"])

    assert placed.discounts.platform_fen.tolist() == [1_000, 1_000, 0]
    with factory() as s:
        assert budget(s, coupon) == (3_000, 3, 3_000)
        assert claim_state(s, claims[m.buyers[3]])[:2] == (ClaimStatus.CLAIMED, 0)


# 5. the life after


def test_paid_redeems_cancelled_unpaid_releases_refunded_in_full_returns_once(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as s:
        m = market(s, buyers=3, units=5)
        coupon = platform_coupon(s, m)
        claims = claim_all(s, coupon, m.buyers)
    with transaction(factory) as s:
        placed = place(s, m.buyers, [m.sku] * 3, [1, 2, 2], ["k0", "k1", "k2"])
    kept, unpaid, refunded = (int(o) for o in placed.result.order_id)
    kept_claim, unpaid_claim, refunded_claim = (claims[b] for b in m.buyers)
    with factory() as s:
        # 79.00 is under the threshold; the other two orders take 10.00 each
        assert placed.discounts.claim_fen.tolist() == [0, 1_000, 1_000]
        assert budget(s, coupon) == (2_000, 2, 2_000)
        assert registration_of(s, m).sold == 5

    pay_at, later = MAIN + timedelta(minutes=5), MAIN + timedelta(hours=1)
    with transaction(factory) as s:
        paid = orders_bulk.advance_orders(s, [kept, refunded], "pay", pay_at)
        assert sorted(paid.tolist()) == sorted([kept, refunded])
        cancelled = orders_bulk.advance_orders(
            s, [unpaid], "cancel", pay_at, reason=CancelReason.BUYER_CHANGED_MIND
        )
        assert cancelled.tolist() == [unpaid]
    with factory() as s:
        checkout = s.get_one(Checkout, s.get_one(Order, refunded).checkout_id)
        assert (checkout.status, checkout.paid_amount_fen, checkout.paid_at) == (
            CheckoutStatus.PAID,
            19_800 - 4_000 - 1_000,
            pay_at,
        )
    with transaction(factory) as s:
        # the paid claim redeemed, the cancelled one released, its 2 units back
        assert campaign_checkout.settle_claims(s, at=later) == 3
    with factory() as s:
        assert claim_state(s, refunded_claim)[:2] == (ClaimStatus.REDEEMED, 1_000)
        assert claim_state(s, unpaid_claim) == (ClaimStatus.CLAIMED, 0, None)
        assert claim_state(s, kept_claim) == (ClaimStatus.CLAIMED, 0, None)
        assert budget(s, coupon) == (1_000, 1, 1_000)
        assert registration_of(s, m).sold == 3

    with transaction(factory) as s:  # the paid order cancelled: paid back in full
        orders_bulk.advance_orders(
            s, [refunded], "cancel", later, reason=CancelReason.MERCHANT_CANNOT_FULFIL
        )
        assert s.get_one(Order, refunded).cancel_refund_fen == 14_800
    moved = []
    for _ in range(2):
        with transaction(factory) as s:
            moved.append(campaign_checkout.settle_claims(s, at=later + timedelta(hours=1)))
    # the claim refunded and the sale's 2 units returned, once
    assert moved == [2, 0]
    with factory() as s:
        assert claim_state(s, refunded_claim)[:2] == (ClaimStatus.REFUNDED, 1_000)
        assert budget(s, coupon) == (0, 0, 0)
        assert registration_of(s, m).sold == 1
        refunds = s.scalars(
            select(CouponEvent.amount_fen).where(
                CouponEvent.claim_id == refunded_claim, CouponEvent.action == "refund"
            )
        ).all()
        assert refunds == [-1_000]


# 6. claims in bulk


def test_bulk_claims_stop_at_the_limit_per_buyer_and_count_a_repeated_buyer_once(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as s:
        m = market(s, buyers=3, units=None)
        coupon = platform_coupon(s, m, per_buyer_limit=2)
        a, b, c = m.buyers
        coupons.claim_coupon(s, coupon_id=coupon, buyer_id=a, idempotency_key="x", at=MAIN)
        coupons.claim_coupon(s, coupon_id=coupon, buyer_id=a, idempotency_key="y", at=MAIN)
        coupons.claim_coupon(s, coupon_id=coupon, buyer_id=b, idempotency_key="x", at=MAIN)
    with transaction(factory) as s:
        first = campaigns_bulk.claim_coupon_bulk(
            s, coupon_id=coupon, buyer_ids=np.array([c, a, b, c, b], dtype=np.int64), at=MAIN
        )
    with transaction(factory) as s:
        second = campaigns_bulk.claim_coupon_bulk(
            s, coupon_id=coupon, buyer_ids=np.array([a, b, c, c], dtype=np.int64), at=MAIN
        )
    with transaction(factory) as s:
        third = campaigns_bulk.claim_coupon_bulk(
            s, coupon_id=coupon, buyer_ids=np.array([a, b, c], dtype=np.int64), at=MAIN
        )

    # a held 2 (its limit); b held 1 and c none: each takes one per call, up to 2
    assert first.tolist() == [b, c]
    assert second.tolist() == [c]
    assert third.tolist() == []
    with factory() as s:
        held = dict(
            s.execute(
                select(CouponHolding.buyer_id, CouponHolding.claims).where(
                    CouponHolding.coupon_id == coupon
                )
            ).all()
        )
        assert held == {a: 2, b: 2, c: 2}
        per_buyer = dict(
            s.execute(
                select(CouponClaim.buyer_id, func.count())
                .where(CouponClaim.coupon_id == coupon, CouponClaim.status == ClaimStatus.CLAIMED)
                .group_by(CouponClaim.buyer_id)
            ).all()
        )
        assert per_buyer == {a: 2, b: 2, c: 2}
        # one "claim" event per claim: the three made one at a time and the three in bulk
        events = s.scalar(
            select(func.count()).where(
                CouponEvent.coupon_id == coupon, CouponEvent.action == "claim"
            )
        )
        assert events == 6


@pytest.mark.parametrize(
    "at",
    [T0 - timedelta(seconds=1), T0 + timedelta(days=44)],
    ids=["before-valid-from", "at-valid-to"],
)
def test_bulk_claims_outside_the_coupons_validity_are_refused(
    factory: sessionmaker[Session], at: datetime
) -> None:
    with transaction(factory) as s:
        m = market(s, buyers=2, units=None)
        coupon = platform_coupon(s, m)
    with pytest.raises(CouponNotApplicable) as refused, transaction(factory) as s:
        campaigns_bulk.claim_coupon_bulk(
            s, coupon_id=coupon, buyer_ids=np.array(m.buyers, dtype=np.int64), at=at
        )
    assert refused.value.code is ErrorCode.COUPON_NOT_VALID_NOW
    assert refused.value.details["valid_from"] == T0.isoformat()
    assert refused.value.details["valid_to"] == (T0 + timedelta(days=44)).isoformat()
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(CouponClaim)) == 0
        assert s.scalar(select(func.count()).select_from(CouponHolding)) == 0


# 7. replays


def test_a_replayed_row_gives_back_the_units_and_the_claim_it_was_given(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as s:
        m = market(s, buyers=2, units=6)
        coupon = platform_coupon(s, m, per_buyer_limit=2)
        buyer, other = m.buyers
        claim_all(s, coupon, [buyer])
        claim_all(s, coupon, [buyer, other])
        first_claim, second_claim, others = claims_by_buyer_all(s, coupon)
    with transaction(factory) as s:
        first = place(s, [buyer], [m.sku], [2], ["k"])
    with transaction(factory) as s:
        # the same row again (as a retried import would send it), and a new one
        again = place(s, [buyer, other], [m.sku, m.sku], [2, 2], ["k", "k"])

    order = int(first.result.order_id[0])
    assert again.result.replayed is not None
    assert again.result.replayed.tolist() == [True, False]
    assert again.result.order_id[0] == order
    # discount_batch gave the replayed row what the first run gave it (so it replays) ...
    assert again.discounts.merchant_fen.tolist() == [4_000, 4_000]
    assert again.discounts.claim_id.tolist() == [second_claim, others]
    with factory() as s:
        # ... and record_batch gave that back: 2 + 2 units sold, the second claim unused
        assert registration_of(s, m).sold == 4
        assert s.scalar(select(func.count()).select_from(CampaignSale)) == 2
        assert s.scalar(select(func.count()).select_from(Order)) == 2
        assert s.scalar(select(func.count()).select_from(Checkout)) == 2
        checkout = s.get_one(Order, order).checkout_id
        assert claim_state(s, first_claim) == (ClaimStatus.RESERVED, 1_000, checkout)
        assert claim_state(s, second_claim) == (ClaimStatus.CLAIMED, 0, None)
        assert claim_state(s, others)[:2] == (ClaimStatus.RESERVED, 1_000)
        assert budget(s, coupon) == (2_000, 2, 2_000)


def test_a_key_repeated_within_a_batch_gives_back_what_the_repeat_was_given(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as s:
        m = market(s, buyers=1, units=5)
        coupon = platform_coupon(s, m, per_buyer_limit=2)
        buyer = m.buyers[0]
        claim_all(s, coupon, [buyer])
        claim_all(s, coupon, [buyer])
        first_claim, second_claim = claims_by_buyer_all(s, coupon)
    with transaction(factory) as s:
        placed = place(s, [buyer, buyer], [m.sku, m.sku], [2, 2], ["k", "k"])

    assert placed.result.order_id[0] == placed.result.order_id[1] > 0
    assert placed.result.replayed is not None
    assert placed.result.replayed.tolist() == [False, True]
    with factory() as s:
        assert registration_of(s, m).sold == 2
        assert claim_state(s, first_claim)[:2] == (ClaimStatus.RESERVED, 1_000)
        assert claim_state(s, second_claim) == (ClaimStatus.CLAIMED, 0, None)
        assert budget(s, coupon) == (1_000, 1, 1_000)


# The whole flow (place_batch): a dry run first, so refused rows take nothing and a retried
# batch replays its orders with what they were given then.


def place_whole(
    s: Session, buyers: list[int], skus: list[int], quantities: list[int], keys: list[str]
) -> Placed:
    n = len(buyers)
    batch = orders_bulk.OrderBatch(
        buyer_id=np.array(buyers, dtype=np.int64),
        sku_id=np.array(skus, dtype=np.int64),
        quantity=np.array(quantities, dtype=np.int64),
        channel=[Channel.SHELF_SEARCH] * n,
        idempotency_key=keys,
        creator_id=np.zeros(n, dtype=np.int64),
        content_kind=[None] * n,
        content_id=np.zeros(n, dtype=np.int64),
        surface=[None] * n,
        merchant_discount_fen=np.zeros(n, dtype=np.int64),
        platform_discount_fen=np.zeros(n, dtype=np.int64),
    )
    result, d = campaigns_bulk.place_batch(s, batch, at=MAIN)
    return Placed(d, result)


def test_a_retried_batch_replays_its_order_when_the_first_run_took_the_last_units(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as s:
        m = market(s, buyers=1, units=2)
    with transaction(factory) as s:
        first = place_whole(s, m.buyers, [m.sku], [2], ["k"])
    with transaction(factory) as s:  # the import is run again, as idempotency keys allow
        again = place_whole(s, m.buyers, [m.sku], [2], ["k"])

    assert first.discounts.merchant_fen.tolist() == [4_000]
    assert again.result.refused == {}
    assert again.result.order_id.tolist() == first.result.order_id.tolist()
    assert again.discounts.merchant_fen.tolist() == [4_000]  # what it was given, not taken
    with factory() as s:
        assert registration_of(s, m).sold == 2
        assert s.scalar(select(func.count()).select_from(CampaignSale)) == 1


def test_a_retried_batch_replays_its_order_when_the_first_run_used_the_buyers_claim(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as s:
        m = market(s, buyers=1, units=None)
        coupon = platform_coupon(s, m)
        claim_all(s, coupon, m.buyers)
    with transaction(factory) as s:
        first = place_whole(s, m.buyers, [m.sku], [2], ["k"])
    with transaction(factory) as s:
        again = place_whole(s, m.buyers, [m.sku], [2], ["k"])

    assert first.discounts.platform_fen.tolist() == [1_000]
    assert again.result.refused == {}
    assert again.result.order_id.tolist() == first.result.order_id.tolist()
    with factory() as s:
        assert budget(s, coupon) == (1_000, 1, 1_000)  # the one use, taken once


def test_a_refused_row_does_not_keep_the_last_units_from_a_later_row(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as s:
        m = market(s, buyers=1, units=2)
    with transaction(factory) as s:
        placed = place_whole(s, [GHOST, m.buyers[0]], [m.sku, m.sku], [2, 2], ["g", "k"])

    assert placed.result.refused == {0: ErrorCode.NOT_FOUND}
    with factory() as s:
        order = s.get_one(Order, int(placed.result.order_id[1]))
        assert order.merchant_discount_fen == 4_000
        assert registration_of(s, m).sold == 2


def test_a_refused_order_does_not_keep_the_last_coupon_budget_from_a_later_order(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as s:
        m = market(s, buyers=2, units=None, stock=3)
        coupon = platform_coupon(s, m, budget_fen=1_000)  # one use
        claim_all(s, coupon, m.buyers)
    with transaction(factory) as s:
        # the first order wants 4 of the 3 in stock: refused; the second is placed
        placed = place_whole(s, m.buyers, [m.sku, m.sku], [4, 2], ["a", "b"])

    assert placed.result.refused == {0: ErrorCode.OUT_OF_STOCK}
    with factory() as s:
        assert s.get_one(Order, int(placed.result.order_id[1])).platform_discount_fen == 1_000
        assert budget(s, coupon) == (1_000, 1, 1_000)


def test_an_order_below_the_threshold_leaves_the_claim_for_the_next(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as s:
        m = market(s, buyers=1, units=None)
        coupon = platform_coupon(s, m)
        claim_all(s, coupon, m.buyers)
    with transaction(factory) as s:
        # 99.00 x 1 is below a 100.00 threshold; 99.00 x 2 meets it
        placed = place_whole(s, m.buyers * 2, [m.sku, m.sku], [1, 2], ["a", "b"])

    assert placed.discounts.platform_fen.tolist() == [0, 1_000]


def test_a_second_batch_in_one_session_sees_the_units_the_first_sold(session: Session) -> None:
    m = market(session, buyers=2, units=5)
    registration = registration_of(session, m)  # the caller holds the registration
    session.commit()
    place(session, [m.buyers[0]], [m.sku], [3], ["a"])
    session.commit()
    placed = place(session, [m.buyers[1]] * 2, [m.sku] * 2, [2, 1], ["b", "c"])
    session.commit()

    # 2 units were left: the first row gets them, the second pays the list price (the units
    # left are read from the store, not from the registration the session holds)
    assert placed.discounts.merchant_fen.tolist() == [4_000, 0]
    session.refresh(registration)
    assert registration.sold == 5


def test_a_row_of_a_negative_quantity_adds_no_campaign_units_for_later_rows(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as s:
        m = market(s, buyers=2, units=5)
    with transaction(factory) as s:
        d = campaigns_bulk.discount_batch(
            s,
            buyer_id=np.array(m.buyers, dtype=np.int64),
            sku_id=np.array([m.sku, m.sku], dtype=np.int64),
            quantity=np.array([-1, 6], dtype=np.int64),
            at=MAIN,
        )
        # 6 units wanted of the 5 registered: the list price (the -1 row, which the order
        # rules refuse, counts for nothing)
        assert d.merchant_fen.tolist() == [0, 0]


def test_a_key_repeated_within_a_batch_takes_nothing_from_later_rows(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as s:
        m = market(s, buyers=2, units=4)
    with transaction(factory) as s:
        # the second row repeats the first's key: one order; the third still gets 2 units
        placed = place_whole(
            s, [m.buyers[0], m.buyers[0], m.buyers[1]], [m.sku] * 3, [2, 2, 2], ["k", "k", "j"]
        )

    assert placed.result.order_id[0] == placed.result.order_id[1]
    assert placed.discounts.merchant_fen.tolist() == [4_000, 0, 4_000]
    with factory() as s:
        assert registration_of(s, m).sold == 4


def test_a_bulk_order_paid_on_its_own_pays_its_checkout_and_redeems_its_coupon(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as s:
        m = market(s, buyers=1, units=None)
        coupon = platform_coupon(s, m)
        claims = claim_all(s, coupon, m.buyers)
    with transaction(factory) as s:
        placed = place_whole(s, m.buyers, [m.sku], [2], ["k"])
    order_id = int(placed.result.order_id[0])
    with transaction(factory) as s:  # paid through the one-order action (POST /orders/{id}/pay)
        orders_service.pay_order(s, order_id=order_id, idempotency_key="pay", at=MAIN)
        campaign_checkout.settle_claims(s, at=MAIN)
    with factory() as s:
        checkout = s.get_one(Checkout, s.get_one(Order, order_id).checkout_id)
        assert checkout.status is CheckoutStatus.PAID
        assert claim_state(s, claims[m.buyers[0]])[0] is ClaimStatus.REDEEMED
