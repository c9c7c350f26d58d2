"""The pages as a careful operator would check them, in Chromium: names shown as text, every day
on the charts, labels inside the charts, both languages throughout, docs and Chinese offline."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests import factories
from tests.e2e.conftest import open_page, operator_key, require_chromium, serve, sign_in
from trustflow.analytics.health import Delivery, HealthReport, TrafficHealth
from trustflow.db import make_engine, session_factory, transaction
from trustflow.simulate import SimulationRun
from trustflow.web.health_chart import write_chart
from trustflow.web.report import SHOP_KIND_NAMES, render_report

MARKUP = '<a href="https://evil.example/login">Verify operator account</a>'
DAY_1 = datetime(2026, 3, 2, 10, tzinfo=UTC)
ROGUE_PRICE_FEN, PLAIN_PRICE_FEN = 50_000, 9_900
# the five days from the first order to the last, as the charts' x values
GAP_DAYS = [(DAY_1 + timedelta(days=i)).date().isoformat() for i in range(5)]


@pytest.fixture(scope="module")
def gap_store(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """A store with orders on the first and fifth day only, one shop named with markup."""
    require_chromium()
    path = tmp_path_factory.mktemp("gap") / "trustflow.db"
    shutil.copy(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    with transaction(session_factory(engine)) as s:
        cat = factories.category(s)
        opened = DAY_1 - timedelta(days=1)
        rogue = factories.seller(
            s, category_id=cat, name=MARKUP, price_fen=ROGUE_PRICE_FEN, at=opened
        )
        plain = factories.seller(
            s, category_id=cat, name="Plain shop", price_fen=PLAIN_PRICE_FEN, at=opened
        )
        buyer = factories.buyer(s)
        factories.paid_order(s, buyer_id=buyer, sku_id=rogue.sku_id, key="r1", at=DAY_1)
        factories.paid_order(s, buyer_id=buyer, sku_id=plain.sku_id, key="p1", at=DAY_1)
        factories.paid_order(
            s, buyer_id=buyer, sku_id=rogue.sku_id, key="r5", at=DAY_1 + timedelta(days=4)
        )
    key = operator_key(engine)
    with serve(engine) as url:
        yield url, key
    engine.dispose()


def _texts(page: Any, selector: str) -> list[str]:
    return [t for t in page.locator(selector).all_text_contents() if t]


def test_a_shop_name_with_markup_is_drawn_as_text_not_as_a_link(
    gap_store: tuple[str, str], browser: Any
) -> None:
    url, key = gap_store
    page = open_page(browser, url + "/", lang="en")
    sign_in(page, key, "#chart-top .main-svg")

    assert f"{MARKUP} (fast brand)" in _texts(page, "#chart-top .ytick text")
    # no link anywhere on the page, in its HTML or the charts' SVG, to the name's target
    links = page.evaluate(
        """() => [...document.querySelectorAll('*')].filter(e => e.localName === 'a' ||
             [...e.attributes].some(a => a.localName === 'href')).map(e => e.outerHTML)
             .filter(html => html.includes('evil.example'))"""
    )
    assert links == []
    page.click("#lang")
    assert f"{MARKUP} (快品牌)" in _texts(page, "#chart-top .ytick text")


def test_the_dashboard_draws_every_day_from_the_first_to_the_last(
    gap_store: tuple[str, str], browser: Any
) -> None:
    url, key = gap_store
    page = open_page(browser, url + "/", lang="en")
    sign_in(page, key, "#chart-orders .main-svg")

    def traces(chart: str) -> dict[str, dict[str, Any]]:
        return {
            t["name"]: t
            for t in page.evaluate(
                f"document.getElementById('{chart}').data"
                ".map(t => ({name: t.name, x: t.x, y: t.y}))"
            )
        }

    gmv, orders = traces("chart-gmv"), traces("chart-orders")
    rogue, plain = ROGUE_PRICE_FEN / 100, PLAIN_PRICE_FEN / 100
    assert gmv["Shelf"]["x"] == GAP_DAYS
    assert gmv["Shelf"]["y"] == [rogue + plain, 0, 0, 0, rogue]  # no sale is zero GMV
    assert gmv["Self-broadcast"]["y"] == [0] * 5
    assert orders["Orders"]["x"] == GAP_DAYS
    assert orders["Orders"]["y"] == [2, 0, 0, 0, 1]
    assert orders["Refunds"]["y"] == [0] * 5


def _labels_outside(page: Any) -> list[dict[str, Any]]:
    """Every tick label and axis title whose box is not inside its chart's SVG."""
    return list(
        page.evaluate(
            """() => [...document.querySelectorAll('.js-plotly-plot')].flatMap(div => {
              const svg = div.querySelector('.main-svg').getBoundingClientRect();
              const labels = div.querySelectorAll(
                '.xtick text, .ytick text, .y2tick text, .g-xtitle text, .g-ytitle text, ' +
                '.g-y2title text');
              return [...labels].filter(t => t.textContent).map(t => {
                const b = t.getBoundingClientRect();
                return { chart: div.id || div.dataset.chart, text: t.textContent,
                         inside: b.left >= svg.left && b.right <= svg.right &&
                                 b.top >= svg.top && b.bottom <= svg.bottom };
              });
            }).filter(l => !l.inside)"""
        )
    )


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_axis_label_fits_inside_its_chart(
    served: tuple[str, str], browser: Any, tmp_path: Path, lang: str
) -> None:
    url, key = served
    page = open_page(browser, url + "/", lang=lang)
    sign_in(page, key, "#chart-traffic .main-svg")

    assert page.locator("#chart-orders .y2tick text").count() > 0  # the refunds axis is drawn
    assert _labels_outside(page) == []
    page.screenshot(path=str(tmp_path / f"dashboard-{lang}.png"), full_page=True)


