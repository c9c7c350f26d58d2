"""The nightly job on a real store: export by watermark, compute, publish atomically, and
the appeals that take a defect out of the next computation. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from tests import factories
from trustflow.aftersales.models import Review
from trustflow.db import transaction
from trustflow.errors import Conflict, NotFound
from trustflow.orders import service as orders_service
from trustflow.orders.models import Order
from trustflow.scoring import rules
from trustflow.scoring import service as scoring
from trustflow.scoring.models import (
    BurstVerdict,
    DefectKind,
    ScoreKind,
    ScoreStatus,
    ScoreVersion,
    VersionState,
)
from trustflow.warehouse.export import export

NOW = datetime(2026, 3, 1, tzinfo=UTC)
START = NOW - timedelta(days=12)


def _market(factory: sessionmaker[Session], stars: list[int]) -> factories.Seller:
    with transaction(factory) as s:
        cat = factories.category(s)
        sold = factories.seller(s, category_id=cat, stock=1000, at=START - timedelta(days=1))
        buyer = factories.buyer(s)
        factories.delivered_orders(
            s, sold, buyer_id=buyer, count=len(stars), start=START, stars=stars
        )
    return sold


def _bad_reviews(detail: dict[str, object]) -> float:
    metrics = detail["metrics"]
    assert isinstance(metrics, list)
    return next(m["defects"] for m in metrics if m["metric"] == "bad_review_rate")


def test_scores_are_computed_published_and_explained(
    engine: Engine, factory: sessionmaker[Session], tmp_path: Path
) -> None:
    sold = _market(factory, [5, 5, 4, 1, 5, 5, 2, 5])
    run = scoring.compute_scores(engine, tmp_path / "wh", as_of=NOW)
    assert run.entities == {"store": 1, "product": 1}  # no creator sold anything

    with factory() as s:
        store = scoring.get_score(s, ScoreKind.STORE, sold.shop_id)
        assert store is not None
        assert store.sample == 8
        assert store.status is ScoreStatus.PROVISIONAL  # 8 < the published 30
        assert store.lower <= store.score <= store.upper
        names = {m["metric"] for m in store.detail["metrics"]}
        assert names == {m.name for m in rules.STORE.metrics}
        assert _bad_reviews(store.detail) == 2
        assert scoring.get_score(s, ScoreKind.CREATOR, 1) is None  # no score, not a low one
        assert [v.state for v in s.scalars(select(ScoreVersion))] == [VersionState.ACTIVE]


def test_an_upheld_appeal_removes_the_defect_from_the_next_computation(
    engine: Engine, factory: sessionmaker[Session], tmp_path: Path
) -> None:
    sold = _market(factory, [5, 5, 5, 1, 5, 5, 5, 5])
    wh = tmp_path / "wh"
    scoring.compute_scores(engine, wh, as_of=NOW)
    with transaction(factory) as s:
        before = scoring.get_score(s, ScoreKind.STORE, sold.shop_id)
        assert before is not None and _bad_reviews(before.detail) == 1
        score_before = before.score
        review_id = s.scalar(select(Review.id).where(Review.stars == 1))
        assert review_id is not None
        appeal = scoring.file_appeal(
            s,
            shop_id=sold.shop_id,
            defect_kind=DefectKind.REVIEW,
            defect_id=review_id,
            reason="the buyer reviewed another shop's parcel",
        )
        scoring.decide_appeal(s, appeal_id=appeal.id, upheld=True, note="checked the waybill")

    scoring.compute_scores(engine, wh, as_of=NOW + timedelta(hours=1))
    with factory() as s:
        after = scoring.get_score(s, ScoreKind.STORE, sold.shop_id)
        assert after is not None
        assert _bad_reviews(after.detail) == 0
        assert after.score > score_before
        trend = scoring.history(s, ScoreKind.STORE, sold.shop_id)
        assert [row.score for _, row in trend] == [after.score, score_before]


def test_a_crash_while_publishing_leaves_the_previous_version_served(
    engine: Engine, factory: sessionmaker[Session], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sold = _market(factory, [5, 4, 5])
    wh = tmp_path / "wh"
    first = scoring.compute_scores(engine, wh, as_of=NOW)
    with transaction(factory) as s:
        buyer = factories.buyer(s, "late")
        factories.delivered_orders(
            s,
            sold,
            buyer_id=buyer,
            count=3,
            start=NOW - timedelta(days=4),
            stars=[1, 1, 1],
            key="late",
        )

    def crash(*args: object, **kwargs: object) -> None:  # every row written, then the crash
        raise RuntimeError("simulated crash before the switch")

    monkeypatch.setattr(scoring, "activate", crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        scoring.compute_scores(engine, wh, as_of=NOW + timedelta(days=1))
    monkeypatch.undo()

    with factory() as s:
        active = scoring.active_version(s)
        assert active is not None and active.id == first.version_id
        served = scoring.get_score(s, ScoreKind.STORE, sold.shop_id)
        assert served is not None and served.sample == 3

    again = scoring.compute_scores(engine, wh, as_of=NOW + timedelta(days=1))
    with factory() as s:
        states = {v.id: v.state for v in s.scalars(select(ScoreVersion))}
        assert states == {
            first.version_id: VersionState.SUPERSEDED,
            again.version_id: VersionState.ACTIVE,
        }  # the half-written version is gone
        served = scoring.get_score(s, ScoreKind.STORE, sold.shop_id)
        assert served is not None and served.sample == 6


def test_export_by_watermark_rewrites_only_the_days_that_changed(
    engine: Engine, factory: sessionmaker[Session], tmp_path: Path
) -> None:
    sold = _market(factory, [5] * 30)  # 30 orders over two days
    with transaction(factory) as s:
        factories.delivered_orders(
            s,
            sold,
            buyer_id=factories.buyer(s),
            count=30,
            start=START + timedelta(days=5),
            key="later",
        )
    wh = tmp_path / "wh"
    first = export(engine, wh)
    assert (first.tables["orders"]["rows"], first.tables["orders"]["partitions"]) == (60, 4)
    untouched = wh / "orders" / f"day={(START + timedelta(days=1)).date().isoformat()}"
    mtime = (untouched / "part-0.parquet").stat().st_mtime_ns

    with transaction(factory) as s:
        first_order = min(s.scalars(select(Order.id)))
        orders_service.confirm_receipt(s, order_id=first_order, at=NOW)
    second = export(engine, wh)
    # The changed order's day, plus the newest day that the safety lag re-reads.
    assert second.tables["orders"]["partitions"] == 2
    assert (untouched / "part-0.parquet").stat().st_mtime_ns == mtime
    day = pl.read_parquet(wh / "orders" / f"day={START.date().isoformat()}" / "*.parquet")
    assert day.filter(pl.col("id") == first_order)["status"].item() == "received"
    every = pl.read_parquet(wh / "orders" / "*" / "*.parquet")
    assert every.height == 60 and every["id"].n_unique() == 60


def test_a_run_overtaken_by_a_newer_one_cannot_publish_its_stale_version(
    engine: Engine, factory: sessionmaker[Session], tmp_path: Path
) -> None:
    _market(factory, [5, 1, 5])
    with transaction(factory) as s:  # an older run, still writing
        stale = ScoreVersion(as_of=NOW, engine="duckdb")
        s.add(stale)
    newer = scoring.compute_scores(engine, tmp_path / "wh", as_of=NOW)

    with pytest.raises(Conflict, match="superseded"):
        scoring.activate(factory, stale.id, entities=0)
    with factory() as s:
        active = scoring.active_version(s)
        assert active is not None and active.id == newer.version_id


def test_a_held_burst_awaits_a_verdict_and_the_verdict_holds(
    engine: Engine, factory: sessionmaker[Session], tmp_path: Path
) -> None:
    # Twenty good orders, then six buyers' one-star reviews on one day: a burst, held back.
    sold = _market(factory, [5] * 20)
    with transaction(factory) as s:
        for i in range(6):
            factories.delivered_orders(
                s,
                sold,
                buyer_id=factories.buyer(s, f"unhappy {i}"),
                count=1,
                start=NOW - timedelta(days=5) + timedelta(hours=i),
                stars=[1],
                key=f"unhappy{i}",
            )
    wh = tmp_path / "wh"
    scoring.compute_scores(engine, wh, as_of=NOW)
    with factory() as s:
        held = s.scalars(scoring.pending_bursts(s)).all()
        assert [(b.shop_id, b.bad_reviews) for b in held] == [(sold.shop_id, 6)]
        store = scoring.get_score(s, ScoreKind.STORE, sold.shop_id)
        assert store is not None and store.detail["held_reviews"] == 6
        assert _bad_reviews(store.detail) == 0
        day = held[0].epoch_day

    with transaction(factory) as s:
        scoring.decide_burst(s, shop_id=sold.shop_id, epoch_day=day, verdict=BurstVerdict.CONFIRMED)
        with pytest.raises(Conflict):
            scoring.decide_burst(
                s, shop_id=sold.shop_id, epoch_day=day, verdict=BurstVerdict.DISMISSED
            )
    scoring.compute_scores(engine, wh, as_of=NOW + timedelta(hours=1))
    with factory() as s:
        assert s.scalars(scoring.pending_bursts(s)).all() == []
        store = scoring.get_score(s, ScoreKind.STORE, sold.shop_id)
        assert store is not None
        assert store.detail["held_reviews"] == 0 and _bad_reviews(store.detail) == 6


def test_a_dismissed_burst_never_counts(
    engine: Engine, factory: sessionmaker[Session], tmp_path: Path
) -> None:
    sold = _market(factory, [5] * 20)
    with transaction(factory) as s:
        factories.delivered_orders(
            s,
            sold,
            buyer_id=factories.buyer(s, "bot"),
            count=6,
            start=NOW - timedelta(days=5),
            stars=[1] * 6,
            key="bot",
        )
    wh = tmp_path / "wh"
    scoring.compute_scores(engine, wh, as_of=NOW)
    with transaction(factory) as s:
        (burst,) = s.scalars(scoring.pending_bursts(s)).all()
        scoring.decide_burst(
            s, shop_id=sold.shop_id, epoch_day=burst.epoch_day, verdict=BurstVerdict.DISMISSED
        )
        with pytest.raises(NotFound):
            scoring.decide_burst(
                s,
                shop_id=sold.shop_id,
                epoch_day=burst.epoch_day - 3,
                verdict=BurstVerdict.DISMISSED,
            )
    scoring.compute_scores(engine, wh, as_of=NOW + timedelta(hours=1))
    with factory() as s:
        store = scoring.get_score(s, ScoreKind.STORE, sold.shop_id)
        assert store is not None and _bad_reviews(store.detail) == 0
        assert s.scalars(scoring.pending_bursts(s)).all() == []
