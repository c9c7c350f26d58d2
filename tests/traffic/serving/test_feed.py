"""Feed serving under the active plan: who sees what, reward traffic, pacing shared across
servers, and the plan switch."""

from __future__ import annotations

import gc
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session, sessionmaker

from tests import factories
from trustflow import bulk
from trustflow.accounts import service as accounts_service
from trustflow.accounts.models import Role
from trustflow.api.app import create_app
from trustflow.campaigns import festivals
from trustflow.campaigns.models import CampaignBoost
from trustflow.catalog import service as catalog_service
from trustflow.content import service as content_service
from trustflow.content.models import LiveSession
from trustflow.errors import Conflict
from trustflow.orders.attribution import TokenSigner
from trustflow.traffic import festival as traffic_festival
from trustflow.traffic.models import Impression
from trustflow.traffic.plan import service as tp
from trustflow.traffic.plan.models import CandidateKind, PacingCounter, PlanStatus, TrafficPlan
from trustflow.traffic.schemas import FeedOut
from trustflow.traffic.serving import audience
from trustflow.traffic.serving import server as serving
from trustflow.traffic.serving.server import Feed, FeedServer
from trustflow.vocabulary import Channel, Surface

NOON = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@dataclass
class Market:
    shops: list[int]
    products: list[int]
    creator: int
    buyers: list[int]
    live: dict[str, int]  # host -> live session id
    skus: list[int]


def _market(session: Session) -> Market:
    cat = factories.category(session)
    sellers = [factories.seller(session, category_id=cat, name=f"Shop {i}") for i in range(3)]
    creator = accounts_service.create_creator(session, name="Host", fans=100)
    buyers = [factories.buyer(session, name=f"B{i}") for i in range(3)]
    live = {}
    for host, kw in (
        ("shop0", {"shop_id": sellers[0].shop_id}),
        ("creator", {"creator_id": creator.id}),
    ):
        s = content_service.schedule_live(session, **kw)
        content_service.start_live(session, live_id=s.id)
        live[host] = s.id
    # shop 1 has a room in the plan but is not live now
    catalog_service.follow_shop(session, buyer_id=buyers[0], shop_id=sellers[0].shop_id)
    catalog_service.follow_shop(session, buyer_id=buyers[0], shop_id=sellers[1].shop_id)
    session.commit()
    return Market(
        [s.shop_id for s in sellers],
        [s.product_id for s in sellers],
        creator.id,
        buyers,
        live,
        [s.sku_id for s in sellers],
    )


def _plan(
    session: Session,
    m: Market,
    *,
    promised_shop0: int = 0,
    festival_shop0: tuple[int, int] = (0, 0),
    day: date = date(2026, 3, 2),
    commit: bool = True,
) -> TrafficPlan:
    kinds = (
        [CandidateKind.SHOP_ROOM] * 3
        + [CandidateKind.CREATOR_ROOM]
        + [CandidateKind.PRODUCT_CARD] * 3
    )
    entity = [*m.shops, m.creator, *m.products]
    shop = [*m.shops, 0, *m.shops]
    segments = 2
    supply = np.full(len(tp.SURFACES) * tp.HOURS * segments, 100.0)
    inputs = tp.PlanInputs(
        day=day,
        segments=segments,
        supply=supply,
        kind=np.array([tp.KINDS.index(k) for k in kinds], dtype=np.int64),
        entity_id=np.array(entity, dtype=np.int64),
        shop_id=np.array(shop, dtype=np.int64),
        value_fen=np.array([50.0, 40.0, 30.0, 45.0, 20.0, 25.0, 30.0]),
        multiplier=np.ones(len(kinds)),
        hours=np.ones((len(kinds), tp.HOURS), dtype=bool),
        promised=np.array([promised_shop0, 0, 0, 0, 0, 0, 0], dtype=np.int64),
        is_new=np.zeros(len(kinds), dtype=bool),
        campaign_id=np.array([festival_shop0[0], 0, 0, 0, 0, 0, 0], dtype=np.int64),
        campaign_promised=np.array([festival_shop0[1], 0, 0, 0, 0, 0, 0], dtype=np.int64),
    )
    plan = tp.store(session, tp.solve(inputs))
    tp.activate(session, plan.id)
    if commit:
        session.commit()
    return plan


