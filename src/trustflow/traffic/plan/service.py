"""The daily traffic plan: forecast supply, value every candidate, solve, store, switch in.

A plan day D reads the warehouse's history before D (impressions, orders, live sessions) and
the store's small tables (active scores, the Chuanliu promises of D):

1. **Supply.** Impressions per surface and hour of day: the mean over the last
   ``traffic_supply_days`` days that had traffic, split evenly over ``traffic_segments``
   audience segments (stable hash buckets of the buyer).
2. **Candidates.** A shop's own room and a creator's room (hosts that went live in the last
   14 days; shown on the follow, featured, discover and short-video-to-live surfaces in the hours
   they are usually live) and every listed product's card (search, mall and shop pages, all
   day).
3. **Value** of one impression: GMV per impression over ``traffic_value_days`` days (click
   rate × conversion × order value, which the log records only as their product), shrunk toward
   the candidate's category: ``(gmv + k·category_rate) / (impressions + k)`` with
   ``k = traffic_shrinkage_impressions``, so a new candidate starts at its category's rate.
4. **Trust** multiplies value (:data:`TRUST_MULTIPLIER` by score tier; a restricted score
   gets :data:`RESTRICTED_MULTIPLIER`); shops that are not active (suspended, closed) are not
   candidates at all.
5. **Bounds.** Chuanliu promises of D, and a running festival's promises and the fast-brand
   guarantee on a shop's room, are lower bounds on the room; shops
   younger than ``traffic_new_merchant_days`` get an exploration floor; every candidate is
   capped at ``traffic_cap_share`` of the supply it can reach.
6. **Solve** (:mod:`trustflow.traffic.plan.allocation`), **store** a draft, **activate**: one
   transaction retires the active plan and activates the new one, so serving sees one plan or
   the other, never a mixture.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from trustflow.bulk import chunks, sorted_lookup
from trustflow.campaigns.boosts import FESTIVAL_BOOST, festival_boosts
from trustflow.campaigns.fast_brands import benchmark_fast_brands
from trustflow.campaigns.rules import FAST_BRAND_GUARANTEE, NEW_PRODUCT_BOOST, NEW_PRODUCT_DAYS
from trustflow.catalog.models import Product
from trustflow.config import Settings, get_settings
from trustflow.db import utcnow
from trustflow.errors import Conflict, InvalidInput, NotFound
from trustflow.governance import penalties
from trustflow.scoring.models import EntityScore, ScoreKind, Tier
from trustflow.scoring.service import active_version
from trustflow.traffic.chuanliu import ledger
from trustflow.traffic.chuanliu.models import PartyKind
from trustflow.traffic.festival import promise_running
from trustflow.traffic.plan.allocation import Problem, Solution, solve_dual, solve_exact
from trustflow.traffic.plan.models import (
    CandidateKind,
    PlanCandidate,
    PlanNode,
    PlanStatus,
    TrafficPlan,
)
from trustflow.vocabulary import ROOM_SURFACES, SHELF_SURFACES, Surface

__all__ = [
    "HOURS",
    "KINDS",
    "MAX_PROMISE_SHARE",
    "RESTRICTED_MULTIPLIER",
    "ROOM_DAYS",
    "SHOWN_ON",
    "SURFACES",
    "TRUST_MULTIPLIER",
    "BuiltPlan",
    "PlanInputs",
    "activate",
    "active_plan",
    "build_problem",
    "forecast_supply",
    "gather_inputs",
    "solve",
    "store",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: surfaces in node order: node = (surface × 24 + hour) × segments + segment
SURFACES: tuple[Surface, ...] = tuple(Surface)
KINDS: tuple[CandidateKind, ...] = tuple(CandidateKind)
#: which surfaces show which kind of candidate, indexed [kind, surface]
SHOWN_ON = np.array(
    [
        [
            s in (SHELF_SURFACES if k is CandidateKind.PRODUCT_CARD else ROOM_SURFACES)
            for s in SURFACES
        ]
        for k in KINDS
    ]
)
HOURS = 24
#: value multipliers by score tier (docs/traffic.md); no score is not a low score: 1.0
TRUST_MULTIPLIER: dict[Tier, float] = {
    Tier.EXCELLENT: 1.2,
    Tier.GOOD: 1.0,
    Tier.FAIR: 0.8,
    Tier.LOW: 0.6,
}
RESTRICTED_MULTIPLIER = 0.3
#: hosts that went live in this many days before D are room candidates
ROOM_DAYS = 14
#: a promise may take at most this share of the supply its candidate can reach
MAX_PROMISE_SHARE = 0.9


@dataclass
class PlanInputs:
    """Everything the solve needs, one row per candidate (arrays aligned)."""

    day: date
    segments: int
    supply: FloatArray  # per node
    kind: IntArray  # index into KINDS
    entity_id: IntArray
    shop_id: IntArray  # 0: none
    value_fen: FloatArray
    multiplier: FloatArray
    hours: npt.NDArray[np.bool_]  # (candidates, 24): hours the candidate can be shown
    promised: IntArray
    is_new: npt.NDArray[np.bool_]
    notes: dict[str, Any] = field(default_factory=dict)
    #: planned impressions guaranteed to a room beyond its promises (the fast-brand plan's
    #: guarantee): a lower bound on what the plan allots, served as the room's planned traffic
    guaranteed: IntArray | None = None
    #: a running festival's promise to a shop's room, and the campaign (0: none): a lower
    #: bound on what the plan allots, served as that campaign's reward traffic
    campaign_promised: IntArray | None = None
    campaign_id: IntArray | None = None

    def __len__(self) -> int:
        return len(self.entity_id)


@dataclass
class BuiltPlan:
    inputs: PlanInputs
    problem: Problem
    solution: Solution
    floor: FloatArray


def _window(day: date, days: int) -> tuple[datetime, datetime]:
    end = datetime.combine(day, time(), tzinfo=UTC)
    return end - timedelta(days=days), end


def forecast_supply(con: Any, day: date, settings: Settings) -> FloatArray:
    """Impressions per surface and hour: the mean over the window's days with traffic."""
    start, end = _window(day, settings.traffic_supply_days)
    rows = con.execute(
        """
        SELECT surface, hour(shown_at) AS hour, sum(count) AS n,
               count(DISTINCT CAST(shown_at AS DATE)) OVER () AS days
        FROM impressions WHERE shown_at >= ? AND shown_at < ?
        GROUP BY surface, hour(shown_at), CAST(shown_at AS DATE)
        """,
        [start, end],
    ).fetchall()
    per = np.zeros((len(SURFACES), HOURS))
    days = max((int(r[3]) for r in rows), default=0)
    if days == 0:
        raise InvalidInput(
            f"no impressions in the {settings.traffic_supply_days} days before {day}: "
            "nothing to forecast supply from (export the warehouse first)"
        )
    order = {s.value: i for i, s in enumerate(SURFACES)}
    for surface, hour, n, _ in rows:
        per[order[surface], int(hour)] += float(n)
    per /= days
    return np.repeat(per.reshape(-1) / settings.traffic_segments, settings.traffic_segments)


