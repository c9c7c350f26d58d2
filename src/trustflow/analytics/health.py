"""Traffic ecosystem health (流量生态健康): is traffic spread or concentrated, do new merchants
get seen, and does the Chuanliu plan deliver the reward traffic it promised?

The CLI (``trustflow traffic report --start --end [--out DIR]``) runs it through
:func:`trustflow.analytics.flows.run_health_report`, which exports by watermark first (bringing
the impressions up to date); a bad window is ``InvalidInput``.

The report is data; its presentation lives with the adapters: the terminal's tables in
:mod:`trustflow.cli_views`, the chart page in :mod:`trustflow.web.health_chart`.

``health_report`` reads the warehouse as last exported and the Chuanliu ledger as last
reconciled (``chuanliu.reconcile``). It takes either the warehouse's root directory or an open
connection from ``warehouse.reader.open_warehouse``.

Per UTC day of the window, and for the window as a whole, the report gives:

- impressions, by surface, and the reward impressions (every plan) with their share;
- how concentrated impressions are across goods owners: the :func:`gini` coefficient and the
  top 1% of parties' share. A live room or a short video belongs to its host, a shop or a
  creator; a product card belongs to its product's shop. Only parties shown at least once in
  the period count: the numbers say how the traffic served was spread, not how many parties
  got none;
- the share of impressions that went to new merchants: shops in the first
  :data:`NEW_MERCHANT_DAYS` days of their life on the day of the impression (day 0 is the UTC
  date the shop was created), overall and among reward impressions;
- Chuanliu reward traffic (川流计划, docs/chuanliu.md): promised and delivered impressions from
  the ledger, the delivery ratio, and the parties delivered under 95% or over 105% of their
  promise. For the window a party's days are added up before it is compared with its promise.

Shares and ratios are ``None`` when there is nothing to divide by (no impressions, no promise).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from trustflow.errors import InvalidInput
from trustflow.traffic.chuanliu.models import ChuanliuLedger, PartyKind
from trustflow.traffic.chuanliu.rules import PLAN as CHUANLIU
from trustflow.vocabulary import Surface
from trustflow.warehouse.reader import open_warehouse

__all__ = [
    "MAX_WINDOW_DAYS",
    "NEW_MERCHANT_DAYS",
    "OVER_DELIVERY_PERCENT",
    "TOP_PARTIES_PERCENT",
    "UNDER_DELIVERY_PERCENT",
    "Delivery",
    "HealthReport",
    "PartyDelivery",
    "TrafficHealth",
    "gini",
    "health_report",
]

#: A shop is a new merchant on the days 0 .. 29 after the UTC date it was created.
NEW_MERCHANT_DAYS = 30
#: A party is under-delivered below this share of its promise, over-delivered above the next.
UNDER_DELIVERY_PERCENT = 95
OVER_DELIVERY_PERCENT = 105
#: The top share is that of the ceil(1% × parties) parties shown most (at least one).
TOP_PARTIES_PERCENT = 1
MAX_WINDOW_DAYS = 366


def gini(values: np.ndarray[Any, Any]) -> float:
    """The Gini coefficient of non-negative amounts (impressions per party).

    ``G = Σᵢ Σⱼ |xᵢ − xⱼ| ÷ (2 n² x̄)``: the mean difference between two parties drawn at
    random, relative to twice the mean. 0 when every party gets the same; it grows towards 1
    as one party takes everything (exactly (n − 1) ÷ n for n parties). Scaling every amount by
    the same factor leaves it unchanged. Computed on the sorted amounts x₍₁₎ ≤ … ≤ x₍ₙ₎ as
    ``2 Σᵢ i x₍ᵢ₎ ÷ (n Σ x) − (n + 1) ÷ n``. All zeros count as equal (0).
    """
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise InvalidInput("gini needs a non-empty one-dimensional array")
    if not np.isfinite(x).all() or (x < 0).any():
        raise InvalidInput("gini needs finite, non-negative amounts")
    total = x.sum()
    if total == 0:
        return 0.0
    n = x.size
    ranks = np.arange(1, n + 1, dtype=np.float64)
    return float(2.0 * (ranks * np.sort(x)).sum() / (n * total) - (n + 1) / n)


@dataclass(frozen=True)
class Delivery:
    """Chuanliu reward impressions promised and delivered (the ledger), for a day or a window."""

    promised: int = 0
    delivered: int = 0
    parties: int = 0
    under: int = 0  # parties delivered below UNDER_DELIVERY_PERCENT of their promise
    over: int = 0  # parties delivered above OVER_DELIVERY_PERCENT of their promise
    #: Chuanliu reward impressions in the warehouse. More than ``delivered`` means some went to
    #: no promised party, or the day was not reconciled since.
    shown: int = 0

    @property
    def ratio(self) -> float | None:
        return self.delivered / self.promised if self.promised else None


@dataclass(frozen=True)
class PartyDelivery:
    """One party's Chuanliu promises and deliveries added up over the window."""

    party_kind: PartyKind
    party_id: int
    promised: int
    delivered: int

    @property
    def ratio(self) -> float | None:
        return self.delivered / self.promised if self.promised else None