def _serve(
    server: FeedServer,
    session: Session,
    *,
    user_id: int,
    surface: Surface,
    n: int,
    at: datetime | None = None,
) -> Feed:
    """One request as the feed route serves it: a refresh first if the server needs the
    store, the feed from memory, and a flush within the request if the server does not flush
    in the background."""
    if server.needs_store(user_id, surface):
        server.refresh(session, user_id=user_id, surface=surface, at=at)
    feed = server.serve(user_id=user_id, surface=surface, n=n, at=at)
    if server.flush_seconds <= 0:
        server.flush(session)
    return feed


@contextmanager
def _no_store(engine: Engine) -> Iterator[list[str]]:
    """The statements run on ``engine`` within the block (there should be none)."""
    statements: list[str] = []

    def executed(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine, "before_cursor_execute", executed)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", executed)


def _client(factory: sessionmaker[Session], engine: Engine) -> TestClient:
    app = create_app(engine)
    app.state.feed_server = FeedServer(factory, refresh_seconds=0.0, seed=1)
    return TestClient(app)


def _key(session: Session, role: Role, subject: int | None) -> dict[str, str]:
    _, secret = accounts_service.create_api_key(session, role=role, subject_id=subject)
    session.commit()
    return {"X-API-Key": secret}


def test_feed_shows_live_rooms_followed_rooms_and_cards_and_logs_them(
    engine: Engine, factory: sessionmaker[Session], session: Session
) -> None:
    m = _market(session)
    plan = _plan(session, m)
    op = _key(session, Role.OPERATOR, None)
    with _client(factory, engine) as client:
        featured = client.get(
            f"/api/v1/feed?user_id={m.buyers[1]}&surface=featured&n=10", headers=op
        )
        follow = client.get(f"/api/v1/feed?user_id={m.buyers[0]}&surface=follow&n=10", headers=op)
        shelf = client.get(f"/api/v1/feed?user_id={m.buyers[1]}&surface=mall&n=2", headers=op)
    assert featured.status_code == 200, featured.text
    body = featured.json()
    assert body["plan_version"] == plan.version
    assert {i["item_id"] for i in body["items"]} == set(m.live.values())  # shop 1 is not live
    # follows shop 0 (live) and shop 1 (not live): only shop 0's room
    assert [i["item_id"] for i in follow.json()["items"]] == [m.live["shop0"]]
    cards = shelf.json()["items"]
    assert len(cards) == 2 and {c["item_kind"] for c in cards} == {"product_card"}
    assert {c["item_id"] for c in cards} <= set(m.products)
    logged = session.execute(
        select(Impression.buyer_id, Impression.plan_version, func.count()).group_by(
            Impression.buyer_id, Impression.plan_version
        )
    ).all()
    assert sorted(logged) == sorted(
        [(m.buyers[1], plan.version, 4), (m.buyers[0], plan.version, 1)]
    )
    counted = session.scalar(select(func.sum(PacingCounter.delivered)))
    assert counted == 5


def test_reward_impressions_stop_when_the_promise_is_met(
    engine: Engine, factory: sessionmaker[Session], session: Session
) -> None:
    m = _market(session)
    _plan(session, m, promised_shop0=3)
    server = FeedServer(factory, refresh_seconds=0.0, seed=2)
    rewards = []
    for _ in range(12):
        feed = _serve(server, session, user_id=m.buyers[2], surface=Surface.FEATURED, n=2, at=NOON)
        rewards += [
            i.reward
            for i in feed.items
            if i.candidate_kind is CandidateKind.SHOP_ROOM and i.entity_id == m.shops[0]
        ]
    assert sum(rewards) == 3 and rewards[:3] == [True, True, True]
    assert session.scalar(select(func.count()).where(Impression.is_reward.is_(True))) == 3
    assert session.scalar(select(func.count()).where(Impression.reward_plan == "chuanliu")) == 3


