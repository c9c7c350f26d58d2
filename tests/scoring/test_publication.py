"""A score publication cannot silently wreck the scores merchants see: the default as-of
follows the bulk of the store's orders, and an as-of outside the store's data, or a version
that takes many scores away, is refused unless forced. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from tests import factories
from trustflow.aftersales import service as aftersales_service
from trustflow.db import transaction
from trustflow.errors import Conflict, ErrorCode
from trustflow.orders import service as orders_service
from trustflow.scoring import service as scoring
from trustflow.scoring.models import EntityScore, ScoreVersion, VersionState
from trustflow.warehouse.export import export
from trustflow.warehouse.reader import open_warehouse

#: The store's history lies well in the past of the wall clock, as a simulated demo's does.
START = (datetime.now(UTC) - timedelta(days=300)).replace(hour=0, minute=0, second=0, microsecond=0)


def _orders(
    factory: sessionmaker[Session],
    sold: factories.Seller,
    *,
    days: int,
    per_day: int,
    start: datetime = START,
    key: str = "o",
) -> datetime:
    """``per_day`` delivered orders on each of ``days`` days; returns the newest payment time."""
    newest = start
    with transaction(factory) as s:
        buyer = factories.buyer(s, f"buyer {key}")
        for day in range(days):
            for i in range(per_day):
                newest = start + timedelta(days=day, minutes=10 * i)
                order = factories.paid_order(
                    s, buyer_id=buyer, sku_id=sold.sku_id, key=f"{key}{day}-{i}", at=newest
                )
                # handed over, delivered and reviewed at once: what a score can judge
                for step in (
                    orders_service.ship_order,
                    orders_service.pick_up_order,
                    orders_service.deliver_order,
                ):
                    step(s, order_id=order.id, at=newest)
                aftersales_service.submit_review(s, order_id=order.id, stars=5, at=newest)
    return newest


def _shops(factory: sessionmaker[Session], n: int) -> list[factories.Seller]:
    with transaction(factory) as s:
        cat = factories.category(s)
        return [
            factories.seller(
                s, category_id=cat, name=f"Shop {i}", stock=10_000, at=START - timedelta(days=1)
            )
            for i in range(n)
        ]


def _versions(factory: sessionmaker[Session]) -> list[tuple[int, VersionState, int]]:
    with factory() as s:
        rows = s.execute(
            select(ScoreVersion.id, ScoreVersion.state, func.count(EntityScore.entity_id))
            .outerjoin(EntityScore, EntityScore.version_id == ScoreVersion.id)
            .group_by(ScoreVersion.id, ScoreVersion.state)
            .order_by(ScoreVersion.id)
        ).all()
    return [(int(i), state, int(n)) for i, state, n in rows]


def _default_as_of(engine: Engine, root: Path) -> datetime:
    export(engine, root)
    con = open_warehouse(root)
    try:
        return scoring.default_as_of(scoring.store_data(con), datetime.now(UTC))
    finally:
        con.close()


def test_a_live_store_is_scored_as_of_its_newest_activity(
    engine: Engine, factory: sessionmaker[Session], tmp_path: Path
) -> None:
    (sold,) = _shops(factory, 1)
    recent = datetime.now(UTC) - timedelta(days=5)
    newest = _orders(factory, sold, days=5, per_day=4, start=recent)

    as_of = _default_as_of(engine, tmp_path / "wh")

    assert as_of == newest.replace(microsecond=0) + timedelta(seconds=1)


def test_a_lone_order_far_past_the_data_does_not_drag_the_default_as_of(
    engine: Engine, factory: sessionmaker[Session], tmp_path: Path
) -> None:
    (sold,) = _shops(factory, 1)
    bulk_end = _orders(factory, sold, days=20, per_day=12)
    _orders(factory, sold, days=1, per_day=1, start=datetime.now(UTC), key="lone")

    as_of = _default_as_of(engine, tmp_path / "wh")

    assert as_of == bulk_end.replace(microsecond=0) + timedelta(seconds=1)


@pytest.mark.parametrize(
    ("as_of", "says"),
    [
        (datetime(1, 1, 1, tzinfo=UTC), "is not after the store's first order"),
        (datetime(2099, 1, 1, tzinfo=UTC), "is in the future"),
        (START + timedelta(days=80), "more than 30 days after the store's newest activity"),
    ],
)
def test_an_as_of_outside_the_stores_data_is_refused(
    engine: Engine, factory: sessionmaker[Session], tmp_path: Path, as_of: datetime, says: str
) -> None:
    (sold,) = _shops(factory, 1)
    _orders(factory, sold, days=10, per_day=3)
    wh = tmp_path / "wh"
    first = scoring.compute_scores(engine, wh, as_of=START + timedelta(days=10))
    before = _versions(factory)

    with pytest.raises(Conflict) as refused:
        scoring.compute_scores(engine, wh, as_of=as_of)

    assert refused.value.code is ErrorCode.SCORE_PUBLICATION_REFUSED
    assert says in refused.value.message and "--force" in refused.value.message
    assert START.date().isoformat() in refused.value.message  # the usable span, with numbers
    assert _versions(factory) == before == [(first.version_id, VersionState.ACTIVE, 2)]


def test_a_version_that_takes_most_scores_away_is_refused_unless_forced(
    engine: Engine, factory: sessionmaker[Session], tmp_path: Path
) -> None:
    *quiet, busy = _shops(factory, 4)
    for i, sold in enumerate(quiet):
        _orders(factory, sold, days=10, per_day=3, key=f"q{i}")
    later = START + timedelta(days=200)  # every quiet shop's 180-day window has passed by then
    _orders(factory, busy, days=3, per_day=3, start=later, key="busy")
    wh = tmp_path / "wh"
    first = scoring.compute_scores(engine, wh, as_of=START + timedelta(days=10))
    before = _versions(factory)
    gap = later + timedelta(days=4)

    with pytest.raises(Conflict) as refused:
        scoring.compute_scores(engine, wh, as_of=gap)

    assert refused.value.code is ErrorCode.SCORE_PUBLICATION_REFUSED
    message = refused.value.message
    assert "3 of 3 store scores (100%)" in message and "3 of 3 product scores" in message
    assert f"active version {first.version_id}" in message and "at most 10%" in message
    assert _versions(factory) == before  # nothing published, nothing half-written left

    forced = scoring.compute_scores(engine, wh, as_of=gap, force=True)

    assert _versions(factory) == [
        (first.version_id, VersionState.SUPERSEDED, 6),
        (forced.version_id, VersionState.ACTIVE, 2),
    ]


def test_one_entity_may_lose_its_score_without_a_refusal(
    engine: Engine, factory: sessionmaker[Session], tmp_path: Path
) -> None:
    quiet, busy = _shops(factory, 2)
    _orders(factory, quiet, days=3, per_day=2, key="quiet")
    later = START + timedelta(days=200)  # past the quiet shop's 180-day window
    _orders(factory, busy, days=3, per_day=2, key="early")
    _orders(factory, busy, days=3, per_day=2, start=later, key="late")
    wh = tmp_path / "wh"
    scoring.compute_scores(engine, wh, as_of=START + timedelta(days=5))

    run = scoring.compute_scores(engine, wh, as_of=later + timedelta(days=4))

    assert run.entities == {"store": 1, "product": 1}  # the quiet shop aged out, as it should


def test_the_default_as_of_and_the_guard_are_published_as_they_run() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "scores.md").read_text()
    pipeline = doc[doc.index("## Pipeline") :]

    assert f"at least {scoring.BUSY_DAY_SHARE:.0%} of the store's median daily orders" in pipeline
    assert f"over its {scoring.RECENT_ACTIVE_DAYS} newest days with orders" in pipeline
    assert f"more than {scoring.AS_OF_SLACK.days} days (the store" in pipeline
    assert f"more than {scoring.MAX_DROP_SHARE:.0%} of the entities" in pipeline