_CANDIDATES_SQL = """
WITH hosts AS (
    SELECT CASE WHEN l.shop_id IS NOT NULL THEN 'shop_room' ELSE 'creator_room' END AS kind,
           coalesce(l.shop_id, l.creator_id) AS entity_id,
           l.shop_id AS shop_id,
           hour(l.started_at) AS h0,
           least(greatest(CAST(ceil(epoch(coalesce(l.ended_at, l.started_at + INTERVAL 3 HOUR)
                 - l.started_at) / 3600.0) AS INTEGER), 1), 24) AS span
    FROM live_sessions l
    WHERE l.started_at >= $room_start AND l.started_at < $end
),
room_hours AS (
    SELECT kind, entity_id, any_value(shop_id) AS shop_id,
           list_distinct(flatten(list(range(h0, h0 + span)))) AS hrs
    FROM hosts GROUP BY kind, entity_id
),
cards AS (
    SELECT 'product_card' AS kind, p.id AS entity_id, p.shop_id AS shop_id,
           range(0, 24) AS hrs
    FROM products p JOIN shops s ON s.id = p.shop_id
    WHERE p.status = 'listed' AND s.status = 'active'
),
candidates AS (
    SELECT r.* FROM room_hours r LEFT JOIN shops s ON s.id = r.shop_id
    WHERE r.shop_id IS NULL OR s.status = 'active'
    UNION ALL SELECT * FROM cards
),
imp AS (
    SELECT CASE WHEN i.item_kind = 'product_card' THEN 'product_card'
                WHEN coalesce(l.shop_id, v.shop_id) IS NOT NULL THEN 'shop_room'
                ELSE 'creator_room' END AS kind,
           CASE WHEN i.item_kind = 'product_card' THEN i.item_id
                ELSE coalesce(l.shop_id, v.shop_id, l.creator_id, v.creator_id) END AS entity_id,
           i.count
    FROM impressions i
    LEFT JOIN live_sessions l ON i.item_kind = 'live_session' AND l.id = i.item_id
    LEFT JOIN short_videos v ON i.item_kind = 'short_video' AND v.id = i.item_id
    WHERE i.shown_at >= $value_start AND i.shown_at < $end
),
imp_by AS (SELECT kind, entity_id, sum(count) AS impressions FROM imp GROUP BY ALL),
gmv AS (
    -- a room's GMV is its orders'; a card's is what its product's lines were paid, whatever
    -- else the order held
    SELECT CASE channel WHEN 'self_broadcast' THEN 'shop_room' ELSE 'creator_room' END AS kind,
           CASE channel WHEN 'self_broadcast' THEN shop_id ELSE creator_id END AS entity_id,
           sum(paid_amount_fen) AS gmv_fen
    FROM orders
    WHERE paid_at >= $value_start AND paid_at < $end
      AND status NOT IN ('cancelled', 'pending_payment')
      AND channel IN ('self_broadcast', 'distribution')
    GROUP BY ALL
    UNION ALL
    SELECT 'product_card' AS kind, l.product_id AS entity_id, sum(l.paid_amount_fen) AS gmv_fen
    FROM orders o JOIN order_lines l ON l.order_id = o.id
    WHERE o.paid_at >= $value_start AND o.paid_at < $end
      AND o.status NOT IN ('cancelled', 'pending_payment')
      AND o.channel NOT IN ('self_broadcast', 'distribution')
    GROUP BY ALL
),
joined AS (
    SELECT c.kind, c.entity_id, c.shop_id, c.hrs,
           coalesce(i.impressions, 0) AS impressions, coalesce(g.gmv_fen, 0) AS gmv_fen,
           CASE c.kind WHEN 'product_card' THEN coalesce(p.category_id, -1)
                       WHEN 'shop_room' THEN coalesce(s.category_id, -1)
                       ELSE -1 END AS category_id,
           s.created_at AS shop_created_at
    FROM candidates c
    LEFT JOIN imp_by i ON i.kind = c.kind AND i.entity_id = c.entity_id
    LEFT JOIN gmv g ON g.kind = c.kind AND g.entity_id = c.entity_id
    LEFT JOIN products p ON c.kind = 'product_card' AND p.id = c.entity_id
    LEFT JOIN shops s ON s.id = c.shop_id
),
rates AS (
    SELECT kind, category_id, sum(gmv_fen) AS g, sum(impressions) AS n
    FROM joined GROUP BY ALL
),
kind_rates AS (SELECT kind, sum(g) AS g, sum(n) AS n FROM rates GROUP BY kind)
SELECT j.kind, j.entity_id, coalesce(j.shop_id, 0) AS shop_id, j.hrs, j.impressions,
       j.gmv_fen,
       coalesce(r.g / nullif(r.n, 0), k.g / nullif(k.n, 0), 0.0) AS category_rate,
       coalesce(j.shop_created_at >= $new_since, false) AS is_new
FROM joined j
JOIN rates r USING (kind, category_id)
JOIN kind_rates k USING (kind)
ORDER BY j.kind, j.entity_id
"""