def test_a_festivals_promise_is_served_as_its_reward_traffic_after_chuanlius(
    engine: Engine, factory: sessionmaker[Session], session: Session
) -> None:
    m = _market(session)
    day = NOON.date()
    campaign = festivals.create_campaign(
        session,
        festivals.CampaignSpec(
            name="116",
            registration_from=NOON - timedelta(days=20),
            registration_to=NOON - timedelta(days=10),
            warmup_from=NOON - timedelta(days=1),
            main_from=NOON,
            main_to=NOON + timedelta(days=5),
        ),
        actor="operator:1",
        at=NOON - timedelta(days=20),
    ).id
    session.add(
        CampaignBoost(campaign_id=campaign, day=day, shop_id=m.shops[0], promised_impressions=3)
    )
    _plan(session, m, promised_shop0=2, festival_shop0=(campaign, 3))
    server = FeedServer(factory, refresh_seconds=0.0, seed=2)
    shown = 0
    for _ in range(15):
        feed = _serve(server, session, user_id=m.buyers[2], surface=Surface.FEATURED, n=2, at=NOON)
        shown += sum(
            i.candidate_kind is CandidateKind.SHOP_ROOM and i.entity_id == m.shops[0]
            for i in feed.items
        )
    labels = dict(
        session.execute(
            select(Impression.reward_plan, func.count()).group_by(Impression.reward_plan)
        ).all()
    )

    # the room was shown more than both promises: the Chuanliu promise first, then the
    # festival's, then organic traffic
    assert shown > 5
    assert (labels["chuanliu"], labels[f"festival:{campaign}"]) == (2, 3)
    # the festival's ledger reconciles from the log: delivered what was promised
    with session.begin_nested():
        day_total = traffic_festival.reconcile_boosts(session, campaign, day)
    assert (day_total.promised, day_total.delivered) == (3, 3)


def test_pacing_holds_back_a_candidate_ahead_of_its_schedule(
    engine: Engine, factory: sessionmaker[Session], session: Session
) -> None:
    m = _market(session)
    plan = _plan(session, m)
    server = FeedServer(factory, refresh_seconds=0.0, seed=3)
    server.refresh(session)
    snap = server.snapshot
    ahead = snap.index[(tp.KINDS.index(CandidateKind.PRODUCT_CARD), m.products[0])]
    # another server already delivered this card's whole day by noon
    session.add(PacingCounter(plan_id=plan.id, idx=ahead, delivered=int(snap.planned[ahead]) + 1))
    session.commit()
    fresh = FeedServer(factory, refresh_seconds=0.0, seed=3)
    shown = {p: 0 for p in m.products}
    for _ in range(200):
        feed = _serve(fresh, session, user_id=m.buyers[2], surface=Surface.SEARCH, n=1, at=NOON)
        shown[feed.items[0].item_id] += 1
    assert shown[m.products[0]] < min(shown[m.products[1]], shown[m.products[2]]) / 3


def test_activation_switches_plans_atomically_and_serving_follows(
    engine: Engine, factory: sessionmaker[Session], session: Session
) -> None:
    m = _market(session)
    first = _plan(session, m)
    server = FeedServer(factory, refresh_seconds=0.0, seed=4)
    before = _serve(server, session, user_id=m.buyers[1], surface=Surface.MALL, n=1)
    second = _plan(session, m, day=date(2026, 3, 3))
    after = _serve(server, session, user_id=m.buyers[1], surface=Surface.MALL, n=1)
    assert (before.plan_version, after.plan_version) == (first.version, second.version)
    statuses = dict(session.execute(select(TrafficPlan.id, TrafficPlan.status)).all())
    assert statuses == {first.id: PlanStatus.RETIRED, second.id: PlanStatus.ACTIVE}
    with pytest.raises(Conflict):
        tp.activate(session, first.id)


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("user_id={b}&surface=nowhere", 422),
        ("user_id={b}&surface=featured&n=0", 422),
        ("user_id={b}&surface=featured&n=51", 422),
        ("user_id=999999&surface=featured", 404),
        ("surface=featured", 422),
    ],
)
def test_bad_feed_requests_get_clear_errors(
    engine: Engine, factory: sessionmaker[Session], session: Session, query: str, code: int
) -> None:
    m = _market(session)
    _plan(session, m)
    op = _key(session, Role.OPERATOR, None)
    with _client(factory, engine) as client:
        r = client.get("/api/v1/feed?" + query.format(b=m.buyers[0]), headers=op)
    assert r.status_code == code
    assert r.json()["error"]["code"] in {"invalid_input", "not_found"}


