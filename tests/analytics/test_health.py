"""Traffic health: the Gini coefficient, and a two-day marketplace whose report is checked
against numbers worked out by hand."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from tests import factories
from trustflow.accounts import service as accounts_service
from trustflow.analytics.health import (
    Delivery,
    HealthReport,
    PartyDelivery,
    gini,
    health_report,
)
from trustflow.cli_views import render_text
from trustflow.content import service as content_service
from trustflow.db import transaction
from trustflow.errors import ErrorCode, InvalidInput
from trustflow.traffic.chuanliu import ledger, rules
from trustflow.traffic.chuanliu.models import ChuanliuLedger, ChuanliuTier, PartyKind
from trustflow.traffic.service import ImpressionRecord, log_impression_counts, log_impressions
from trustflow.vocabulary import ItemKind, Surface
from trustflow.warehouse import export as warehouse
from trustflow.warehouse.reader import open_warehouse
from trustflow.web.health_chart import write_chart

DAY1 = date(2026, 3, 10)
DAY2 = date(2026, 3, 11)
MIDNIGHT1 = datetime(2026, 3, 10, tzinfo=UTC)
MIDNIGHT2 = datetime(2026, 3, 11, tzinfo=UTC)
#: Created on 9 February: day 29 of its life on DAY1 (new), day 30 on DAY2 (no longer new).
NEW_SHOP_CREATED = datetime(2026, 2, 9, 12, tzinfo=UTC)
OLD_SHOP_CREATED = datetime(2026, 1, 5, 12, tzinfo=UTC)
UNKNOWN_PRODUCT = 999_999
CHUANLIU = rules.PLAN


# gini -----------------------------------------------------------------------------------------


def pairwise_gini(x: np.ndarray) -> float:
    """The definition itself: Σᵢ Σⱼ |xᵢ − xⱼ| ÷ (2 n² x̄)."""
    return float(np.abs(x[:, None] - x[None, :]).sum() / (2 * x.size**2 * x.mean()))


@pytest.mark.parametrize("n", [1, 2, 5, 100])
def test_gini_is_zero_when_every_party_gets_the_same(n: int) -> None:
    assert gini(np.full(n, 37)) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("n", [1, 2, 3, 10, 1000])
def test_gini_is_n_minus_one_over_n_when_one_party_takes_everything(n: int) -> None:
    values = np.zeros(n)
    values[n // 2] = 5_000

    assert gini(values) == pytest.approx((n - 1) / n)


def test_gini_ignores_scale_and_order_and_matches_the_pairwise_definition() -> None:
    x = np.random.default_rng(7).lognormal(mean=3.0, sigma=1.5, size=257)

    assert gini(x) == pytest.approx(pairwise_gini(x), rel=1e-12)
    assert gini(x * 1_000) == pytest.approx(gini(x), rel=1e-12)
    assert gini(x[::-1]) == pytest.approx(gini(x), rel=1e-12)
    assert gini(np.array([50, 250, 700])) == pytest.approx(13 / 30)
    assert gini(np.zeros(4)) == 0.0


@pytest.mark.parametrize(
    "values",
    [np.array([]), np.array([3.0, -1.0]), np.array([1.0, np.nan]), np.ones((2, 2))],
    ids=["empty", "negative", "nan", "two-dimensional"],
)
def test_gini_refuses_what_has_no_coefficient(values: np.ndarray) -> None:
    with pytest.raises(InvalidInput) as raised:
        gini(values)
    assert raised.value.code is ErrorCode.INVALID_INPUT


# A two-day marketplace --------------------------------------------------------------------------


@dataclass(frozen=True)
class Market:
    root: Path
    old_shop: int
    new_shop: int
    creator: int


def build_market(factory: sessionmaker[Session], engine: Engine, root: Path) -> Market:
    """An old shop, a shop that turns 30 days old on DAY2, and a creator with a live room.

    | day  | party   | organic                | reward                                     |
    |------|---------|------------------------|--------------------------------------------|
    | DAY1 | old     | card 600 (discover)    | room 100 (follow, Chuanliu)                |
    | DAY1 | new     | video 200 (featured)   | card 50 (discover, Chuanliu)               |
    | DAY1 | creator | room 50 (short→live)   |                                            |
    | DAY2 | old     | card 250 (discover)    | card 50 (mall, another plan)               |
    | DAY2 | new     | video 100 (featured)   |                                            |
    | DAY2 | creator |                        | room 100 (follow, Chuanliu)                |
    | DAY2 | nobody  | 100 (discover) of a product the warehouse does not know             |

    and 999 impressions just before DAY1 and just after DAY2, which the report leaves out.
    """
    with transaction(factory) as s:
        cat = factories.category(s)
        old = factories.seller(s, category_id=cat, name="Old", at=OLD_SHOP_CREATED)
        new = factories.seller(s, category_id=cat, name="New", at=NEW_SHOP_CREATED)
        creator = accounts_service.create_creator(s, name="Host", fans=500).id
        old_room = content_service.schedule_live(s, shop_id=old.shop_id).id
        new_video = content_service.post_short_video(s, shop_id=new.shop_id).id
        creator_room = content_service.schedule_live(s, creator_id=creator).id

        log_impression_counts(
            s,
            [Surface.DISCOVER, Surface.FOLLOW, Surface.FEATURED, Surface.DISCOVER],
            [
                ItemKind.PRODUCT_CARD,
                ItemKind.LIVE_SESSION,
                ItemKind.SHORT_VIDEO,
                ItemKind.PRODUCT_CARD,
            ],
            [old.product_id, old_room, new_video, new.product_id],
            [600, 100, 200, 50],
            shown_at=MIDNIGHT1 + timedelta(hours=9),
            reward_plan=[None, CHUANLIU, None, CHUANLIU],
        )
        log_impressions(
            s,
            [
                ImpressionRecord(  # the last second of DAY1
                    Surface.SHORT_VIDEO_TO_LIVE,
                    ItemKind.LIVE_SESSION,
                    creator_room,
                    MIDNIGHT2 - timedelta(seconds=1),
                    count=50,
                ),
                ImpressionRecord(  # outside the window, on either side
                    Surface.FOLLOW,
                    ItemKind.LIVE_SESSION,
                    old_room,
                    MIDNIGHT1 - timedelta(seconds=1),
                    count=999,
                    is_reward=True,
                    reward_plan=CHUANLIU,
                ),
                ImpressionRecord(
                    Surface.FEATURED,
                    ItemKind.SHORT_VIDEO,
                    new_video,
                    MIDNIGHT2 + timedelta(days=1),
                    count=999,
                ),
            ],
        )
        log_impression_counts(
            s,
            [Surface.DISCOVER, Surface.MALL, Surface.FEATURED, Surface.FOLLOW, Surface.DISCOVER],
            [
                ItemKind.PRODUCT_CARD,
                ItemKind.PRODUCT_CARD,
                ItemKind.SHORT_VIDEO,
                ItemKind.LIVE_SESSION,
                ItemKind.PRODUCT_CARD,
            ],
            [old.product_id, old.product_id, new_video, creator_room, UNKNOWN_PRODUCT],
            [250, 50, 100, 100, 100],
            shown_at=MIDNIGHT2 + timedelta(hours=10),
            reward_plan=[None, "new_product", None, CHUANLIU, None],
        )

        promises = [
            (DAY1, PartyKind.SHOP, old.shop_id, 100),
            (DAY1, PartyKind.SHOP, new.shop_id, 100),
            (DAY1, PartyKind.CREATOR, creator, 40),
            (DAY2, PartyKind.SHOP, old.shop_id, 20),
            (DAY2, PartyKind.CREATOR, creator, 80),
            (DAY1 - timedelta(days=1), PartyKind.CREATOR, creator, 1_000),  # before the window
        ]
        s.add_all(
            ChuanliuLedger(
                plan_day=day,
                party_kind=kind,
                party_id=party,
                tier=ChuanliuTier.A if kind is PartyKind.SHOP else None,
                promised_impressions=promised,
            )
            for day, kind, party, promised in promises
        )
    with transaction(factory) as s:
        assert ledger.reconcile(s, DAY1).delivered == 150
        assert ledger.reconcile(s, DAY2).delivered == 100
    root = root / "warehouse"
    warehouse.export(engine, root)
    return Market(root, old.shop_id, new.shop_id, creator)


@pytest.fixture
def market(factory: sessionmaker[Session], engine: Engine, tmp_path: Path) -> Market:
    return build_market(factory, engine, tmp_path)


@pytest.fixture
def report(market: Market, session: Session) -> HealthReport:
    return health_report(market.root, session, start=DAY1, end=DAY2)


def test_each_day_counts_impressions_by_surface_and_reward(report: HealthReport) -> None:
    day1, day2 = report.days

    assert (day1.start, day1.end, day2.start, day2.end) == (DAY1, DAY1, DAY2, DAY2)
    assert (day1.impressions, day1.reward_impressions, day1.reward_share) == (1000, 150, 0.15)
    assert (day2.impressions, day2.reward_impressions, day2.reward_share) == (600, 150, 0.25)
    assert {k: v for k, v in day1.by_surface.items() if v} == {
        "discover": 650,
        "follow": 100,
        "featured": 200,
        "short_video_to_live": 50,
    }
    assert {k: v for k, v in day2.by_surface.items() if v} == {
        "discover": 350,
        "mall": 50,
        "featured": 100,
        "follow": 100,
    }
    assert set(day1.by_surface) == {s.value for s in Surface}
    assert (day1.unowned_impressions, day2.unowned_impressions) == (0, 100)


def test_concentration_is_over_the_parties_that_own_the_items(report: HealthReport) -> None:
    day1, day2 = report.days

    # DAY1: old 600 + 100, new 200 + 50, creator 50.
    assert day1.parties == 3
    assert day1.gini == pytest.approx(13 / 30)
    assert day1.top_share == pytest.approx(0.7)
    # DAY2: old 250 + 50, new 100, creator 100; the unknown product's 100 belong to nobody.
    assert day2.parties == 3
    assert day2.gini == pytest.approx(gini(np.array([300, 100, 100])))
    assert day2.gini == pytest.approx(4 / 15)
    assert day2.top_share == pytest.approx(0.6)


def test_a_shop_is_a_new_merchant_until_its_thirtieth_day(report: HealthReport) -> None:
    day1, day2 = report.days

    assert (day1.new_merchant_impressions, day1.new_merchant_reward_impressions) == (250, 50)
    assert day1.new_merchant_share == pytest.approx(0.25)
    assert day1.new_merchant_reward_share == pytest.approx(1 / 3)
    assert (day2.new_merchant_impressions, day2.new_merchant_share) == (0, 0.0)
    assert day2.new_merchant_reward_share == 0.0


def test_the_window_adds_the_days_up_before_measuring(report: HealthReport) -> None:
    w = report.window

    assert (w.start, w.end) == (DAY1, DAY2)
    assert (w.impressions, w.reward_impressions, w.unowned_impressions) == (1600, 300, 100)
    assert w.reward_share == pytest.approx(0.1875)
    assert sum(w.by_surface.values()) == 1600
    assert w.by_surface["discover"] == 1000
    # Over the window: old 1000, new 350, creator 150.
    assert w.parties == 3
    assert w.gini == pytest.approx(17 / 45)
    assert w.top_share == pytest.approx(2 / 3)
    assert w.new_merchant_share == pytest.approx(250 / 1600)
    assert w.new_merchant_reward_share == pytest.approx(50 / 300)


def test_chuanliu_promises_are_compared_with_what_was_delivered(
    report: HealthReport, market: Market
) -> None:
    day1, day2 = report.days

    # DAY1: old 100 of 100, new 50 of 100, creator 0 of 40.
    assert day1.delivery == Delivery(
        promised=240, delivered=150, parties=3, under=2, over=0, shown=150
    )
    assert day1.delivery.ratio == pytest.approx(0.625)
    # DAY2: old 0 of 20 (its reward came from another plan), creator 100 of 80.
    assert day2.delivery == Delivery(
        promised=100, delivered=100, parties=2, under=1, over=1, shown=100
    )
    assert day2.delivery.ratio == 1.0
    # The window: old 100 of 120, new 50 of 100, creator 100 of 120; the day before is out.
    assert report.window.delivery == Delivery(
        promised=340, delivered=250, parties=3, under=3, over=0, shown=250
    )
    assert report.worst == (
        PartyDelivery(PartyKind.SHOP, market.new_shop, 100, 50),
        PartyDelivery(PartyKind.CREATOR, market.creator, 120, 100),
        PartyDelivery(PartyKind.SHOP, market.old_shop, 120, 100),
    )
    assert report.worst[0].ratio == 0.5


def test_an_open_connection_gives_the_same_report_and_keeps_no_scratch_table(
    market: Market, session: Session, report: HealthReport
) -> None:
    con = open_warehouse(market.root)
    try:
        again = health_report(con, session, start=DAY1, end=DAY2, worst=1)
        tables = con.execute("SELECT table_name FROM duckdb_tables()").fetchall()
    finally:
        con.close()

    assert again.days == report.days and again.window == report.window
    assert again.worst == report.worst[:1]
    assert tables == []


def test_a_day_with_no_traffic_has_zeros_and_no_ratios(market: Market, session: Session) -> None:
    quiet = DAY2 + timedelta(days=5)

    (day,) = health_report(market.root, session, start=quiet, end=quiet).days

    assert (day.impressions, day.parties, day.reward_share, day.gini) == (0, 0, None, None)
    assert (day.top_share, day.new_merchant_share, day.delivery.ratio) == (None, None, None)
    assert day.delivery == Delivery()


def test_text_and_chart_show_the_report(report: HealthReport, tmp_path: Path) -> None:
    console = Console(record=True, width=200)
    for table in render_text(report):
        console.print(table)
    text = console.export_text()

    assert "2026-03-10" in text and "window" in text
    assert "0.433" in text and "62.5%" in text  # DAY1's Gini and delivery ratio
    assert "short_video_to_live" in text and "1,600" in text
    assert "shop" in text and "50.0%" in text  # the worst party
    path = write_chart(report, tmp_path / "out" / "traffic_health.html")
    page = path.read_text(encoding="utf-8")
    assert "Plotly" in page and "2026-03-11" in page
    assert "Gini" in page and json.dumps("基尼系数")[1:-1] in page  # plotly escapes non-ASCII
    assert '<script src="http' not in page  # opens offline: nothing fetched


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (DAY2, DAY1, "before it starts"),
        (DAY1, DAY1 + timedelta(days=366), "367 days"),
        (MIDNIGHT1, DAY2, "not datetimes"),
    ],
)
def test_bad_windows_are_refused(
    tmp_path: Path, session: Session, start: date, end: date, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message) as raised:
        health_report(tmp_path / "warehouse", session, start=start, end=end)
    assert raised.value.code is ErrorCode.INVALID_INPUT
    assert not (tmp_path / "warehouse").exists()  # refused before reading anything


def test_a_year_and_a_day_on_an_empty_warehouse_is_all_zeros(
    tmp_path: Path, session: Session
) -> None:
    end = DAY1 + timedelta(days=365)

    report = health_report(tmp_path / "warehouse", session, start=DAY1, end=end)

    assert len(report.days) == 366 and report.days[-1].start == end
    assert report.window.impressions == 0 and report.window.gini is None
    assert report.worst == ()