def _tiers(session: Session, kind: ScoreKind) -> tuple[dict[int, Tier], set[int]]:
    version = active_version(session)
    if version is None:
        return {}, set()
    rows = session.execute(
        select(EntityScore.entity_id, EntityScore.tier, EntityScore.restricted).where(
            EntityScore.version_id == version.id, EntityScore.kind == kind
        )
    ).all()
    return {r[0]: r[1] for r in rows}, {r[0] for r in rows if r[2]}


def _multipliers(
    session: Session, kind: IntArray, entity: IntArray, shop: IntArray, day: date
) -> FloatArray:
    """Trust: the candidate's own score tier (store for a shop's room, creator reputation for
    a creator's room, product score for a card), and a card's shop's restriction; then the
    festival boost of a registered shop's room and its registered products' cards
    (``campaigns/boosts.py``), and the new-product plan's boost of a new product's card
    (``campaigns/rules.py NEW_PRODUCT_BOOST``); last, the traffic limit of a shop whose
    violation points reach it caps its room and cards (``governance/penalties.py``)."""
    out = np.ones(len(kind))
    store, store_restricted = _tiers(session, ScoreKind.STORE)
    lookups = {
        KINDS.index(CandidateKind.SHOP_ROOM): (store, store_restricted),
        KINDS.index(CandidateKind.CREATOR_ROOM): _tiers(session, ScoreKind.CREATOR),
        KINDS.index(CandidateKind.PRODUCT_CARD): _tiers(session, ScoreKind.PRODUCT),
    }
    for k, (tiers, restricted) in lookups.items():
        rows = np.flatnonzero(kind == k)
        out[rows] = [
            RESTRICTED_MULTIPLIER
            if int(e) in restricted
            else TRUST_MULTIPLIER.get(tiers.get(int(e)), 1.0)  # type: ignore[arg-type]
            for e in entity[rows]
        ]
    cards = np.flatnonzero(kind == KINDS.index(CandidateKind.PRODUCT_CARD))
    shop_held = np.array([int(s) in store_restricted for s in shop[cards]], dtype=bool)
    out[cards[shop_held]] = np.minimum(out[cards[shop_held]], RESTRICTED_MULTIPLIER)
    shops, products = festival_boosts(session, day)
    boosted = ((kind == KINDS.index(CandidateKind.SHOP_ROOM)) & np.isin(entity, list(shops))) | (
        (kind == KINDS.index(CandidateKind.PRODUCT_CARD)) & np.isin(entity, list(products))
    )
    out[boosted] *= FESTIVAL_BOOST
    out[cards[_new_products(session, entity[cards], day)]] *= NEW_PRODUCT_BOOST
    # last, a cap no boost lifts: a shop whose violation points reach the traffic limit
    limited = [
        s.shop_id
        for s in penalties.standings(session, datetime.combine(day, time(), tzinfo=UTC)).values()
        if s.at_least(penalties.PenaltyLevel.TRAFFIC_LIMIT)
    ]
    if limited:
        held = ((kind == KINDS.index(CandidateKind.SHOP_ROOM)) & np.isin(entity, limited)) | (
            (kind == KINDS.index(CandidateKind.PRODUCT_CARD)) & np.isin(shop, limited)
        )
        out[held] = np.minimum(out[held], penalties.TRAFFIC_LIMIT_MULTIPLIER)
    return out


