"""The Chuanliu plan: who qualifies, tiers, the pool and its split, the ledger, joined GMV."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests import factories
from trustflow.accounts import service as accounts_service
from trustflow.catalog import service as catalog_service
from trustflow.catalog.models import ShopStatus
from trustflow.config import Settings
from trustflow.content import service as content_service
from trustflow.db import utcnow
from trustflow.errors import ErrorCode, InvalidInput, NotFound
from trustflow.orders import service as orders_service
from trustflow.orders.models import ContentKind, Order
from trustflow.scoring.models import (
    EntityScore,
    ScoreKind,
    ScoreStatus,
    ScoreVersion,
    Tier,
    VersionState,
)
from trustflow.traffic.chuanliu import eligibility, ledger, rules, split
from trustflow.traffic.chuanliu.models import ChuanliuLedger, ChuanliuTier, PartyKind
from trustflow.traffic.chuanliu.rules import RULES, DecisionCode
from trustflow.traffic.service import ImpressionRecord, log_impressions
from trustflow.vocabulary import Channel, ItemKind, Surface

DAY = date(2026, 3, 15)
MIDNIGHT = datetime(2026, 3, 15, tzinfo=UTC)
DOC = Path(__file__).parents[3] / "docs" / "chuanliu.md"
#: A pool of exactly the marketplace's daily organic impressions (yearly/365 = reference),
#: every share promised the day it is earned (no minimum promise: accrual is tested apart).
ONE_TO_ONE = Settings(
    chuanliu_yearly_pool_impressions=365_000,
    chuanliu_reference_daily_impressions=1_000,
    chuanliu_min_promise_impressions=0,
)
K = Settings().chuanliu_min_live_days


def before(days: float, hours: float = 0) -> datetime:
    return MIDNIGHT - timedelta(days=days) + timedelta(hours=hours)


def go_live(session: Session, *, shop_id: int, days: int, hours: float = 2.0) -> list[int]:
    """A self-broadcast on each of the ``days`` days before the plan day, ``hours`` long."""
    ids = []
    for i in range(1, days + 1):
        start = before(i, hours=9)
        live = content_service.schedule_live(session, shop_id=shop_id, scheduled_at=start)
        content_service.start_live(session, live_id=live.id, at=start)
        content_service.end_live(session, live_id=live.id, at=start + timedelta(hours=hours))
        ids.append(live.id)
    return ids


def distribute(
    session: Session, sold: factories.Seller, buyer: int, *, creators: int, key: str, units: int = 1
) -> list[int]:
    """``creators`` creators each sell ``units`` of the shop's product, ten days before."""
    ids = []
    for i in range(creators):
        creator, _ = factories.creator_selling(session, sold.product_id, at=before(20))
        factories.paid_order(
            session,
            buyer_id=buyer,
            sku_id=sold.sku_id,
            key=f"{key}-{i}",
            quantity=units,
            channel=Channel.DISTRIBUTION,
            creator_id=creator,
            at=before(10),
        )
        ids.append(creator)
    return ids


def self_broadcast_order(
    session: Session, sold: factories.Seller, buyer: int, *, key: str, at: datetime, units: int = 1
) -> int:
    """A sale in the shop's own live room, attributed to the room while it is live."""
    live = content_service.schedule_live(session, shop_id=sold.shop_id, scheduled_at=at)
    content_service.start_live(session, live_id=live.id, at=at)
    order = orders_service.place_order(
        session,
        orders_service.OrderRequest(
            buyer_id=buyer,
            sku_id=sold.sku_id,
            quantity=units,
            channel=Channel.SELF_BROADCAST,
            idempotency_key=key,
            content_kind=ContentKind.LIVE_SESSION,
            content_id=live.id,
        ),
        at=at,
    )
    orders_service.pay_order(session, order_id=order.id, idempotency_key=f"pay-{key}", at=at)
    content_service.end_live(session, live_id=live.id, at=at + timedelta(minutes=30))
    return order.id


