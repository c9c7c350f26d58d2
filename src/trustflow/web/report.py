"""The demo's report: one self-contained HTML page (charts and all; opens offline).

Each chart is built once per language, so its titles, axes, legend and ticks switch with the
page's language toggle. Every name drawn by Plotly goes through :func:`plotly_text`. The page
holds nothing that changes from run to run (no timings, no random element ids): the same
store gives the same bytes.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
import plotly.offline
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy.orm import Session

from trustflow.analytics import summary as analytics
from trustflow.campaigns import results as campaign_results
from trustflow.scoring import service as scoring_service
from trustflow.scoring.models import ScoreKind
from trustflow.web.plotly_text import plotly_text

#: The page's languages, in the order of the (English, Chinese) pairs below.
LANGUAGES = ("en", "zh")

FIELD_NAMES = {
    "self_broadcast": ("Self-broadcast", "自播"),
    "distribution": ("Distribution", "分销"),
    "shelf": ("Shelf", "货架"),
}
SURFACE_NAMES = {
    "follow": ("Follow", "关注页"),
    "featured": ("Featured", "精选"),
    "discover": ("Discover", "发现"),
    "short_video_to_live": ("Short video → live", "短视频引流直播"),
    "search": ("Search", "搜索"),
    "mall": ("Mall", "商城"),
    "shop": ("Shop page", "店铺页"),
}
SHOP_KIND_NAMES = {
    "brand": ("brand", "品牌"),
    "fast_brand": ("fast brand", "快品牌"),
    "source": ("source goods", "源头好货"),
    "other": ("other", "其他"),
}
SCORE_NAMES = {
    ScoreKind.STORE: ("Store experience", "店铺体验分"),
    ScoreKind.PRODUCT: ("Product", "商品分"),
    ScoreKind.CREATOR: ("Creator reputation", "带货口碑分"),
}
TIER_NAMES = {
    "excellent": ("excellent", "优秀"),
    "good": ("good", "良好"),
    "fair": ("fair", "一般"),
    "low": ("low", "较差"),
}
TIER_COLOURS = {"excellent": "#1a9850", "good": "#91cf60", "fair": "#fdae61", "low": "#d73027"}
CHART_TEXT = {
    "gmv": ("GMV (yuan)", "成交额（元）"),
    "orders": ("Orders", "订单"),
    "refunds": ("Refunds", "退款"),
    "orders_axis": ("orders", "订单数"),
    "refunds_axis": ("refunds", "退款数"),
    "impressions": ("impressions", "曝光"),
    "score": ("score", "分数"),
    "promised": ("promised", "承诺"),
    "delivered": ("delivered", "已投放"),
}
#: Day ticks in each language's own way (Plotly's default names the months in English).
DAY_TICKS = ("%b %-d", "%-m月%-d日")
#: A chart of up to this many days ticks every day (the pages' scripts do the same).
DAILY_TICKS_UP_TO = 14
DAY_MS = 86_400_000
_LAYOUT: dict[str, Any] = {
    "margin": {"l": 20, "r": 20, "t": 30, "b": 20},
    "height": 340,
    "template": "plotly_white",
    "legend": {"orientation": "h"},
}
# Axes grow their margin to fit their tick labels and titles (long shop names, the refunds
# axis on the right) instead of cutting them at the chart's edge.
_AXIS = {"automargin": True}


def day_axis(days: list[date], lang: int) -> dict[str, Any]:
    """A tick per day on a short chart (Plotly would otherwise tick every few hours, and name
    each day twice); every tick names a day in the page's language."""
    axis = {**_AXIS, "type": "date", "tickformat": DAY_TICKS[lang], "hoverformat": "%Y-%m-%d"}
    return {**axis, "dtick": DAY_MS} if len(days) <= DAILY_TICKS_UP_TO else axis


def _count_axis(title: str, values: list[int]) -> dict[str, Any]:
    """Counts tick on whole numbers: a chart of few refunds reads 0, 1, 2, not 0.237, 0.475."""
    top = max([0, *values])
    scale = {"range": [0, max(top, 1) * 1.1], "dtick": 1} if top < 5 else {"rangemode": "tozero"}
    return {**_AXIS, "title": {"text": title}, "tickformat": ",d", **scale}