def _new_products(session: Session, products: IntArray, day: date) -> npt.NDArray[np.bool_]:
    """Which of ``products`` are new on ``day``: listed in the NEW_PRODUCT_DAYS before it."""
    if len(products) == 0:
        return np.zeros(0, dtype=bool)
    start = datetime.combine(day, time(), tzinfo=UTC)
    new = set(
        session.scalars(
            select(Product.id).where(
                Product.id.in_(np.unique(products).tolist()),
                Product.created_at > start - timedelta(days=NEW_PRODUCT_DAYS),
                Product.created_at <= start,
            )
        )
    )
    return np.isin(products, list(new))


def gather_inputs(
    session: Session, warehouse: Path, day: date, *, settings: Settings | None = None
) -> PlanInputs:
    """Read what day ``day``'s plan needs: the warehouse's history and the store's scores and
    Chuanliu promises (made here if the day has none yet)."""
    from trustflow.warehouse.reader import open_warehouse

    s = settings or get_settings()
    con = open_warehouse(warehouse)
    try:
        supply = forecast_supply(con, day, s)
        end = datetime.combine(day, time(), tzinfo=UTC)
        table = con.execute(
            _CANDIDATES_SQL,
            {
                "room_start": end - timedelta(days=ROOM_DAYS),
                "value_start": end - timedelta(days=s.traffic_value_days),
                "end": end,
                "new_since": end - timedelta(days=s.traffic_new_merchant_days),
            },
        ).fetchnumpy()
    finally:
        con.close()
    if len(table["kind"]) == 0:
        raise InvalidInput(f"no candidates for {day}: no live hosts and no listed products")
    codes = {k.value: i for i, k in enumerate(KINDS)}
    kind = np.array([codes[k] for k in table["kind"]], dtype=np.int64)
    entity = np.asarray(table["entity_id"], dtype=np.int64)
    shop = np.asarray(table["shop_id"], dtype=np.int64)
    hours = np.zeros((len(entity), HOURS), dtype=bool)
    for i, hrs in enumerate(table["hrs"]):
        hours[i, np.asarray(hrs, dtype=np.int64) % HOURS] = True
    impressions = np.asarray(table["impressions"], dtype=np.float64)
    gmv = np.asarray(table["gmv_fen"], dtype=np.float64)
    rate = np.asarray(table["category_rate"], dtype=np.float64)
    k = s.traffic_shrinkage_impressions
    value = (gmv + k * rate) / (impressions + k)
    promised = _promises(session, day, kind, entity, s)
    guaranteed = _guarantees(session, day, kind, entity)
    campaign_promised, campaign_id, unlabelled = _campaign_promises(session, day, kind, entity)
    return PlanInputs(
        day=day,
        segments=s.traffic_segments,
        supply=supply,
        kind=kind,
        entity_id=entity,
        shop_id=shop,
        value_fen=value,
        multiplier=_multipliers(session, kind, entity, shop, day),
        hours=hours,
        promised=promised,
        is_new=np.asarray(table["is_new"], dtype=bool),
        guaranteed=guaranteed + unlabelled,
        campaign_promised=campaign_promised,
        campaign_id=campaign_id,
    )