def publish_scores(session: Session, *rows: tuple[ScoreKind, int, Tier, bool]) -> None:
    version = ScoreVersion(as_of=MIDNIGHT, engine="test", state=VersionState.ACTIVE)
    session.add(version)
    session.flush()
    for kind, entity_id, tier, restricted in rows:
        session.add(
            EntityScore(
                version_id=version.id,
                kind=kind,
                entity_id=entity_id,
                score=50.0 if restricted else 92.0,
                lower=45.0,
                upper=95.0,
                sample=100,
                status=ScoreStatus.SCORED,
                tier=tier,
                restricted=restricted,
                detail={},
            )
        )
    session.flush()


def creators_of(session: Session, shop_id: int) -> list[int]:
    return sorted(
        session.scalars(
            select(Order.creator_id)
            .where(Order.shop_id == shop_id, Order.creator_id.is_not(None))
            .distinct()
        )
    )


def organic(session: Session, per_day: int, days: int, *, item_id: int = 1) -> None:
    log_impressions(
        session,
        [
            ImpressionRecord(
                Surface.DISCOVER, ItemKind.PRODUCT_CARD, item_id, before(d, hours=12), count=per_day
            )
            for d in range(1, days + 1)
        ],
    )


def qualifying_shop(
    session: Session, category: int, name: str, *, live_days: int = K, creators: int = 1
) -> factories.Seller:
    sold = factories.seller(session, category_id=category, name=name, at=before(60))
    buyer = factories.buyer(session, f"{name} fan")
    distribute(session, sold, buyer, creators=creators, key=name)
    go_live(session, days=live_days, shop_id=sold.shop_id)
    return sold


# Eligibility ---------------------------------------------------------------------------------


def test_exactly_k_live_days_and_one_creator_qualify_and_each_shortfall_is_explained(
    session: Session,
) -> None:
    cat = factories.category(session)
    exact = qualifying_shop(session, cat, "Exact", live_days=K)
    short = qualifying_shop(session, cat, "Short", live_days=K - 1)
    no_creator = factories.seller(session, category_id=cat, name="Alone", at=before(60))
    go_live(session, days=K, shop_id=no_creator.shop_id)
    restricted = qualifying_shop(session, cat, "Penalised")
    suspended = qualifying_shop(session, cat, "Suspended")
    catalog_service.set_shop_status(session, shop_id=suspended.shop_id, status=ShopStatus.SUSPENDED)
    publish_scores(session, (ScoreKind.STORE, restricted.shop_id, Tier.LOW, True))

    decisions = {d.shop_id: d for d in eligibility.eligibility(session, DAY)}

    assert decisions[exact.shop_id].eligible
    assert decisions[exact.shop_id].code is DecisionCode.ELIGIBLE
    assert decisions[exact.shop_id].observed(DecisionCode.TOO_FEW_LIVE_DAYS) == K
    assert (decisions[short.shop_id].eligible, decisions[short.shop_id].failed) == (
        False,
        (DecisionCode.TOO_FEW_LIVE_DAYS,),
    )
    assert f"went live on {K - 1} of the 14 days" in decisions[short.shop_id].reason
    assert f"(needs {K})" in decisions[short.shop_id].reason
    assert decisions[no_creator.shop_id].failed == (DecisionCode.TOO_FEW_DISTRIBUTING_CREATORS,)
    assert decisions[no_creator.shop_id].observed(DecisionCode.TOO_FEW_DISTRIBUTING_CREATORS) == 0
    assert decisions[restricted.shop_id].code is DecisionCode.SCORE_RESTRICTED
    assert "restricted" in decisions[restricted.shop_id].reason
    assert decisions[suspended.shop_id].code is DecisionCode.SHOP_NOT_ACTIVE
    eligible = {a.shop_id for a in eligibility.assess(session, DAY)}
    assert eligible == {exact.shop_id}