def figure_json(fig: go.Figure) -> dict[str, Any]:
    """The figure as plain JSON data (dates as ISO strings), for the page's script block."""
    return dict(json.loads(pio.to_json(fig, validate=False)))


def _gmv_figure(days: list[date], gmv: dict[str, dict[date, float]], lang: int) -> go.Figure:
    fig = go.Figure(
        [
            go.Scatter(
                x=days,
                # no sale on a day is zero GMV that day, not a missing value
                y=[gmv[field].get(d, 0.0) for d in days],
                name=plotly_text(names[lang]),
                stackgroup="gmv",
                mode="lines",
            )
            for field, names in FIELD_NAMES.items()
        ]
    )
    fig.update_layout(
        xaxis=day_axis(days, lang),
        yaxis={**_AXIS, "title": {"text": CHART_TEXT["gmv"][lang]}},
        **_LAYOUT,
    )
    return fig


def _orders_figure(
    days: list[date], orders: dict[date, int], refunds: dict[date, int], lang: int
) -> go.Figure:
    # counts: a day without orders or refunds had zero of them
    order_counts = [orders.get(d, 0) for d in days]
    refund_counts = [refunds.get(d, 0) for d in days]
    fig = go.Figure(
        [
            go.Bar(x=days, y=order_counts, name=CHART_TEXT["orders"][lang]),
            go.Scatter(
                x=days,
                y=refund_counts,
                name=CHART_TEXT["refunds"][lang],
                yaxis="y2",
                mode="lines+markers",
            ),
        ]
    )
    fig.update_layout(
        xaxis=day_axis(days, lang),
        yaxis=_count_axis(CHART_TEXT["orders_axis"][lang], order_counts),
        yaxis2={
            **_count_axis(CHART_TEXT["refunds_axis"][lang], refund_counts),
            "overlaying": "y",
            "side": "right",
        },
        **_LAYOUT,
    )
    return fig


def shop_label(name: str, kind: str, lang: int) -> str:
    """A shop on a chart axis: its name (drawn literally) and its kind in the page's language."""
    kind_name = SHOP_KIND_NAMES.get(kind, (kind, kind))[lang]
    return plotly_text(f"{name} ({kind_name})")


def _top_figure(top: list[dict[str, Any]], lang: int) -> go.Figure:
    fig = go.Figure(
        go.Bar(
            x=[float(s["gmv_yuan"]) for s in reversed(top)],
            y=[shop_label(s["name"], s["kind"], lang) for s in reversed(top)],
            orientation="h",
        )
    )
    fig.update_layout(
        xaxis={**_AXIS, "title": {"text": CHART_TEXT["gmv"][lang]}},
        yaxis={**_AXIS, "type": "category"},
        **_LAYOUT,
    )
    return fig


def _traffic_figure(surfaces: dict[str, int], lang: int) -> go.Figure:
    fig = go.Figure(go.Bar(x=[SURFACE_NAMES[s][lang] for s in surfaces], y=list(surfaces.values())))
    fig.update_layout(
        xaxis={**_AXIS, "type": "category"},
        yaxis={**_AXIS, "title": {"text": CHART_TEXT["impressions"][lang]}},
        **_LAYOUT,
    )
    return fig


def _score_figure(
    published: dict[ScoreKind, list[tuple[float, str, str]]], lang: int
) -> go.Figure | None:
    """Score distributions of the published version, one box per score, points by tier."""
    fig = go.Figure()
    for kind, names in SCORE_NAMES.items():
        for tier, colour in TIER_COLOURS.items():
            values = [score for score, t, _ in published[kind] if t == tier]
            if values:
                fig.add_trace(
                    go.Box(
                        y=values,
                        x=[names[lang]] * len(values),
                        name=TIER_NAMES[tier][lang],
                        legendgroup=tier,
                        showlegend=kind is ScoreKind.STORE,
                        marker_color=colour,
                        boxpoints="all",
                        jitter=0.4,
                        pointpos=0,
                    )
                )
    if not fig.data:
        return None
    fig.update_layout(
        xaxis={**_AXIS, "type": "category"},
        yaxis={**_AXIS, "title": {"text": CHART_TEXT["score"][lang]}},
        boxmode="group",
        **_LAYOUT,
    )
    return fig