def test_buyers_see_only_their_own_feed_and_strangers_none(
    engine: Engine, factory: sessionmaker[Session], session: Session
) -> None:
    m = _market(session)
    _plan(session, m)
    mine = _key(session, Role.BUYER, m.buyers[0])
    with _client(factory, engine) as client:
        assert (
            client.get(f"/api/v1/feed?user_id={m.buyers[0]}&surface=mall", headers=mine).status_code
            == 200
        )
        assert (
            client.get(f"/api/v1/feed?user_id={m.buyers[1]}&surface=mall", headers=mine).status_code
            == 403
        )
        assert client.get(f"/api/v1/feed?user_id={m.buyers[0]}&surface=mall").status_code == 401


def test_no_active_plan_is_a_clear_404(
    engine: Engine, factory: sessionmaker[Session], session: Session
) -> None:
    m = _market(session)
    op = _key(session, Role.OPERATOR, None)
    with _client(factory, engine) as client:
        r = client.get(f"/api/v1/feed?user_id={m.buyers[0]}&surface=mall", headers=op)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("engine", ["postgres"], indirect=True)
def test_servers_share_pacing_counters_under_concurrency(
    engine: Engine, factory: sessionmaker[Session], session: Session
) -> None:
    """Four servers (as four workers would) serve concurrently, each on its own connection,
    flushing in batches: no increment is lost and every impression is logged once."""
    m = _market(session)
    plan = _plan(session, m)
    servers = [
        FeedServer(factory, refresh_seconds=0.0, flush_seconds=0.05, seed=s) for s in range(4)
    ]
    per_thread, n = 40, 3
    errors: list[BaseException] = []

    def work(server: FeedServer) -> None:
        try:
            with factory() as s:
                for _ in range(per_thread):
                    _serve(server, s, user_id=m.buyers[1], surface=Surface.MALL, n=n)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(srv,)) for srv in servers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for srv in servers:
        srv.close()
    assert not errors
    total = len(servers) * per_thread * n
    session.expire_all()
    assert (
        session.scalar(
            select(func.sum(PacingCounter.delivered)).where(PacingCounter.plan_id == plan.id)
        )
        == total
    )
    assert session.scalar(select(func.count()).select_from(Impression)) == total
    # and every server sees the shared totals after a read
    probe = FeedServer(factory, refresh_seconds=0.0)
    probe.refresh(session)
    assert probe.snapshot.delivered.sum() == total


def test_the_plan_in_force_is_shown_to_operators_and_sellers_not_buyers(
    engine: Engine, factory: sessionmaker[Session], session: Session
) -> None:
    m = _market(session)
    op = _key(session, Role.OPERATOR, None)
    buyer = _key(session, Role.BUYER, m.buyers[0])
    with _client(factory, engine) as client:
        assert client.get("/api/v1/traffic/plan", headers=op).status_code == 404
        plan = _plan(session, m)
        shown = client.get("/api/v1/traffic/plan", headers=op)
        assert client.get("/api/v1/traffic/plan", headers=buyer).status_code == 403
    assert shown.status_code == 200, shown.text
    body = shown.json()
    assert (body["version"], body["status"], body["candidates"]) == (plan.version, "active", 7)


def test_warm_servers_serve_from_memory_and_still_log_everything(
    engine: Engine, factory: sessionmaker[Session], session: Session
) -> None:
    m = _market(session)
    _plan(session, m)
    server = FeedServer(factory, refresh_seconds=60.0, flush_seconds=0.05, seed=6)
    assert server.needs_store(m.buyers[1], Surface.MALL)
    _serve(server, session, user_id=m.buyers[1], surface=Surface.MALL, n=2)  # warms the pool
    assert not server.needs_store(m.buyers[1], Surface.MALL)
    assert server.needs_store(m.buyers[1], Surface.FOLLOW)  # the live pool is not built yet
    _serve(server, session, user_id=m.buyers[0], surface=Surface.FOLLOW, n=5)
    assert not server.needs_store(m.buyers[0], Surface.FOLLOW)  # the pool indexes followers
    followed = server.serve(user_id=m.buyers[0], surface=Surface.FOLLOW, n=5)
    # follows shop 0 (live) and shop 1 (not live): only shop 0's room, from memory
    assert [i.item_id for i in followed.items] == [m.live["shop0"]]
    assert server.serve(user_id=m.buyers[1], surface=Surface.FOLLOW, n=5).items == []
    for _ in range(5):
        feed = server.serve(user_id=m.buyers[1], surface=Surface.MALL, n=2)
        assert len(feed.items) == 2
    server.close()  # flushes what is buffered
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Impression)) == 14
    assert session.scalar(select(func.sum(PacingCounter.delivered))) == 14


