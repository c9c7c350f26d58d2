"""What the command line draws: Rich tables of reports the domain computes.

The CLI parses, calls and draws; the drawing lives here so ``cli.py`` stays a list of commands,
and the domain packages never import Rich.
"""

from __future__ import annotations

from rich.table import Table

from trustflow.analytics.health import (
    NEW_MERCHANT_DAYS,
    OVER_DELIVERY_PERCENT,
    TOP_PARTIES_PERCENT,
    UNDER_DELIVERY_PERCENT,
    HealthReport,
    TrafficHealth,
)

__all__ = ["render_text"]


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _gini(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _row(label: str, t: TrafficHealth) -> list[str]:
    d = t.delivery
    return [
        label,
        f"{t.impressions:,}",
        f"{t.reward_impressions:,} ({_pct(t.reward_share)})",
        str(t.parties),
        _gini(t.gini),
        _pct(t.top_share),
        _pct(t.new_merchant_share),
        _pct(t.new_merchant_reward_share),
        f"{d.promised:,}",
        f"{d.delivered:,}",
        _pct(d.ratio),
        f"{d.under} / {d.over}",
    ]


def render_text(report: HealthReport) -> list[Table]:
    """Tables for a terminal of the traffic health report (``trustflow traffic report``): the
    days and the window, impressions by surface, and the parties whose Chuanliu promises were
    delivered worst. A figure too wide for its column folds onto a second line rather than
    being cut to "…"."""
    daily = Table(title=f"Traffic health · {report.start} – {report.end}")
    for name in ("day", "impressions", "reward (share)", "parties", "Gini"):
        daily.add_column(name, justify="left" if name == "day" else "right", overflow="fold")
    for name in (
        f"top {TOP_PARTIES_PERCENT}%",
        f"new merchants (<{NEW_MERCHANT_DAYS}d)",
        "new, of reward",
        "Chuanliu promised",
        "delivered",
        "ratio",
        f"<{UNDER_DELIVERY_PERCENT}% / >{OVER_DELIVERY_PERCENT}%",
    ):
        daily.add_column(name, justify="right", overflow="fold")
    for day in report.days:
        daily.add_row(*_row(day.start.isoformat(), day))
    daily.add_section()
    daily.add_row(*_row("window", report.window), style="bold")

    surfaces = Table(title="Impressions by surface")
    surfaces.add_column("surface")
    surfaces.add_column("impressions", justify="right")
    surfaces.add_column("share", justify="right")
    for surface, n in report.window.by_surface.items():
        if n:
            surfaces.add_row(surface, f"{n:,}", _pct(report.window.surface_share(surface)))
    if report.window.unowned_impressions:
        surfaces.caption = (
            f"{report.window.unowned_impressions:,} impressions of items missing from the "
            "warehouse's dimensions belong to no party"
        )

    worst = Table(title="Chuanliu promises delivered worst")
    worst.add_column("party")
    for name in ("promised", "delivered", "ratio"):
        worst.add_column(name, justify="right")
    for p in report.worst:
        worst.add_row(
            f"{p.party_kind.value} {p.party_id}",
            f"{p.promised:,}",
            f"{p.delivered:,}",
            _pct(p.ratio),
        )
    shown, delivered = report.window.delivery.shown, report.window.delivery.delivered
    if shown != delivered:
        worst.caption = (
            f"{shown:,} Chuanliu reward impressions in the warehouse, {delivered:,} delivered "
            "to promised parties: unreconciled days, or a leak in serving"
        )
    return [daily, surfaces, worst]