def test_the_dashboard_charts_speak_the_pages_language(
    served: tuple[str, str], browser: Any
) -> None:
    url, key = served
    page = open_page(browser, url + "/", lang="en")
    sign_in(page, key, "#chart-traffic .main-svg")

    assert _texts(page, "#chart-gmv .g-ytitle text") == ["GMV (yuan)"]
    assert _texts(page, "#chart-orders .g-ytitle text") == ["orders"]
    assert _texts(page, "#chart-orders .g-y2title text") == ["refunds"]
    assert _texts(page, "#chart-orders .legendtext") == ["Orders", "Refunds"]
    assert "Follow" in _texts(page, "#chart-traffic .xtick text")
    assert not any("月" in t for t in _texts(page, "#chart-gmv .xtick text"))

    page.click("#lang")
    assert _texts(page, "#chart-gmv .g-ytitle text") == ["成交额（元）"]
    assert sorted(_texts(page, "#chart-gmv .legendtext")) == sorted(["自播", "分销", "货架"])
    assert _texts(page, "#chart-orders .g-ytitle text") == ["订单数"]
    assert _texts(page, "#chart-orders .g-y2title text") == ["退款数"]
    assert _texts(page, "#chart-orders .legendtext") == ["订单", "退款"]
    assert _texts(page, "#chart-traffic .g-ytitle text") == ["曝光"]
    assert "关注页" in _texts(page, "#chart-traffic .xtick text")
    assert "Follow" not in _texts(page, "#chart-traffic .xtick text")
    day_ticks = _texts(page, "#chart-gmv .xtick text")
    assert day_ticks and all(t.endswith("日") for t in day_ticks)
    kinds_zh = tuple(f"({zh})" for _, zh in SHOP_KIND_NAMES.values())
    shop_ticks = _texts(page, "#chart-top .ytick text")
    assert shop_ticks and all(t.endswith(kinds_zh) for t in shop_ticks)

    page.click("#lang")
    assert _texts(page, "#chart-gmv .g-ytitle text") == ["GMV (yuan)"]


def test_the_reports_charts_switch_language_offline(
    run: SimulationRun, browser: Any, tmp_path: Path
) -> None:
    with session_factory(run.engine)() as session:
        report = render_report(session, run.summary, tmp_path / "report.html")
    context = browser.new_context(offline=True)
    context.add_init_script("localStorage.setItem('trustflow-lang', 'en')")
    page = context.new_page()
    page.goto(report.as_uri())
    page.wait_for_selector("#chart-orders .main-svg", timeout=15_000)

    assert _texts(page, "#chart-gmv .g-ytitle text") == ["GMV (yuan)"]
    assert _texts(page, "#chart-orders .legendtext") == ["Orders", "Refunds"]
    assert _labels_outside(page) == []
    page.click("#lang")
    assert _texts(page, "#chart-gmv .g-ytitle text") == ["成交额（元）"]
    assert _texts(page, "#chart-orders .g-y2title text") == ["退款数"]
    assert _texts(page, "#chart-orders .legendtext") == ["订单", "退款"]
    assert "关注页" in _texts(page, "#chart-traffic .xtick text")
    assert _labels_outside(page) == []
    page.screenshot(path=str(tmp_path / "report-zh.png"), full_page=True)
    context.close()


