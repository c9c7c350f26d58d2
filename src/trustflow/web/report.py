"""The demo's report: one self-contained HTML page (charts and all; opens offline)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy.orm import Session

from trustflow.analytics import summary as analytics
from trustflow.scoring import service as scoring_service
from trustflow.scoring.models import ScoreKind

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
_LAYOUT = {
    "margin": {"l": 50, "r": 20, "t": 30, "b": 40},
    "height": 340,
    "template": "plotly_white",
    "legend": {"orientation": "h"},
}


def _html(fig: go.Figure, first: bool) -> str:
    return str(
        fig.to_html(full_html=False, include_plotlyjs=bool(first), config={"displaylogo": False})
    )


def _charts(session: Session) -> list[dict[str, Any]]:
    rows = analytics.daily(session)
    days = sorted({r.day for r in rows})
    gmv: dict[str, dict[Any, float]] = defaultdict(dict)
    orders: dict[Any, int] = defaultdict(int)
    for r in rows:
        gmv[r.field][r.day] = float(analytics.yuan(r.gmv_fen))
        orders[r.day] += r.orders
    fig_gmv = go.Figure()
    for field, (en, zh) in FIELD_NAMES.items():
        fig_gmv.add_trace(
            go.Scatter(
                x=days,
                y=[gmv[field].get(d, 0.0) for d in days],
                name=f"{en} {zh}",
                stackgroup="gmv",
                mode="lines",
            )
        )
    fig_gmv.update_layout(yaxis_title="GMV (yuan 元)", **_LAYOUT)

    refunds = dict(analytics.daily_refunds(session))
    fig_orders = go.Figure(
        [
            go.Bar(x=days, y=[orders[d] for d in days], name="Orders 订单"),
            go.Scatter(
                x=days,
                y=[refunds.get(d, 0) for d in days],
                name="Refunds 退款",
                yaxis="y2",
                mode="lines+markers",
            ),
        ]
    )
    fig_orders.update_layout(
        yaxis={"title": "orders"},
        yaxis2={"title": "refunds", "overlaying": "y", "side": "right", "rangemode": "tozero"},
        **_LAYOUT,
    )

    top = analytics.top_shops(session)
    fig_top = go.Figure(
        go.Bar(
            x=[float(s["gmv_yuan"]) for s in reversed(top)],
            y=[f"{s['name']} ({s['kind']})" for s in reversed(top)],
            orientation="h",
        )
    )
    fig_top.update_layout(xaxis_title="GMV (yuan 元)", **_LAYOUT)

    summary = analytics.marketplace_summary(session)
    surfaces = summary["impressions_by_surface"]
    fig_traffic = go.Figure(
        go.Bar(
            x=[f"{SURFACE_NAMES[s][0]} {SURFACE_NAMES[s][1]}" for s in surfaces],
            y=list(surfaces.values()),
        )
    )
    fig_traffic.update_layout(yaxis_title="impressions 曝光", **_LAYOUT)
    figures = [
        ("gmv", "Daily GMV by field", "每日分场域GMV", fig_gmv),
        ("orders", "Orders and refunds per day", "每日订单与退款", fig_orders),
        ("top", "Top shops by GMV", "GMV最高的店铺", fig_top),
        ("traffic", "Traffic by surface", "各流量场曝光", fig_traffic),
    ]
    fig_scores = _score_figure(session)
    if fig_scores is not None:
        figures.append(
            ("scores", "The three scores, by tier", "三大评分分布（按等级）", fig_scores)
        )
    return [
        {"id": key, "en": en, "zh": zh, "html": _html(fig, i == 0)}
        for i, (key, en, zh, fig) in enumerate(figures)
    ]


SCORE_NAMES = {
    ScoreKind.STORE: ("Store experience", "店铺体验分"),
    ScoreKind.PRODUCT: ("Product", "商品分"),
    ScoreKind.CREATOR: ("Creator reputation", "带货口碑分"),
}
TIER_COLOURS = {"excellent": "#1a9850", "good": "#91cf60", "fair": "#fdae61", "low": "#d73027"}


def _score_figure(session: Session) -> go.Figure | None:
    """Score distributions of the published version, one box per score, points by tier."""
    fig = go.Figure()
    for kind, (en, zh) in SCORE_NAMES.items():
        rows = scoring_service.published_scores(session, kind)
        for tier, colour in TIER_COLOURS.items():
            values = [score for score, t, _ in rows if t == tier]
            if values:
                fig.add_trace(
                    go.Box(
                        y=values,
                        x=[f"{en} {zh}"] * len(values),
                        name=tier,
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
    fig.update_layout(yaxis_title="score 分", boxmode="group", **_LAYOUT)
    return fig


def render_report(session: Session, summary: dict[str, Any], path: Path) -> Path:
    env = Environment(
        loader=PackageLoader("trustflow.web", "templates"),
        autoescape=select_autoescape(["html"]),
    )
    html = env.get_template("report.html").render(
        summary=summary, charts=_charts(session), fields=FIELD_NAMES, surfaces=SURFACE_NAMES
    )
    path.write_text(html, encoding="utf-8")
    return path