def test_reward_traffic_goes_first_to_the_owners_precise_audience(
    engine: Engine, factory: sessionmaker[Session], session: Session
) -> None:
    """Buyers who bought a promised owner's goods through a creator, and that creator's fans,
    see the owner's live room first, as reward traffic; other buyers are not singled out."""
    m = _market(session)
    seller_creator, _ = factories.creator_selling(session, m.products[0])
    factories.paid_order(
        session,
        buyer_id=m.buyers[2],
        sku_id=m.skus[0],
        key="precise-1",
        channel=Channel.DISTRIBUTION,
        creator_id=seller_creator,
    )
    accounts_service.follow_creator(session, buyer_id=m.buyers[1], creator_id=seller_creator)
    session.commit()
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    _plan(session, m, promised_shop0=5, day=tomorrow)
    server = FeedServer(factory, refresh_seconds=0.0, seed=7)
    server.refresh(session)
    snap = server.snapshot
    room = snap.index[(tp.KINDS.index(CandidateKind.SHOP_ROOM), m.shops[0])]
    assert snap.precise == {m.buyers[2]: [room], m.buyers[1]: [room]}
    for buyer in (m.buyers[2], m.buyers[1]):
        first = _serve(server, session, user_id=buyer, surface=Surface.DISCOVER, n=2).items[0]
        assert (first.candidate_kind, first.entity_id, first.reward) == (
            CandidateKind.SHOP_ROOM,
            m.shops[0],
            True,
        )