def test_only_the_window_before_the_plan_day_counts(session: Session) -> None:
    cat = factories.category(session)
    sold = factories.seller(session, category_id=cat, at=before(60))
    buyer = factories.buyer(session)
    # Live K−1 days inside the window, twice on one of them, once before it and once on the
    # plan day itself: still K−1 days.
    go_live(session, days=K - 1, shop_id=sold.shop_id)
    go_live(session, days=1, hours=1, shop_id=sold.shop_id)
    for start in (before(15), MIDNIGHT + timedelta(hours=1)):
        live = content_service.schedule_live(session, shop_id=sold.shop_id, scheduled_at=start)
        content_service.start_live(session, live_id=live.id, at=start)
    # A creator order cancelled before the plan day, and one paid 31 days before: no creator.
    creator, _ = factories.creator_selling(session, sold.product_id, at=before(40))
    for key, at in (("cancelled", before(5)), ("old", before(31))):
        order = factories.paid_order(
            session,
            buyer_id=buyer,
            sku_id=sold.sku_id,
            key=key,
            channel=Channel.DISTRIBUTION,
            creator_id=creator,
            at=at,
        )
        if key == "cancelled":
            orders_service.cancel_order(session, order_id=order.id, at=before(4))

    (decision,) = eligibility.eligibility(session, DAY, shop_id=sold.shop_id)

    assert decision.observed(DecisionCode.TOO_FEW_LIVE_DAYS) == K - 1
    assert decision.observed(DecisionCode.TOO_FEW_DISTRIBUTING_CREATORS) == 0


def test_bad_days_and_unknown_shops_are_refused(session: Session) -> None:
    tomorrow = utcnow().date() + timedelta(days=1)
    with pytest.raises(InvalidInput) as future:
        eligibility.eligibility(session, tomorrow)
    assert future.value.code is ErrorCode.INVALID_INPUT
    with pytest.raises(InvalidInput):
        split.daily_pool(session, MIDNIGHT)
    with pytest.raises(InvalidInput):
        ledger.promise(session, tomorrow)
    with pytest.raises(NotFound) as unknown:
        eligibility.eligibility(session, DAY, shop_id=999)
    assert unknown.value.code is ErrorCode.NOT_FOUND
    with pytest.raises(NotFound):
        split.joined_gmv(session, DAY, shop_id=999)
    assert session.scalar(select(func.count()).select_from(ChuanliuLedger)) == 0


# Tiers ----------------------------------------------------------------------------------------


def test_tier_thresholds_are_ordered_best_first() -> None:
    assert [RULES.tier_of(p) for p in (100, 75, 74.99, 60, 45, 44.99, 0)] == [
        ChuanliuTier.S,
        ChuanliuTier.S,
        ChuanliuTier.A,
        ChuanliuTier.A,
        ChuanliuTier.B,
        ChuanliuTier.C,
        ChuanliuTier.C,
    ]
    weights = [weight for _, _, weight in RULES.tiers]
    assert weights == sorted(weights, reverse=True)
    assert RULES.store_multiplier(None) == 100
    assert (
        RULES.diligence_weight + RULES.distribution_weight + RULES.increment_weight
    ) == pytest.approx(1.0)


def test_a_diligent_growing_widely_distributed_owner_ranks_above_a_bare_qualifier(
    session: Session,
) -> None:
    cat = factories.category(session)
    strong = factories.seller(session, category_id=cat, name="Strong", at=before(90))
    weak = factories.seller(session, category_id=cat, name="Weak", at=before(90))
    fan = factories.buyer(session)
    distribute(session, strong, fan, creators=3, key="strong", units=3)
    distribute(session, weak, fan, creators=1, key="weak")
    go_live(session, days=14, hours=4, shop_id=strong.shop_id)
    go_live(session, days=K, hours=1, shop_id=weak.shop_id)
    self_broadcast_order(session, strong, fan, key="sb-prev", at=before(40), units=10)
    self_broadcast_order(session, strong, fan, key="sb-now", at=before(3, hours=20), units=30)
    publish_scores(session, (ScoreKind.STORE, strong.shop_id, Tier.EXCELLENT, False))
    organic(session, 1_000, days=7)

    day_plan = split.plan(session, DAY, settings=ONE_TO_ONE)

    by_shop = {a.shop_id: a for a in day_plan.assessments}
    top, bare = by_shop[strong.shop_id], by_shop[weak.shop_id]
    assert (top.tier, bare.tier) == (ChuanliuTier.S, ChuanliuTier.C)
    assert top.diligence == 100.0 and top.increment == 100.0
    assert top.diligence > bare.diligence and top.distribution > bare.distribution
    # 14 days × 4 hours, and the half-hour room of the latest self-broadcast sale.
    assert (top.live_days, top.live_hours, top.distributing_creators) == (14, 56.5, 3)
    assert (top.self_broadcast_gmv_fen, top.previous_self_broadcast_gmv_fen) == (297_000, 99_000)
    assert top.weight == 400 * 120 and bare.weight == 100 * 100  # no score is neutral
    shops = {r.party_id: r for r in day_plan.rewards if r.party_kind is PartyKind.SHOP}
    assert shops[strong.shop_id].earned_impressions > shops[weak.shop_id].earned_impressions
    # 1,000 a day: 200 to the four creators by their GMV, 800 to the shops 48,000 : 10,000.
    assert (day_plan.pool, day_plan.creator_pool, day_plan.shop_pool) == (1_000, 200, 800)
    assert shops[strong.shop_id].earned_impressions == 662  # 800 × 48/58 = 662.07
    creators = [r.earned_impressions for r in day_plan.rewards if r.party_kind is PartyKind.CREATOR]
    assert creators == [60, 60, 60, 20]  # 29,700 fen each for the strong owner, 9,900 for the weak
    assert sum(r.earned_impressions for r in day_plan.rewards) == day_plan.pool