def _boost_figure(boost: list[tuple[date, int, int]], lang: int) -> go.Figure | None:
    """A festival's boost traffic per day: promised against delivered."""
    if not boost:
        return None
    days = [d for d, _, _ in boost]
    fig = go.Figure()
    for key, column in (("promised", 1), ("delivered", 2)):
        fig.add_trace(
            go.Bar(
                x=[d.isoformat() for d in days],
                y=[row[column] for row in boost],
                name=CHART_TEXT[key][lang],
            )
        )
    fig.update_layout(
        xaxis=day_axis(days, lang),
        yaxis={**_AXIS, "title": {"text": CHART_TEXT["impressions"][lang]}},
        barmode="group",
        **_LAYOUT,
    )
    return fig


def report_charts(session: Session) -> list[dict[str, Any]]:
    """The report's charts: id, title in each language and the figure in each language."""
    rows = analytics.daily(session)
    refunds = dict(analytics.daily_refunds(session))
    days = analytics.every_day([r.day for r in rows] + list(refunds))
    gmv: dict[str, dict[date, float]] = defaultdict(dict)
    orders: dict[date, int] = defaultdict(int)
    for r in rows:
        gmv[r.field][r.day] = float(analytics.yuan(r.gmv_fen))
        orders[r.day] += r.orders
    top = analytics.top_shops(session)
    surfaces = analytics.marketplace_summary(session)["impressions_by_surface"]
    published = {kind: scoring_service.published_scores(session, kind) for kind in SCORE_NAMES}
    boost = campaign_results.boost_by_day(session)

    charts: list[tuple[str, tuple[str, str], Callable[[int], go.Figure | None]]] = [
        ("gmv", ("Daily GMV by field", "每日分场域GMV"), lambda i: _gmv_figure(days, gmv, i)),
        (
            "orders",
            ("Orders and refunds per day", "每日订单与退款"),
            lambda i: _orders_figure(days, orders, refunds, i),
        ),
        ("top", ("Top shops by GMV", "GMV最高的店铺"), lambda i: _top_figure(top, i)),
        ("traffic", ("Traffic by surface", "各流量场曝光"), lambda i: _traffic_figure(surfaces, i)),
        (
            "scores",
            ("The three scores, by tier", "三大评分分布（按等级）"),
            lambda i: _score_figure(published, i),
        ),
        (
            "boost",
            ("Festival boost traffic: promised and delivered", "活动助力流量：承诺与投放"),
            lambda i: _boost_figure(boost, i),
        ),
    ]
    out = []
    for key, titles, build in charts:
        figures = [build(i) for i in range(len(LANGUAGES))]
        if figures[0] is None:
            continue  # no published scores yet, no festival
        out.append(
            {
                "id": key,
                "title": dict(zip(LANGUAGES, titles, strict=True)),
                "figure": {
                    lang: figure_json(fig)
                    for lang, fig in zip(LANGUAGES, figures, strict=True)
                    if fig is not None
                },
            }
        )
    return out


def plotly_js() -> str:
    """plotly.js, inlined so the report opens offline. It goes into the page unescaped, so it
    must not be able to close its own script element."""
    js = str(plotly.offline.get_plotlyjs())
    if "</script" in js.lower():
        raise RuntimeError("this plotly.js cannot be inlined: it contains '</script'")
    return js


def render_report(session: Session, summary: dict[str, Any], path: Path) -> Path:
    env = Environment(
        loader=PackageLoader("trustflow.web", "templates"),
        autoescape=select_autoescape(["html"]),
    )
    html = env.get_template("report.html").render(
        summary=summary,
        charts=report_charts(session),
        fields=FIELD_NAMES,
        plotly_js=plotly_js(),
    )
    path.write_text(html, encoding="utf-8")
    return path