def test_too_many_followers_to_hold_are_read_one_buyer_at_a_time_and_held(
    engine: Engine,
    factory: sessionmaker[Session],
    session: Session,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    m = _market(session)
    _plan(session, m)
    monkeypatch.setattr(audience, "FOLLOW_PAIRS", 0)
    server = FeedServer(factory, refresh_seconds=60.0, flush_seconds=60.0, seed=6)
    buyer = m.buyers[0]
    with factory() as request_session:  # as the route does
        server.refresh(request_session, user_id=buyer, surface=Surface.DISCOVER)
        assert server.needs_store(buyer, Surface.FOLLOW)  # no index: the buyer's are read
        server.refresh(request_session, user_id=buyer, surface=Surface.FOLLOW)
    assert not server.needs_store(buyer, Surface.FOLLOW)  # held
    assert server.needs_store(m.buyers[1], Surface.FOLLOW)  # another buyer's are not

    with _no_store(engine) as statements:
        followed = server.serve(user_id=buyer, surface=Surface.FOLLOW, n=5)

    assert [i.item_id for i in followed.items] == [m.live["shop0"]] and statements == []
    monkeypatch.setattr(serving, "FOLLOW_REFRESH_SECONDS", 0.0)
    assert server.needs_store(buyer, Surface.FOLLOW)  # held too long: read again
    server.close()


def test_integer_rows_arrive_as_one_array_with_nulls_as_zero(session: Session) -> None:
    m = _market(session)
    stmt = select(LiveSession.id, LiveSession.shop_id, LiveSession.creator_id).order_by(
        LiveSession.id
    )
    expected = [[i, s or 0, c or 0] for i, s, c in session.execute(stmt).all()]

    rows = bulk.int_rows(session, stmt)

    assert rows.dtype == np.int64 and sorted(rows.tolist()) == expected
    assert any(r[1] == 0 for r in expected) and any(r[2] == 0 for r in expected)
    assert m.live["shop0"] in rows[:, 0]
    empty = bulk.int_rows(session, stmt.where(LiveSession.id < 0))
    assert empty.shape == (0, 3)


def test_the_follow_page_follows_new_follows_and_unfollows_reading_them_only_then(
    engine: Engine,
    factory: sessionmaker[Session],
    session: Session,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    m = _market(session)
    _plan(session, m)
    monkeypatch.setattr(serving, "FOLLOW_REFRESH_SECONDS", 0.0)
    reads = []
    real = serving.read_follows
    monkeypatch.setattr(serving, "read_follows", lambda s: reads.append(1) or real(s))
    server = FeedServer(factory, refresh_seconds=0.0, seed=3)

    def follow_page() -> list[int]:
        with factory() as request_session:
            feed = _serve(server, request_session, user_id=m.buyers[2], surface=Surface.FOLLOW, n=5)
        return sorted(i.item_id for i in feed.items)

    assert follow_page() == [] and follow_page() == [] and len(reads) == 1
    first = accounts_service.follow_creator(session, buyer_id=m.buyers[2], creator_id=m.creator)
    catalog_service.follow_shop(session, buyer_id=m.buyers[2], shop_id=m.shops[0])
    session.commit()
    expected = sorted([m.live["creator"], m.live["shop0"]])
    assert follow_page() == expected and follow_page() == expected and len(reads) == 2
    accounts_service.unfollow(session, buyer_id=m.buyers[2], follow_id=first.id)
    session.commit()
    assert follow_page() == [m.live["shop0"]] and len(reads) == 3
    server.close()


def test_only_a_serving_process_freezes_its_warm_objects_out_of_the_collector(
    factory: sessionmaker[Session], session: Session
) -> None:
    m = _market(session)
    _plan(session, m)
    gc.unfreeze()
    try:
        FeedServer(factory).refresh(session)
        assert gc.get_freeze_count() == 0  # a library user's process is left alone
        FeedServer(factory, freeze_gc=True).refresh(session)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_the_log_holds_exactly_what_was_served(
    factory: sessionmaker[Session], session: Session
) -> None:
    """Every field of every row a warm server logs (one COPY per flush on PostgreSQL)."""
    m = _market(session)
    plan = _plan(session, m, promised_shop0=2)
    server = FeedServer(factory, refresh_seconds=60.0, flush_seconds=60.0, seed=4)
    served = []
    at = NOON
    for i, (buyer, surface) in enumerate(
        [(m.buyers[0], Surface.FOLLOW), (m.buyers[1], Surface.DISCOVER)] * 3
        + [(m.buyers[2], Surface.MALL), (m.buyers[1], Surface.SEARCH)]
    ):
        at = NOON + timedelta(seconds=i, microseconds=123_457)
        feed = _serve(server, session, user_id=buyer, surface=surface, n=3, at=at)
        served += [
            (surface, it.item_kind, it.item_id, buyer, at, it.reward, plan.version)
            for it in feed.items
        ]
    assert any(reward for *_, reward, _ in served) and not all(r for *_, r, _ in served)
    session.rollback()
    assert server.flush() == len(served)
    rows = session.execute(
        select(
            Impression.surface,
            Impression.item_kind,
            Impression.item_id,
            Impression.buyer_id,
            Impression.shown_at,
            Impression.is_reward,
            Impression.plan_version,
            Impression.reward_plan,
            Impression.count,
        )
    ).all()
    assert sorted((*r[:7],) for r in rows) == sorted(served)
    assert all(r.reward_plan == ("chuanliu" if r.is_reward else None) for r in rows)
    assert {r.count for r in rows} == {1}
    counted = dict(session.execute(select(PacingCounter.idx, PacingCounter.delivered)).all())
    assert sum(counted.values()) == len(served)
    session.rollback()
    server.close()


def test_the_feeds_json_is_the_served_feed_in_feed_outs_shape_best_score_first(
    engine: Engine, factory: sessionmaker[Session], session: Session
) -> None:
    m = _market(session)
    _plan(session, m, promised_shop0=1)  # one reward impression owed: both flags appear
    signer = TokenSigner(b"k" * 32, lifetime=timedelta(hours=1))
    as_json = FeedServer(factory, flush_seconds=60.0, refresh_seconds=60.0, seed=4, signer=signer)
    as_feed = FeedServer(factory, flush_seconds=60.0, refresh_seconds=60.0, seed=4, signer=signer)
    at = datetime(2026, 3, 2, 13, 30, tzinfo=UTC)
    requests = [(Surface.DISCOVER, 10), (Surface.MALL, 2), (Surface.FOLLOW, 5)] * 2
    rewards = []
    for surface, n in requests:
        user = m.buyers[0]
        for server in (as_json, as_feed):
            if server.needs_store(user, surface):
                server.refresh(session, user_id=user, surface=surface, at=at)
        body = as_json.serve_json(user_id=user, surface=surface, n=n, at=at)
        feed = as_feed.serve(user_id=user, surface=surface, n=n, at=at)
        out = FeedOut.model_validate_json(body)
        assert json.loads(body) == out.model_dump(mode="json")  # exactly FeedOut's fields
        assert out.model_dump() == FeedOut.model_validate(feed).model_dump()
        assert out.items, surface
        assert all(i.attribution_token for i in out.items)
        scores = [i.score for i in out.items]
        assert scores == sorted(scores, reverse=True)
        rewards += [i.reward for i in out.items]
    assert rewards.count(True) == 1  # the one owed impression, then no more
    as_json.close()
    as_feed.close()
    session.expire_all()
    assert session.scalar(select(func.count()).where(Impression.is_reward.is_(True))) == 2


def test_a_refresh_keeps_the_rooms_it_has_until_the_live_rooms_change(
    engine: Engine, factory: sessionmaker[Session], session: Session
) -> None:
    m = _market(session)
    _plan(session, m)
    server = FeedServer(factory, refresh_seconds=0.0, seed=3)  # every request refreshes
    user = m.buyers[1]

    def shown() -> set[int]:
        feed = _serve(server, session, user_id=user, surface=Surface.DISCOVER, n=10)
        return {i.item_id for i in feed.items}

    assert shown() == set(m.live.values())
    first = server._pools[False]
    assert shown() == set(m.live.values())
    again = server._pools[False]
    assert again is not first and again.fragments is first.fragments  # items kept, redrawn
    content_service.end_live(session, live_id=m.live["creator"])
    session.commit()
    assert shown() == {m.live["shop0"]}
    assert server._pools[False].fragments is not first.fragments
    later = content_service.schedule_live(session, creator_id=m.creator)
    content_service.start_live(session, live_id=later.id)
    session.commit()
    assert shown() == {m.live["shop0"], later.id}


def test_a_feed_items_token_attributes_an_order_to_what_the_item_showed(
    engine: Engine, factory: sessionmaker[Session], session: Session
) -> None:
    m = _market(session)
    _plan(session, m)
    buyer, other = _key(session, Role.BUYER, m.buyers[1]), _key(session, Role.BUYER, m.buyers[2])
    app = create_app(engine)
    app.state.feed_server = FeedServer(
        factory, refresh_seconds=0.0, seed=1, signer=app.state.token_signer
    )
    sku_of = dict(zip(m.products, m.skus, strict=True))
    with TestClient(app) as client:
        feed = f"/api/v1/feed?user_id={m.buyers[1]}"
        rooms = client.get(f"{feed}&surface=discover&n=10", headers=buyer).json()["items"]
        card = client.get(f"{feed}&surface=mall&n=1", headers=buyer).json()["items"][0]
        room = next(i for i in rooms if i["candidate_kind"] == "shop_room")

        def order(sku: int, token: str, key: str, who: dict[str, str]) -> dict[str, Any]:
            placed = client.post(
                "/api/v1/orders",
                json={"sku_id": sku, "attribution_token": token},
                headers={**who, "Idempotency-Key": key},
            )
            assert placed.status_code == 201, placed.text
            return dict(placed.json())

        in_room = order(m.skus[0], room["attribution_token"], "room", buyer)
        from_card = order(sku_of[card["item_id"]], card["attribution_token"], "card", buyer)
        not_theirs = order(m.skus[0], room["attribution_token"], "stolen", other)

    assert (in_room["channel"], in_room["surface"], in_room["content_id"]) == (
        "self_broadcast",
        "discover",
        m.live["shop0"],
    )
    assert (from_card["channel"], from_card["surface"]) == ("shelf_mall", "mall")
    assert (not_theirs["channel"], not_theirs["surface"], not_theirs["content_id"]) == (
        "shelf_card",
        None,
        None,
    )
