"""The traffic health chart (``trustflow traffic report --out DIR``): one offline HTML page.

Daily concentration, the new merchants' share and Chuanliu delivery, one point per day of the
window (:mod:`trustflow.analytics.health` computes them). Like the demo's report
(:mod:`trustflow.web.report`), the figure is built once per language and the page's language
switch redraws it; plotly.js is inlined, so the page opens offline. The page holds nothing that
changes from run to run (no timings, no random element ids): the same report gives the same
bytes.
"""

from __future__ import annotations

from pathlib import Path

import plotly.graph_objects as go
from jinja2 import Environment, PackageLoader, select_autoescape
from plotly.subplots import make_subplots

from trustflow.analytics.health import NEW_MERCHANT_DAYS, TOP_PARTIES_PERCENT, HealthReport
from trustflow.web.plotly_text import plotly_text as text
from trustflow.web.report import LANGUAGES, day_axis, figure_json, plotly_js

__all__ = ["CHART_TEXT", "chart_figure", "write_chart"]

#: Every label of the chart, in the page's languages (English, Chinese).
CHART_TEXT = {
    "title": ("Traffic health", "流量生态健康"),
    "concentration": ("Traffic concentration", "流量集中度"),
    "new_merchants": (
        f"Share to new merchants under {NEW_MERCHANT_DAYS} days",
        f"新商家曝光占比（开店{NEW_MERCHANT_DAYS}天内）",
    ),
    "chuanliu": (
        "Chuanliu reward impressions: promised vs delivered",
        "川流计划奖励曝光：承诺与交付",
    ),
    "gini": ("Gini", "基尼系数"),
    "top_share": (
        f"Top {TOP_PARTIES_PERCENT}% parties' share",
        f"头部{TOP_PARTIES_PERCENT}%占比",
    ),
    "of_all": ("Of all impressions", "全部曝光"),
    "of_reward": ("Of reward impressions", "奖励流量"),
    "promised": ("Promised", "承诺"),
    "delivered": ("Delivered", "交付"),
    "ratio": ("Delivery ratio", "交付率"),
    "gini_axis": ("0 = equal", "0 = 均衡"),
    "share_axis": ("share", "占比"),
    "impressions_axis": ("impressions", "曝光"),
    "ratio_axis": ("delivered ÷ promised", "交付率"),
}


def chart_figure(report: HealthReport, lang: int = 0) -> go.Figure:
    """The chart in language ``lang`` (an index into :data:`LANGUAGES`), one point per day.

    ``report.days`` holds every day, so a day without traffic is on the chart: its counts
    (impressions promised and delivered) are zero, and its shares and ratios, having nothing to
    divide by, are gaps in their lines (``connectgaps=False``) rather than a zero that reads as
    "no new merchants were shown" or a ramp drawn across the days without data.
    """

    def t(key: str) -> str:
        return text(CHART_TEXT[key][lang])

    days = [d.start.isoformat() for d in report.days]

    def rate(values: list[float | None], key: str) -> go.Scatter:
        return go.Scatter(x=days, y=values, name=t(key), connectgaps=False)

    fig = make_subplots(
        rows=3,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.08,
        subplot_titles=(t("concentration"), t("new_merchants"), t("chuanliu")),
        specs=[[{}], [{}], [{"secondary_y": True}]],
    )
    fig.add_trace(rate([d.gini for d in report.days], "gini"), row=1, col=1)
    fig.add_trace(rate([d.top_share for d in report.days], "top_share"), row=1, col=1)
    fig.add_trace(rate([d.new_merchant_share for d in report.days], "of_all"), row=2, col=1)
    fig.add_trace(
        rate([d.new_merchant_reward_share for d in report.days], "of_reward"), row=2, col=1
    )
    fig.add_trace(
        go.Bar(x=days, y=[d.delivery.promised for d in report.days], name=t("promised")),
        row=3,
        col=1,
    )
    fig.add_trace(
        go.Bar(x=days, y=[d.delivery.delivered for d in report.days], name=t("delivered")),
        row=3,
        col=1,
    )
    ratio = rate([d.delivery.ratio for d in report.days], "ratio")
    ratio.mode = "lines+markers"
    fig.add_trace(ratio, row=3, col=1, secondary_y=True)
    fig.update_xaxes(**day_axis([d.start for d in report.days], lang))
    fig.update_yaxes(automargin=True)
    fig.update_yaxes(title_text=t("gini_axis"), rangemode="tozero", row=1, col=1)
    fig.update_yaxes(title_text=t("share_axis"), tickformat=".0%", rangemode="tozero", row=2, col=1)
    fig.update_yaxes(title_text=t("impressions_axis"), row=3, col=1)
    fig.update_yaxes(title_text=t("ratio_axis"), tickformat=".0%", row=3, col=1, secondary_y=True)
    fig.update_layout(
        title=f"{t('title')} · {report.start} – {report.end}",
        template="plotly_white",
        barmode="group",
        height=960,
        legend={"orientation": "h"},
        margin={"l": 20, "r": 20, "t": 90, "b": 20},
    )
    return fig


def write_chart(report: HealthReport, path: Path) -> Path:
    """Write the chart page to ``path`` (its directory made if missing) and return ``path``."""
    env = Environment(
        loader=PackageLoader("trustflow.web", "templates"),
        autoescape=select_autoescape(["html"]),
    )
    html = env.get_template("health.html").render(
        report=report,
        title=dict(zip(LANGUAGES, CHART_TEXT["title"], strict=True)),
        figure={lang: figure_json(chart_figure(report, i)) for i, lang in enumerate(LANGUAGES)},
        plotly_js=plotly_js(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path