@dataclass(frozen=True)
class TrafficHealth:
    """Traffic health over one period: a UTC day (``start == end``) or the whole window."""

    start: date
    end: date
    impressions: int = 0
    by_surface: dict[str, int] = field(default_factory=dict)
    reward_impressions: int = 0
    #: Impressions of items missing from the warehouse's dimensions, so of no known party.
    unowned_impressions: int = 0
    parties: int = 0  # parties shown at least once
    gini: float | None = None
    top_share: float | None = None  # share of the top TOP_PARTIES_PERCENT of parties
    new_merchant_impressions: int = 0
    new_merchant_reward_impressions: int = 0
    delivery: Delivery = field(default_factory=Delivery)

    @property
    def reward_share(self) -> float | None:
        return _share(self.reward_impressions, self.impressions)

    @property
    def new_merchant_share(self) -> float | None:
        return _share(self.new_merchant_impressions, self.impressions)

    @property
    def new_merchant_reward_share(self) -> float | None:
        return _share(self.new_merchant_reward_impressions, self.reward_impressions)

    def surface_share(self, surface: str) -> float | None:
        """The share of the period's impressions shown on ``surface``."""
        return _share(self.by_surface.get(surface, 0), self.impressions)


@dataclass(frozen=True)
class HealthReport:
    start: date
    end: date
    days: tuple[TrafficHealth, ...]  # every UTC day of the window, in order
    window: TrafficHealth
    #: Parties with a promise, lowest delivery ratio first (then the largest shortfall).
    worst: tuple[PartyDelivery, ...]


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _check_window(start: date, end: date) -> list[date]:
    if isinstance(start, datetime) or isinstance(end, datetime):
        raise InvalidInput("start and end are dates, not datetimes")
    if end < start:
        raise InvalidInput(f"the window ends ({end}) before it starts ({start})")
    days = (end - start).days + 1
    if days > MAX_WINDOW_DAYS:
        raise InvalidInput(f"the window is {days} days long; at most {MAX_WINDOW_DAYS}")
    return [start + timedelta(days=i) for i in range(days)]


# Every impression of the window, summed per UTC day, surface, reward plan and owning party.
# The owner of each item is resolved once here; the queries below only add this table up.
_OWNED = """
CREATE TEMP TABLE traffic_owned AS
WITH shown AS (
    SELECT
        CAST(timezone('UTC', i.shown_at) AS DATE) AS day,
        i.surface,
        i.is_reward,
        COALESCE(i.reward_plan = $plan, false) AS chuanliu,
        COALESCE(l.shop_id, v.shop_id, p.shop_id) AS shop_id,
        COALESCE(l.creator_id, v.creator_id) AS creator_id,
        i.count
    FROM impressions AS i
    LEFT JOIN live_sessions AS l ON i.item_kind = 'live_session' AND l.id = i.item_id
    LEFT JOIN short_videos AS v ON i.item_kind = 'short_video' AND v.id = i.item_id
    LEFT JOIN products AS p ON i.item_kind = 'product_card' AND p.id = i.item_id
    WHERE i.shown_at >= $start AND i.shown_at < $stop
)
SELECT
    s.day,
    s.surface,
    s.is_reward,
    s.chuanliu,
    CASE WHEN s.shop_id IS NOT NULL THEN 'shop' WHEN s.creator_id IS NOT NULL THEN 'creator'
    END AS party_kind,
    COALESCE(s.shop_id, s.creator_id) AS party_id,
    COALESCE(
        date_diff('day', CAST(timezone('UTC', sh.created_at) AS DATE), s.day) < $new_days, false
    ) AS new_merchant,
    SUM(s.count) AS impressions
FROM shown AS s
LEFT JOIN shops AS sh ON sh.id = s.shop_id
GROUP BY ALL
"""

