"""Charts drawn from Python: names drawn as text, every day of the window on the axis."""

from __future__ import annotations

from datetime import date, timedelta

from trustflow.analytics.summary import every_day
from trustflow.traffic.health import Delivery, HealthReport, TrafficHealth, chart_figure
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


def test_the_traffic_chart_shows_days_without_traffic_as_zero_counts_and_gaps_in_rates() -> None:
    first = date(2026, 3, 2)
    days = tuple(_day(first + timedelta(days=i), shown=i in (0, 4)) for i in range(5))
    report = HealthReport(
        start=first,
        end=first + timedelta(days=4),
        days=days,
        window=TrafficHealth(start=first, end=first + timedelta(days=4)),
        worst=(),
    )

    traces = {t.name: t for t in chart_figure(report).data}

    iso = [d.start.isoformat() for d in days]
    gini = traces["Gini (基尼系数)"]
    assert list(gini.x) == iso
    # a rate with nothing to divide by is a gap, not zero, and the line is not drawn across it
    assert list(gini.y) == [0.25, None, None, None, 0.25]
    assert gini.connectgaps is False
    assert list(traces["Of all impressions (全部曝光)"].y) == [0.2, None, None, None, 0.2]
    assert list(traces["Delivery ratio (交付率)"].y) == [0.9, None, None, None, 0.9]
    # counts are zero on a day without any
    assert list(traces["Promised (承诺)"].y) == [10, 0, 0, 0, 10]
    assert list(traces["Delivered (交付)"].y) == [9, 0, 0, 0, 9]
