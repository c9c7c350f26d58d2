"""The feed server's three steps: ``refresh`` reads the store, ``serve`` computes on memory
and never touches the store, ``flush`` writes what was served."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from tests import factories
from tests.traffic.serving.test_feed import _market, _no_store, _plan
from trustflow.errors import NotFound
from trustflow.traffic.models import Impression
from trustflow.traffic.plan.models import PacingCounter
from trustflow.traffic.serving.server import Feed, FeedServer, FeedStateMissing
from trustflow.vocabulary import Surface

AT = datetime(2026, 3, 2, 15, 10, tzinfo=UTC)
#: (surface, n): room surfaces, the follow page and shelves, some asking for fewer than held
REQUESTS = [(Surface.DISCOVER, 1), (Surface.MALL, 2), (Surface.FOLLOW, 5), (Surface.SEARCH, 1)]


def _unavailable() -> Session:
    raise AssertionError("the store was asked for a session")


def test_serve_never_touches_the_store_and_answers_as_a_server_with_the_store_does(
    engine: Engine, factory: sessionmaker[Session], session: Session
) -> None:
    m = _market(session)
    _plan(session, m, promised_shop0=2)
    servers = [FeedServer(factory, flush_seconds=60.0, refresh_seconds=60.0, seed=8) for _ in "ab"]
    for server in servers:
        for surface, _ in REQUESTS:
            server.refresh(session, user_id=m.buyers[0], surface=surface, at=AT)
        assert not any(server.needs_store(m.buyers[0], s) for s, _ in REQUESTS)
    pure, backed = servers
    pure.factory = _unavailable  # type: ignore[assignment]

    with _no_store(engine) as statements:
        served = [
            pure.serve(user_id=m.buyers[0], surface=surface, n=n, at=AT)
            for surface, n in REQUESTS * 3
        ]
        as_json = pure.serve_json(user_id=m.buyers[0], surface=Surface.MALL, n=2, at=AT)

    assert statements == []
    expected: list[Feed] = []
    for surface, n in REQUESTS * 3:
        if backed.needs_store(m.buyers[0], surface):
            backed.refresh(session, user_id=m.buyers[0], surface=surface, at=AT)
        expected.append(backed.serve(user_id=m.buyers[0], surface=surface, n=n, at=AT))
    assert served == expected
    assert [i.item_id for i in served[2].items] == [m.live["shop0"]]  # the followed live room
    assert any(i.reward for feed in served for i in feed.items)
    assert as_json.startswith(b'{"plan_version":')
    # nothing was written until the flush, which writes it all
    assert session.scalar(select(func.count()).select_from(Impression)) == 0
    items = sum(len(f.items) for f in served) + 2
    assert pure.flush(session) == items
    assert session.scalar(select(func.sum(PacingCounter.delivered))) == items
    session.rollback()
    pure.factory = factory
    for server in servers:
        server.close()


def test_a_new_buyer_needs_the_store_until_a_refresh_reads_it(
    factory: sessionmaker[Session], session: Session
) -> None:
    m = _market(session)
    _plan(session, m)
    server = FeedServer(factory, flush_seconds=60.0, refresh_seconds=60.0, seed=9)
    server.refresh(session, user_id=m.buyers[1], surface=Surface.MALL)
    assert not server.needs_store(m.buyers[1], Surface.MALL)
    newcomer = factories.buyer(session, name="Newcomer")
    session.commit()

    assert server.needs_store(newcomer, Surface.MALL)
    server.refresh(session, user_id=newcomer, surface=Surface.MALL)
    assert not server.needs_store(newcomer, Surface.MALL)
    assert len(server.serve(user_id=newcomer, surface=Surface.MALL, n=2).items) == 2
    server.close()


def test_a_cold_server_says_it_needs_the_store_and_will_not_guess(
    factory: sessionmaker[Session], session: Session
) -> None:
    m = _market(session)
    server = FeedServer(factory, flush_seconds=60.0, refresh_seconds=60.0)
    assert server.needs_store(m.buyers[0], Surface.DISCOVER)
    with pytest.raises(NotFound, match="no traffic plan is active"):
        server.refresh(session, user_id=m.buyers[0], surface=Surface.DISCOVER)
    _plan(session, m)
    server.refresh(session, user_id=m.buyers[0], surface=Surface.DISCOVER)
    with pytest.raises(FeedStateMissing):  # the shelves' pool was not read
        server.serve(user_id=m.buyers[0], surface=Surface.MALL, n=1)
    with pytest.raises(NotFound, match="buyer"):  # a buyer id the store does not hold
        server.serve(user_id=max(m.buyers) + 1, surface=Surface.DISCOVER, n=1)
    server.close()
