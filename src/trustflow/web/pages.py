"""The dashboard at ``/`` (operators) and the score page at ``/scores`` (merchants, creators).

The page holds no data itself; it calls ``/api/v1/analytics/overview`` with the key the
operator enters (kept in the browser only), so the API's access rules apply to it too.
Plotly is served from this app, never from a CDN.
"""

from __future__ import annotations

from pathlib import Path

import plotly
from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from trustflow.scoring import rules
from trustflow.web.report import (
    CHART_TEXT,
    DAILY_TICKS_UP_TO,
    DAY_TICKS,
    FIELD_NAMES,
    SHOP_KIND_NAMES,
    SURFACE_NAMES,
    TIER_NAMES,
)

router = APIRouter(include_in_schema=False)
_env = Environment(
    loader=PackageLoader("trustflow.web", "templates"), autoescape=select_autoescape(["html"])
)
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


@router.get("/", response_class=HTMLResponse)
def dashboard() -> str:
    return _env.get_template("dashboard.html").render(
        fields=FIELD_NAMES,
        surfaces=SURFACE_NAMES,
        shop_kinds=SHOP_KIND_NAMES,
        chart_text=CHART_TEXT,
        day_ticks=DAY_TICKS,
        daily_ticks_up_to=DAILY_TICKS_UP_TO,
    )


@router.get("/scores", response_class=HTMLResponse)
def my_scores() -> str:
    """A merchant's (or creator's) own scores: breakdown, hints, trend and what they allow."""
    return _env.get_template("scores.html").render(
        metric_names_zh=rules.METRIC_NAMES_ZH,
        tiers=TIER_NAMES,
        day_ticks=DAY_TICKS,
        daily_ticks_up_to=DAILY_TICKS_UP_TO,
    )


@router.get("/static/plotly.min.js")
def plotly_js() -> FileResponse:
    return FileResponse(PLOTLY_JS, media_type="application/javascript")