def _health_day(day: datetime, impressions: int) -> TrafficHealth:
    return TrafficHealth(
        start=day.date(),
        end=day.date(),
        impressions=impressions,
        parties=2,
        gini=0.3,
        top_share=0.6,
        new_merchant_impressions=impressions // 5,
        delivery=Delivery(promised=10, delivered=9, parties=1),
    )


def test_the_traffic_health_chart_switches_language_offline(browser: Any, tmp_path: Path) -> None:
    days = tuple(_health_day(DAY_1 + timedelta(days=i), 100 * (i + 1)) for i in range(3))
    report = HealthReport(
        start=days[0].start, end=days[-1].end, days=days, window=days[0], worst=()
    )
    path = write_chart(report, tmp_path / "traffic_health.html")
    context = browser.new_context(offline=True)
    context.add_init_script("localStorage.setItem('trustflow-lang', 'en')")
    page = context.new_page()
    page.goto(path.as_uri())
    page.wait_for_selector("#traffic-health .main-svg", timeout=15_000)

    legend = _texts(page, "#traffic-health .legendtext")
    assert "Gini" in legend and "Delivery ratio" in legend
    assert _labels_outside(page) == []
    page.click("#lang")
    legend = _texts(page, "#traffic-health .legendtext")
    assert "基尼系数" in legend and "交付率" in legend and "Gini" not in legend
    day_ticks = _texts(page, "#traffic-health .x3tick text")  # the bottom chart names the days
    assert day_ticks and all(t.endswith("日") for t in day_ticks)
    assert _labels_outside(page) == []
    page.screenshot(path=str(tmp_path / "traffic-health-zh.png"), full_page=True)
    context.close()


# where each page writes an operation's summary
@pytest.mark.parametrize(
    ("path", "operation"), [("/docs", ".opblock-summary-description"), ("/redoc", "h2")]
)
def test_the_api_docs_render_with_the_network_blocked(
    served: tuple[str, str], browser: Any, path: str, operation: str
) -> None:
    url, _ = served
    context = browser.new_context()
    outside: list[str] = []

    def only_the_app(route: Any) -> None:
        if route.request.url.startswith(url + "/"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_the_app)
    page = context.new_page()
    page.goto(url + path)

    paths = page.request.get(url + "/openapi.json").json()["paths"]
    summaries = [op["summary"] for methods in paths.values() for op in methods.values()]
    page.locator(operation, has_text=summaries[0]).first.wait_for(timeout=30_000)
    assert page.locator(operation).count() >= len(summaries)  # every operation is listed
    assert outside == []
    context.close()


def test_chinese_is_drawn_as_glyphs_not_boxes(served: tuple[str, str], browser: Any) -> None:
    """A character no font has is drawn as the missing-glyph box; without a CJK font, so is
    every Chinese character, and all the boxes look alike."""
    url, _ = served
    page = open_page(browser, url + "/", lang="zh")
    drawn = page.evaluate(
        """async () => {
          await document.fonts.ready;
          const font = getComputedStyle(document.body).fontFamily;
          const draw = (text) => {
            const canvas = document.createElement('canvas');
            canvas.width = 64; canvas.height = 64;
            const ctx = canvas.getContext('2d');
            ctx.font = '48px ' + font;
            ctx.fillText(text, 4, 52);
            return canvas.toDataURL();
          };
          return { xin: draw('信'), ren: draw('任'), missing: draw('\\u{10FFFD}') };
        }"""
    )
    assert drawn["xin"] != drawn["missing"]
    assert drawn["ren"] != drawn["missing"]
    assert drawn["xin"] != drawn["ren"]
    assert page.locator("h1 [lang=zh]").inner_text() == "经营看板"