def _promises(
    session: Session, day: date, kind: IntArray, entity: IntArray, settings: Settings
) -> IntArray:
    """The day's Chuanliu promises on the promised party's room (served as Chuanliu reward
    traffic)."""
    rows = ledger.promise(session, day, settings=settings)
    out = np.zeros(len(entity), dtype=np.int64)
    room = {
        PartyKind.SHOP: KINDS.index(CandidateKind.SHOP_ROOM),
        PartyKind.CREATOR: KINDS.index(CandidateKind.CREATOR_ROOM),
    }
    key = kind * (1 << 40) + entity
    order = np.argsort(key)
    want = np.array([room[r.party_kind] * (1 << 40) + r.party_id for r in rows], dtype=np.int64)
    at = sorted_lookup(key[order], want, order)
    promised = np.array([r.promised_impressions for r in rows], dtype=np.int64)
    np.add.at(out, at[at >= 0], promised[at >= 0])
    return out


def _shop_rooms(kind: IntArray, entity: IntArray, shops: IntArray) -> IntArray:
    """Each shop's room among the candidates (-1: it has none)."""
    key = kind * (1 << 40) + entity
    order = np.argsort(key)
    want = KINDS.index(CandidateKind.SHOP_ROOM) * (1 << 40) + shops
    return sorted_lookup(key[order], want, order)