# Per day, and (day NULL) for the window.
_TOTALS = """
SELECT
    day,
    SUM(impressions),
    COALESCE(SUM(impressions) FILTER (WHERE is_reward), 0),
    COALESCE(SUM(impressions) FILTER (WHERE party_id IS NULL), 0),
    COALESCE(SUM(impressions) FILTER (WHERE new_merchant), 0),
    COALESCE(SUM(impressions) FILTER (WHERE new_merchant AND is_reward), 0),
    COALESCE(SUM(impressions) FILTER (WHERE is_reward AND chuanliu), 0)
FROM traffic_owned
GROUP BY GROUPING SETS ((day), ())
"""

_SURFACES = """
SELECT day, surface, SUM(impressions)
FROM traffic_owned
GROUP BY GROUPING SETS ((day, surface), (surface))
"""

# The Gini coefficient on sorted amounts, as in gini(): 2 Σ i x₍ᵢ₎ ÷ (n Σ x) − (n + 1) ÷ n.
# Tied amounts may take their ranks in any order: the sum is the same.
_CONCENTRATION = """
WITH party AS (
    SELECT day, party_kind, party_id, CAST(SUM(impressions) AS DOUBLE) AS x
    FROM traffic_owned
    WHERE party_id IS NOT NULL
    GROUP BY GROUPING SETS ((day, party_kind, party_id), (party_kind, party_id))
),
ranked AS (
    SELECT
        day,
        x,
        ROW_NUMBER() OVER (PARTITION BY day ORDER BY x) AS r,
        COUNT(*) OVER (PARTITION BY day) AS n
    FROM party
)
SELECT
    day,
    ANY_VALUE(n) AS n,
    2 * SUM(r * x) / (ANY_VALUE(n) * SUM(x)) - (ANY_VALUE(n) + 1) / ANY_VALUE(n) AS gini,
    SUM(x) FILTER (WHERE r > n - CEIL(n * $top_percent / 100.0)) / SUM(x) AS top_share
FROM ranked
GROUP BY day
"""


def _traffic(con: duckdb.DuckDBPyConnection, days: list[date]) -> dict[date | None, dict[str, Any]]:
    """The warehouse's numbers, keyed by day, and by None for the window."""
    start = datetime.combine(days[0], time(), tzinfo=UTC)
    stop = datetime.combine(days[-1], time(), tzinfo=UTC) + timedelta(days=1)
    # A cursor is a connection of its own: its temporary table goes when it closes.
    cur = con.cursor()
    try:
        cur.execute(
            _OWNED,
            {"plan": CHUANLIU, "start": start, "stop": stop, "new_days": NEW_MERCHANT_DAYS},
        )
        out: dict[date | None, dict[str, Any]] = {}
        for day, total, reward, unowned, new, new_reward, chuanliu in cur.execute(
            _TOTALS
        ).fetchall():
            if total is None:  # the window row of an empty window
                continue
            out[day] = {
                "impressions": int(total),
                "reward_impressions": int(reward),
                "unowned_impressions": int(unowned),
                "new_merchant_impressions": int(new),
                "new_merchant_reward_impressions": int(new_reward),
                "by_surface": {s.value: 0 for s in Surface},
                "shown": int(chuanliu),
            }
        for day, surface, n in cur.execute(_SURFACES).fetchall():
            out[day]["by_surface"][surface] = int(n)
        for day, parties, gini_value, top_share in cur.execute(
            _CONCENTRATION, {"top_percent": TOP_PARTIES_PERCENT}
        ).fetchall():
            # Rounding can leave a hair below zero when everyone gets the same.
            out[day].update(
                parties=int(parties), gini=max(float(gini_value), 0.0), top_share=float(top_share)
            )
        return out
    finally:
        cur.close()