# The pool and its split -------------------------------------------------------------------------


def test_the_daily_pool_scales_with_the_marketplace_and_leaves_reward_traffic_out(
    session: Session,
) -> None:
    organic(session, 2_000, days=7)
    log_impressions(
        session,
        [
            ImpressionRecord(  # reward traffic is not the marketplace's size
                Surface.FOLLOW,
                ItemKind.LIVE_SESSION,
                1,
                before(1),
                count=50_000,
                is_reward=True,
                reward_plan=rules.PLAN,
            ),
            ImpressionRecord(  # the plan day itself is not yet known
                Surface.FOLLOW, ItemKind.LIVE_SESSION, 1, MIDNIGHT, count=50_000
            ),
        ],
    )
    half_reference = Settings(
        chuanliu_yearly_pool_impressions=365_000, chuanliu_reference_daily_impressions=500
    )
    defaults = Settings()

    assert split.daily_pool(session, DAY, settings=ONE_TO_ONE) == 2_000
    assert split.daily_pool(session, DAY, settings=half_reference) == 4_000
    # 60 billion a year at 10 billion a day: 2,000 a day makes 60e9/365 × 2e3/1e10 = 32.88.
    assert split.daily_pool(session, DAY, settings=defaults) == 32
    organic(session, 2_000, days=7, item_id=2)
    assert split.daily_pool(session, DAY, settings=ONE_TO_ONE) == 4_000


def test_a_young_marketplace_is_sized_by_the_days_it_has(session: Session) -> None:
    organic(session, 700, days=2)

    assert split.daily_pool(session, DAY, settings=ONE_TO_ONE) == 700
    assert split.daily_pool(session, DAY + timedelta(days=8), settings=ONE_TO_ONE) == 0


@given(
    total=st.integers(min_value=0, max_value=10**12),
    weights=st.lists(st.integers(min_value=0, max_value=10**9), max_size=30),
)
def test_largest_remainder_adds_up_exactly_and_stays_within_one_of_the_quota(
    total: int, weights: list[int]
) -> None:
    parts = split.largest_remainder(total, weights)

    whole = sum(weights)
    assert sum(parts) == (total if whole else 0)
    for part, weight in zip(parts, weights, strict=True):
        quota = total * weight / whole if whole else 0
        assert quota - 1 < part < quota + 1
        assert part >= 0 and (weight > 0 or part == 0)


def test_largest_remainder_gives_the_left_over_units_to_the_largest_remainders() -> None:
    assert split.largest_remainder(10, [1, 1, 1]) == [4, 3, 3]
    assert split.largest_remainder(7, [5, 3, 2]) == [4, 2, 1]  # 3.5, 2.1, 1.4
    with pytest.raises(InvalidInput):
        split.largest_remainder(-1, [1])


def test_without_an_eligible_creator_the_shops_get_the_whole_pool(session: Session) -> None:
    cat = factories.category(session)
    sold = qualifying_shop(session, cat, "Solo")
    (creator,) = creators_of(session, sold.shop_id)
    publish_scores(session, (ScoreKind.CREATOR, creator, Tier.LOW, True))
    organic(session, 300, days=7)

    day_plan = split.plan(session, DAY, settings=ONE_TO_ONE)

    assert [(r.party_kind, r.party_id, r.earned_impressions) for r in day_plan.rewards] == [
        (PartyKind.SHOP, sold.shop_id, 300)
    ]