def _guarantees(session: Session, day: date, kind: IntArray, entity: IntArray) -> IntArray:
    """What the day's plan guarantees a shop's room beyond its promises: the fast-brand
    plan's guarantee to a benchmark fast brand (``campaigns/fast_brands.py``)."""
    out = np.zeros(len(entity), dtype=np.int64)
    shops = np.array(sorted(benchmark_fast_brands(session)), dtype=np.int64)
    at = _shop_rooms(kind, entity, shops)
    out[at[at >= 0]] += FAST_BRAND_GUARANTEE
    return out


def _campaign_promises(
    session: Session, day: date, kind: IntArray, entity: IntArray
) -> tuple[IntArray, IntArray, IntArray]:
    """The running festivals' promises to shops' rooms for the day (their rewards and boost,
    ``traffic/festival.py``): per candidate, what one campaign promised it and which campaign
    (served as that campaign's reward traffic, so its ledger reconciles from the log), and
    what any other campaign promised the same room that day (a rare overlap: planned, not
    labelled)."""
    promised = np.zeros(len(entity), dtype=np.int64)
    campaign = np.zeros(len(entity), dtype=np.int64)
    unlabelled = np.zeros(len(entity), dtype=np.int64)
    rows = promise_running(session, day)
    if not rows:
        return promised, campaign, unlabelled
    table = np.array(rows, dtype=np.int64)  # (shop, campaign, promised), by shop, campaign
    at = _shop_rooms(kind, entity, table[:, 0])
    first = np.r_[True, table[1:, 0] != table[:-1, 0]]  # each shop's earliest campaign
    room = at >= 0
    promised[at[room & first]] = table[room & first, 2]
    campaign[at[room & first]] = table[room & first, 1]
    np.add.at(unlabelled, at[room & ~first], table[room & ~first, 2])
    return promised, campaign, unlabelled


def build_problem(
    inputs: PlanInputs, settings: Settings | None = None
) -> tuple[Problem, FloatArray]:
    """The LP of the plan, and the exploration floors it carries."""
    s = settings or get_settings()
    n, segs = len(inputs), inputs.segments
    mask = (
        SHOWN_ON[inputs.kind][:, :, None, None]
        & inputs.hours[:, None, :, None]
        & np.ones(segs, dtype=bool)[None, None, None, :]
    )
    rows, surface, hour, segment = np.nonzero(mask)
    node = ((surface * HOURS + hour) * segs + segment).astype(np.int32)
    cand: npt.NDArray[np.int32] = rows.astype(np.int32)
    value = (inputs.value_fen * inputs.multiplier)[cand]
    reach = np.bincount(cand, weights=inputs.supply[node], minlength=n)
    total = float(inputs.supply.sum())
    bound = inputs.promised + sum(
        extra for extra in (inputs.guaranteed, inputs.campaign_promised) if extra is not None
    )
    lower = np.minimum(bound.astype(np.float64), MAX_PROMISE_SHARE * reach)
    clipped = int(np.count_nonzero(bound > lower + 0.5))
    per_kind = np.bincount(inputs.kind, minlength=len(KINDS))
    fair = reach / np.maximum(per_kind[inputs.kind], 1)
    floor = np.where(inputs.is_new, s.traffic_new_floor_share * fair, 0.0)
    floor = np.minimum(floor, 0.5 * reach)
    lower = np.maximum(lower, floor)
    if lower.sum() > 0.9 * total:
        raise InvalidInput("promises and floors take over 90% of the forecast supply")
    upper = np.maximum(
        np.minimum(s.traffic_cap_share * reach * per_kind[inputs.kind], reach), lower
    )
    upper = np.maximum(np.minimum(upper, reach), lower)
    inputs.notes["promises_clipped"] = clipped
    return (
        Problem(
            supply=inputs.supply.copy(),
            cand=cand,
            node=node,
            value=np.maximum(value, 1e-9),
            lower=lower,
            upper=upper,
        ),
        floor,
    )