def _delivery(
    session: Session, days: list[date]
) -> tuple[dict[date, Delivery], list[PartyDelivery]]:
    """The ledger's promises and deliveries: per day, and per party over the window."""
    ledger = ChuanliuLedger
    in_window = ledger.plan_day.between(days[0], days[-1])
    under = (
        ledger.delivered_impressions * 100 < ledger.promised_impressions * UNDER_DELIVERY_PERCENT
    )
    over = ledger.delivered_impressions * 100 > ledger.promised_impressions * OVER_DELIVERY_PERCENT
    daily = session.execute(
        select(
            ledger.plan_day,
            func.sum(ledger.promised_impressions),
            func.sum(ledger.delivered_impressions),
            func.count(),
            func.sum(case((under, 1), else_=0)),
            func.sum(case((over, 1), else_=0)),
        )
        .where(in_window)
        .group_by(ledger.plan_day)
    ).all()
    per_day = {
        day: Delivery(
            promised=int(promised),
            delivered=int(delivered),
            parties=int(parties),
            under=int(n_under),
            over=int(n_over),
        )
        for day, promised, delivered, parties, n_under, n_over in daily
    }
    parties = session.execute(
        select(
            ledger.party_kind,
            ledger.party_id,
            func.sum(ledger.promised_impressions),
            func.sum(ledger.delivered_impressions),
        )
        .where(in_window)
        .group_by(ledger.party_kind, ledger.party_id)
    ).all()
    return per_day, [
        PartyDelivery(PartyKind(kind), int(party_id), int(promised), int(delivered))
        for kind, party_id, promised, delivered in parties
    ]


def _window_delivery(parties: list[PartyDelivery]) -> Delivery:
    promised = np.array([p.promised for p in parties], dtype=np.int64)
    delivered = np.array([p.delivered for p in parties], dtype=np.int64)
    return Delivery(
        promised=int(promised.sum()),
        delivered=int(delivered.sum()),
        parties=len(parties),
        under=int((delivered * 100 < promised * UNDER_DELIVERY_PERCENT).sum()),
        over=int((delivered * 100 > promised * OVER_DELIVERY_PERCENT).sum()),
    )


def _health(
    start: date, end: date, numbers: dict[str, Any] | None, delivery: Delivery
) -> TrafficHealth:
    n = numbers or {}
    return TrafficHealth(
        start=start,
        end=end,
        impressions=n.get("impressions", 0),
        by_surface=n.get("by_surface", {s.value: 0 for s in Surface}),
        reward_impressions=n.get("reward_impressions", 0),
        unowned_impressions=n.get("unowned_impressions", 0),
        parties=n.get("parties", 0),
        gini=n.get("gini"),
        top_share=n.get("top_share"),
        new_merchant_impressions=n.get("new_merchant_impressions", 0),
        new_merchant_reward_impressions=n.get("new_merchant_reward_impressions", 0),
        delivery=replace(delivery, shown=n.get("shown", 0)),
    )


def health_report(
    warehouse: Path | duckdb.DuckDBPyConnection,
    session: Session,
    *,
    start: date,
    end: date,
    worst: int = 10,
) -> HealthReport:
    """Traffic health for each UTC day from ``start`` to ``end`` (both included, at most
    :data:`MAX_WINDOW_DAYS` days) and for the window, with the ``worst`` delivered Chuanliu
    parties. ``warehouse`` is the warehouse root or an ``open_warehouse`` connection."""
    days = _check_window(start, end)
    if not 0 <= worst <= 1_000:
        raise InvalidInput("worst must be in 0..1000")
    if isinstance(warehouse, duckdb.DuckDBPyConnection):
        traffic = _traffic(warehouse, days)
    else:
        con = open_warehouse(Path(warehouse))
        try:
            traffic = _traffic(con, days)
        finally:
            con.close()
    per_day, parties = _delivery(session, days)
    promised = [p for p in parties if p.promised > 0]
    promised.sort(
        key=lambda p: (p.delivered / p.promised, p.delivered - p.promised, p.party_kind, p.party_id)
    )
    return HealthReport(
        start=start,
        end=end,
        days=tuple(
            _health(day, day, traffic.get(day), per_day.get(day, Delivery())) for day in days
        ),
        window=_health(start, end, traffic.get(None), _window_delivery(parties)),
        worst=tuple(promised[:worst]),
    )