def test_with_no_qualifying_owner_nothing_is_promised(session: Session) -> None:
    organic(session, 300, days=7)

    day_plan = split.plan(session, DAY, settings=ONE_TO_ONE)

    assert (day_plan.pool, day_plan.rewards) == (300, [])
    assert ledger.promise(session, DAY, settings=ONE_TO_ONE) == []


# The ledger -------------------------------------------------------------------------------------


def test_promising_a_day_twice_writes_its_promises_once(session: Session) -> None:
    cat = factories.category(session)
    first = qualifying_shop(session, cat, "First", creators=2)
    second = qualifying_shop(session, cat, "Second", live_days=10)
    organic(session, 1_000, days=7)

    promised = ledger.promise(session, DAY, settings=ONE_TO_ONE)
    go_live(session, days=14, shop_id=first.shop_id)  # later activity changes no promise
    again = ledger.promise(session, DAY, settings=ONE_TO_ONE)

    assert [row.id for row in again] == [row.id for row in promised]
    assert [(r.party_kind, r.promised_impressions) for r in again] == [
        (r.party_kind, r.promised_impressions) for r in promised
    ]
    assert session.scalar(select(func.count()).select_from(ChuanliuLedger)) == 5
    assert sum(row.promised_impressions for row in again) == 1_000
    shop_rows = [row for row in again if row.party_kind is PartyKind.SHOP]
    assert [row.party_id for row in shop_rows] == [first.shop_id, second.shop_id]
    assert all(row.tier is not None and row.delivered_impressions == 0 for row in shop_rows)
    assert all(row.tier is None for row in again if row.party_kind is PartyKind.CREATOR)


def test_small_shares_accrue_until_they_reach_the_minimum_promise(session: Session) -> None:
    """A creator earning 30 a day against a minimum promise of 100 is promised nothing for three
    days and all 120 on the fourth; the owner, earning 120 a day, is promised every day."""
    cat = factories.category(session)
    sold = qualifying_shop(session, cat, "Owner", live_days=K + 3)
    (creator,) = creators_of(session, sold.shop_id)
    organic(session, 150, days=10)  # a pool of 150 a day: 30 to the creator, 120 to the owner
    settings = ONE_TO_ONE.model_copy(update={"chuanliu_min_promise_impressions": 100})
    days = [DAY - timedelta(days=d) for d in (3, 2, 1, 0)]

    rows = [
        {r.party_kind: r for r in ledger.promise(session, day, settings=settings)} for day in days
    ]
    carried = ledger.accrued(session, DAY)

    creator_rows = [day_rows[PartyKind.CREATOR] for day_rows in rows]
    owner_rows = [day_rows[PartyKind.SHOP] for day_rows in rows]
    assert [r.earned_impressions for r in creator_rows] == [30, 30, 30, 30]
    assert [r.promised_impressions for r in creator_rows] == [0, 0, 0, 120]
    assert [r.promised_impressions for r in owner_rows] == [120] * 4
    assert carried == {(PartyKind.CREATOR, creator): 90}  # what DAY's promise paid out
    assert ledger.accrued(session, DAY + timedelta(days=1)) == {}  # nothing earned is lost