def solve(
    inputs: PlanInputs, *, solver: str = "dual", settings: Settings | None = None
) -> BuiltPlan:
    problem, floor = build_problem(inputs, settings)
    if solver == "exact":
        solution = solve_exact(problem)
        solution.temperature = 0.03 * float(np.median(problem.value))
    elif solver == "dual":
        solution = solve_dual(problem)
    else:
        raise InvalidInput(f"unknown solver {solver!r}: use dual or exact")
    return BuiltPlan(inputs, problem, solution, floor)


def store(session: Session, built: BuiltPlan) -> TrafficPlan:
    """Write the plan as a draft (inside the caller's transaction)."""
    inputs, sol = built.inputs, built.solution
    planned = np.rint(sol.per_candidate(built.problem)).astype(np.int64)
    plan = TrafficPlan(
        plan_day=inputs.day,
        status=PlanStatus.DRAFT,
        solver=sol.solver,
        segments=inputs.segments,
        candidates=len(inputs),
        nodes=len(inputs.supply),
        objective_fen=round(sol.objective),
        temperature=float(sol.temperature),
        solve_seconds=float(sol.seconds),
        max_shortfall=float(sol.max_shortfall),
    )
    session.add(plan)
    session.flush()
    potential = sol.cand_potential if len(sol.cand_potential) else np.zeros(len(inputs))
    none = np.zeros(len(inputs), dtype=np.int64)
    campaign_promised = none if inputs.campaign_promised is None else inputs.campaign_promised
    campaign_id = none if inputs.campaign_id is None else inputs.campaign_id
    rows = [
        {
            "plan_id": plan.id,
            "idx": i,
            "kind": KINDS[k],
            "entity_id": e,
            "shop_id": sh or None,
            "value_fen": v,
            "multiplier": mu,
            "potential": ph,
            "planned_impressions": pl,
            "promised_impressions": pr,
            "campaign_id": cid or None,
            "campaign_promised_impressions": cpr,
            "floor_impressions": fl,
            "is_new": nw,
        }
        for i, (k, e, sh, v, mu, ph, pl, pr, cid, cpr, fl, nw) in enumerate(
            zip(
                inputs.kind.tolist(),
                inputs.entity_id.tolist(),
                inputs.shop_id.tolist(),
                inputs.value_fen.tolist(),
                inputs.multiplier.tolist(),
                potential.tolist(),
                planned.tolist(),
                inputs.promised.tolist(),
                campaign_id.tolist(),
                campaign_promised.tolist(),
                np.rint(built.floor).astype(np.int64).tolist(),
                inputs.is_new.tolist(),
                strict=True,
            )
        )
    ]
    for part in chunks(rows, 5_000):
        session.execute(insert(PlanCandidate), part)
    segs = inputs.segments
    node_rows = [
        {
            "plan_id": plan.id,
            "surface": SURFACES[j // (HOURS * segs)],
            "hour": (j // segs) % HOURS,
            "segment": j % segs,
            "supply": round(sup),
            "price": float(price),
        }
        for j, (sup, price) in enumerate(
            zip(inputs.supply.tolist(), sol.node_price.tolist(), strict=True)
        )
    ]
    session.execute(insert(PlanNode), node_rows)
    return plan


def activate(session: Session, plan_id: int) -> TrafficPlan:
    """Switch ``plan_id`` in: the active plan is retired and this draft activated in the
    caller's transaction (one active plan at a time, enforced by a unique index too)."""
    plan = session.get(TrafficPlan, plan_id, with_for_update=True)
    if plan is None:
        raise NotFound(f"traffic plan {plan_id} not found")
    if plan.status is not PlanStatus.DRAFT:
        raise Conflict(f"traffic plan {plan_id} is {plan.status.value}, not a draft")
    session.execute(
        update(TrafficPlan)
        .where(TrafficPlan.status == PlanStatus.ACTIVE)
        .values(status=PlanStatus.RETIRED)
    )
    session.flush()
    plan.status = PlanStatus.ACTIVE
    plan.activated_at = utcnow()
    session.flush()
    return plan


def active_plan(session: Session) -> TrafficPlan | None:
    return session.scalars(
        select(TrafficPlan).where(TrafficPlan.status == PlanStatus.ACTIVE)
    ).first()
