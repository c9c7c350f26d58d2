"""The demo report's charts: every day on the axis, names as text, both languages, same bytes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from tests import factories
from trustflow.analytics import summary as analytics
from trustflow.db import transaction
from trustflow.web.report import render_report, report_charts

MARKUP = '<a href="https://evil.example/login">Verify operator account</a>'
DAY_1 = datetime(2026, 3, 2, 10, tzinfo=UTC)
GAP_DAYS = [(DAY_1 + timedelta(days=i)).date().isoformat() for i in range(5)]


def _store_with_a_gap(factory: sessionmaker[Session]) -> None:
    """Orders on the first and the fifth day only, from a shop named with markup."""
    with transaction(factory) as s:
        cat = factories.category(s)
        rogue = factories.seller(
            s, category_id=cat, name=MARKUP, price_fen=50_000, at=DAY_1 - timedelta(days=1)
        )
        buyer = factories.buyer(s)
        for key, at in (("first", DAY_1), ("fifth", DAY_1 + timedelta(days=4))):
            factories.paid_order(s, buyer_id=buyer, sku_id=rogue.sku_id, key=key, at=at)


def _charts(factory: sessionmaker[Session]) -> dict[str, dict[str, dict[str, object]]]:
    with factory() as session:
        return {c["id"]: c["figure"] for c in report_charts(session)}


def test_the_report_charts_every_day_from_the_first_order_to_the_last(
    factory: sessionmaker[Session],
) -> None:
    _store_with_a_gap(factory)

    charts = _charts(factory)

    for lang in ("en", "zh"):
        gmv = {t["name"]: t for t in charts["gmv"][lang]["data"]}  # type: ignore[index]
        shelf = gmv["Shelf" if lang == "en" else "货架"]
        assert shelf["x"] == GAP_DAYS
        assert shelf["y"] == [500.0, 0.0, 0.0, 0.0, 500.0]
        bars, refunds = charts["orders"][lang]["data"]  # type: ignore[misc]
        assert bars["x"] == GAP_DAYS and bars["y"] == [1, 0, 0, 0, 1]
        assert refunds["y"] == [0] * 5


def test_the_report_draws_a_name_with_markup_as_text_in_both_languages(
    factory: sessionmaker[Session],
) -> None:
    _store_with_a_gap(factory)

    top = _charts(factory)["top"]

    escaped = '&lt;a href="https://evil.example/login"&gt;Verify operator account&lt;/a&gt;'
    assert top["en"]["data"][0]["y"] == [f"{escaped} (fast brand)"]  # type: ignore[index]
    assert top["zh"]["data"][0]["y"] == [f"{escaped} (快品牌)"]  # type: ignore[index]


def test_the_report_axis_titles_come_in_each_language(factory: sessionmaker[Session]) -> None:
    _store_with_a_gap(factory)

    orders = _charts(factory)["orders"]

    def titles(lang: str) -> tuple[str, str]:
        layout = orders[lang]["layout"]
        return layout["yaxis"]["title"]["text"], layout["yaxis2"]["title"]["text"]  # type: ignore[index]

    assert titles("en") == ("orders", "refunds")
    assert titles("zh") == ("订单数", "退款数")


def test_the_same_store_gives_the_same_report_bytes(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    _store_with_a_gap(factory)

    pages = []
    for name in ("one.html", "two.html"):
        with factory() as session:
            summary = analytics.marketplace_summary(session)
            pages.append(render_report(session, summary, tmp_path / name).read_bytes())

    assert pages[0] == pages[1]
    assert b"evil.example" in pages[0]  # the name is there, as text only:
    assert b'<a href="https://evil.example' not in pages[0]