def test_reconcile_counts_the_days_reward_impressions_of_each_promised_party(
    session: Session,
) -> None:
    cat = factories.category(session)
    sold = qualifying_shop(session, cat, "Owner")
    (creator,) = creators_of(session, sold.shop_id)
    organic(session, 1_000, days=7)
    ledger.promise(session, DAY, settings=ONE_TO_ONE)
    shop_room = content_service.schedule_live(session, shop_id=sold.shop_id).id
    creator_room = content_service.schedule_live(session, creator_id=creator).id
    shop_video = content_service.post_short_video(session, shop_id=sold.shop_id, at=before(1)).id
    stranger = accounts_service.create_creator(session, name="Stranger")
    stranger_room = content_service.schedule_live(session, creator_id=stranger.id).id
    noon = MIDNIGHT + timedelta(hours=12)

    def reward(
        kind: ItemKind, item: int, count: int, *, at: datetime = noon, plan: str | None = "chuanliu"
    ) -> ImpressionRecord:
        return ImpressionRecord(
            Surface.FEATURED, kind, item, at, count=count, is_reward=bool(plan), reward_plan=plan
        )

    log_impressions(
        session,
        [
            reward(ItemKind.LIVE_SESSION, shop_room, 30),
            reward(ItemKind.SHORT_VIDEO, shop_video, 5),
            reward(ItemKind.PRODUCT_CARD, sold.product_id, 7),
            reward(ItemKind.LIVE_SESSION, creator_room, 11),
            reward(ItemKind.LIVE_SESSION, stranger_room, 3),  # nobody promised: unattributed
            reward(ItemKind.LIVE_SESSION, shop_room, 100, plan=None),
            reward(ItemKind.LIVE_SESSION, shop_room, 50, plan="campaign"),
            reward(ItemKind.LIVE_SESSION, shop_room, 70, at=noon + timedelta(days=1)),
        ],
    )

    first = ledger.reconcile(session, DAY)
    again = ledger.reconcile(session, DAY)

    assert first == again
    assert (first.parties, first.promised, first.delivered) == (2, 1_000, 42 + 11)
    assert (first.reward_impressions, first.unattributed) == (56, 3)
    delivered = {
        (row.party_kind, row.party_id): row.delivered_impressions
        for row in ledger.promise(session, DAY)
    }
    assert delivered == {(PartyKind.SHOP, sold.shop_id): 42, (PartyKind.CREATOR, creator): 11}


# Joined GMV -------------------------------------------------------------------------------------


def test_joined_gmv_shows_distribution_and_self_broadcast_side_by_side(session: Session) -> None:
    cat = factories.category(session)
    sold = factories.seller(session, category_id=cat, price_fen=5_000, at=before(90))
    other = factories.seller(session, category_id=cat, name="Other", at=before(90))
    both, only_dist, shelf_buyer = (factories.buyer(session, n) for n in ("both", "dist", "shelf"))
    distribute(session, sold, both, creators=2, key="both")
    distribute(session, sold, only_dist, creators=1, key="dist", units=2)
    self_broadcast_order(session, sold, both, key="sb", at=before(2))
    factories.paid_order(
        session, buyer_id=shelf_buyer, sku_id=sold.sku_id, key="shelf", at=before(1)
    )
    cancelled = factories.paid_order(
        session, buyer_id=shelf_buyer, sku_id=sold.sku_id, key="gone", at=before(1)
    )
    orders_service.cancel_order(session, order_id=cancelled.id, at=before(1, hours=1))
    factories.paid_order(
        session, buyer_id=shelf_buyer, sku_id=sold.sku_id, key="old", at=before(45)
    )

    (joined,) = split.joined_gmv(session, DAY, shop_id=sold.shop_id)
    everyone = split.joined_gmv(session, DAY)

    assert joined == split.JoinedGmv(
        shop_id=sold.shop_id,
        distribution_gmv_fen=4 * 5_000,
        self_broadcast_gmv_fen=5_000,
        shelf_gmv_fen=5_000,
        distributing_creators=3,
        distribution_buyers=2,
        self_broadcast_buyers=1,
        shared_buyers=1,
    )
    assert joined.total_gmv_fen == 30_000
    assert [j.shop_id for j in everyone] == [sold.shop_id]  # the other shop sold nothing
    assert other.shop_id != sold.shop_id


# The published rules ---------------------------------------------------------------------------


def test_docs_publish_the_tiers_and_multipliers_the_code_uses() -> None:
    text = DOC.read_text()
    tiers = re.findall(r"^\| ([SABC]) \| (\d+) \| (\d+) \|", text, flags=re.M)
    assert [(t, float(lo), int(w)) for t, lo, w in tiers] == [
        (t.value, lo, w) for t, lo, w in RULES.tiers
    ]
    multipliers = dict(
        re.findall(r"^\| (excellent|good|fair|low|no score) \| (\d+)% \|", text, re.M)
    )
    assert {k: int(v) for k, v in multipliers.items()} == {
        **{t.value: m for t, m in RULES.store_multiplier_percent},
        "no score": RULES.no_score_multiplier_percent,
    }
