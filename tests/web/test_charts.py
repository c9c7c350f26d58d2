"""Charts drawn from Python: names drawn as text, every day of the window on the axis."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from trustflow.analytics.health import Delivery, HealthReport, TrafficHealth
from trustflow.analytics.summary import every_day
from trustflow.web.health_chart import CHART_TEXT, chart_figure, write_chart
from trustflow.web.plotly_text import plotly_text

MARKUP = '<a href="https://evil.example/login">Verify operator account</a>'


def test_plotly_text_turns_markup_into_the_characters_it_is_made_of() -> None:
    assert plotly_text(MARKUP) == (
        '&lt;a href="https://evil.example/login"&gt;Verify operator account&lt;/a&gt;'
    )
    # an ampersand is escaped too, or "&lt;" in a name would be drawn as "<"
    assert plotly_text("Tom &lt; Jerry & Co") == "Tom &amp;lt; Jerry &amp; Co"
    assert plotly_text("信任 shop 1") == "信任 shop 1"


def test_every_day_runs_from_the_first_day_to_the_last() -> None:
    first = date(2026, 3, 2)
    assert every_day([first + timedelta(days=4), first, first]) == [
        first + timedelta(days=i) for i in range(5)
    ]
    assert every_day([]) == []


def _day(day: date, *, shown: bool) -> TrafficHealth:
    if not shown:
        return TrafficHealth(start=day, end=day)
    return TrafficHealth(
        start=day,
        end=day,
        impressions=100,
        reward_impressions=10,
        parties=4,
        gini=0.25,
        top_share=0.4,
        new_merchant_impressions=20,
        new_merchant_reward_impressions=5,
        delivery=Delivery(promised=10, delivered=9, parties=1),
    )


def _five_days() -> HealthReport:
    first = date(2026, 3, 2)
    days = tuple(_day(first + timedelta(days=i), shown=i in (0, 4)) for i in range(5))
    return HealthReport(
        start=first,
        end=first + timedelta(days=4),
        days=days,
        window=TrafficHealth(start=first, end=first + timedelta(days=4)),
        worst=(),
    )


@pytest.mark.parametrize("lang", [0, 1])
def test_the_traffic_chart_shows_days_without_traffic_as_zero_counts_and_gaps_in_rates(
    lang: int,
) -> None:
    report = _five_days()
    days = report.days

    traces = {t.name: t for t in chart_figure(report, lang).data}

    def trace(key: str) -> Any:
        return traces[CHART_TEXT[key][lang]]

    iso = [d.start.isoformat() for d in days]
    gini = trace("gini")
    assert list(gini.x) == iso
    # a rate with nothing to divide by is a gap, not zero, and the line is not drawn across it
    assert list(gini.y) == [0.25, None, None, None, 0.25]
    assert gini.connectgaps is False
    assert list(trace("of_all").y) == [0.2, None, None, None, 0.2]
    assert list(trace("ratio").y) == [0.9, None, None, None, 0.9]
    # counts are zero on a day without any
    assert list(trace("promised").y) == [10, 0, 0, 0, 10]
    assert list(trace("delivered").y) == [9, 0, 0, 0, 9]


def test_the_traffic_chart_names_its_traces_in_each_language() -> None:
    report = _five_days()
    english = [t.name for t in chart_figure(report, 0).data]
    chinese = [t.name for t in chart_figure(report, 1).data]
    assert english[0] == "Gini" and chinese[0] == "基尼系数"
    assert not any("基尼" in name for name in english)


def test_the_traffic_chart_page_switches_language_and_is_the_same_bytes_each_time(
    tmp_path: Path,
) -> None:
    report = _five_days()
    first = write_chart(report, tmp_path / "a" / "traffic_health.html")
    second = write_chart(report, tmp_path / "b" / "traffic_health.html")
    page = first.read_text(encoding="utf-8")

    assert first.read_bytes() == second.read_bytes()  # no random ids, no timestamps
    assert 'id="lang"' in page and "useLanguage(draw)" in page
    assert '<span lang="en">Traffic health</span>' in page
    assert '<span lang="zh">流量生态健康</span>' in page
    # both languages' figures are in the page (the page's JSON escapes non-ASCII)
    assert json.dumps("交付率")[1:-1] in page and '"Delivery ratio"' in page
    assert '<script src="http' not in page  # opens offline: nothing fetched
