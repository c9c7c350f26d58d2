"""The three scores as SQL: one definition, written for DuckDB and transpiled for Spark.

The query reads the warehouse tables (``orders``, ``order_lines``, ``after_sales``,
``reviews``, ``chats``, ``shops``, ``products``, ``categories``, ``appeals``) and runs in three
steps:

``score_metrics``
    one row per (score kind, entity, sub-metric): defects, opportunities, the category
    benchmark, the raw and the scored (shrunk) rate, its posterior variance and its points;
``entity_scores``
    one row per (score kind, entity): score, 90% interval, sample, status, tier, restriction;
``review_bursts``
    the shop-days of bad reviews held back and still waiting for the platform's verdict.

Everything is computed as of a moment ``as_of`` (epoch seconds): only what had happened by
then counts, so yesterday's scores can be recomputed today. Outcomes settled later (an
arbitration) are taken as known now. All numbers come from :mod:`trustflow.scoring.rules`.

Store and creator scores count paid orders: an order counts once however many lines it holds
and however many of them were reviewed. Product scores count paid lines: an order of two
products counts once for each, with the reviews and after-sales requests of that line.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from trustflow.aftersales.models import AfterSalesKind, DisputeOutcome, ResponsibleParty
from trustflow.scoring import rules
from trustflow.scoring.models import BurstVerdict, DefectKind, ScoreKind, ScoreStatus, Tier
from trustflow.units import DAY, HOUR

# The scoring tables hold aggregates of data already in the warehouse; every literal put into
# this SQL comes from rules.py or is an integer, never from user input.


@dataclass(frozen=True)
class Options:
    """Which protections are on. Scores in production use all of them; the naive variants
    exist to measure what each protection is worth."""

    shrinkage: bool = True
    extend_small: bool = True
    abuse_weights: bool = True
    hold_bursts: bool = True


FULL = Options()
#: Plain rates over the standard windows: what a score without small-sample care would show.
RAW = Options(shrinkage=False, extend_small=False)
NAIVE = Options(shrinkage=False, extend_small=False, abuse_weights=False, hold_bursts=False)

#: How far back orders are read: the longest score window.
ORDER_WINDOW_DAYS = max(d.longest_window_days for d in rules.DEFINITIONS.values())
#: Reviews and after-sales of those orders may come up to this much later.
EVENT_WINDOW_DAYS = ORDER_WINDOW_DAYS + 30
# A buyer's deliveries (for the abuse weights) are counted among the orders read.
assert rules.ABUSE_WINDOW_DAYS <= ORDER_WINDOW_DAYS
#: Weights are added up in whole ten-thousandths (basis points), exactly.
WEIGHT_UNITS = 10_000
#: A shop's usual daily count of bad reviews, for the burst rule, is taken over this many days.
BURST_LOOKBACK_DAYS = 120


def _secs(column: str) -> str:
    return f"CAST(FLOOR(EPOCH({column})) AS BIGINT)"


def _at(seconds: int) -> str:
    """The moment ``seconds`` (epoch seconds) as a timestamp literal, to compare a timestamp
    column with as it is: ``ts < _at(t)`` holds exactly when ``FLOOR(EPOCH(ts)) < t``, without
    converting every row, and lets the reader skip row groups by their min/max statistics."""
    moment = datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
    return f"TIMESTAMPTZ '{moment}+00:00'"


def _in(values: tuple[str, ...] | list[str]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


def _flag(condition: str) -> str:
    return f"CASE WHEN {condition} THEN 1 ELSE 0 END"


def _metric_rows(definition: rules.ScoreDefinition, tally: str) -> list[str]:
    rows = []
    window = "window_days" if definition.extended_windows else str(definition.window_days)
    for metric in definition.metrics:
        # Recency-weighted opportunities are worth fewer independent observations:
        # (sum of weights)^2 / sum of squared weights (Kish's effective sample size).
        opp = metric.opportunities
        effective = f"{opp} * {opp} / NULLIF({opp}_sq, 0)" if definition.half_life_days else opp
        weight, scheme = f"{metric.weight!r}", "''"
        if definition.kind is ScoreKind.STORE and rules.CATEGORY_WEIGHTS:
            own = _in(list(rules.CATEGORY_WEIGHTS))
            scheme = f"CASE WHEN category_code IN {own} THEN category_code ELSE '' END"
            cases = " ".join(
                f"WHEN category_code = '{code}' THEN {weights[metric.name]!r}"
                for code, weights in rules.CATEGORY_WEIGHTS.items()
            )
            weight = f"CASE {cases} ELSE {metric.weight!r} END"
        rows.append(
            f"SELECT '{definition.kind.value}' AS kind, entity_id, category_id,"
            f" '{metric.name}' AS metric, '{metric.dimension}' AS dimension,"
            f" '{metric.record}' AS record,"
            f" CAST({metric.defects} AS DOUBLE) AS defects,"
            f" CAST({metric.opportunities} AS DOUBLE) AS opportunities,"
            f" CAST(COALESCE({effective}, 0) AS DOUBLE) AS effective,"
            " CAST(sample AS BIGINT) AS sample,"
            f" CAST({weight} AS DOUBLE) AS nominal_weight, {scheme} AS scheme,"
            f" CAST({metric.floor!r} AS DOUBLE) AS floor,"
            f" CAST({window} AS BIGINT) AS window_days FROM {tally}"
        )
    return rows


def _weight_table() -> str:
    """Every published weight in :data:`WEIGHT_UNITS` (kind, scheme, metric, units, record),
    one row each; the scheme is a category code with weights of its own, else empty. Whole
    units sum exactly, in whatever order the engine adds them: the same scores every run."""
    rows = []
    for d in rules.DEFINITIONS.values():
        schemes: dict[str, dict[str, float]] = {"": {m.name: m.weight for m in d.metrics}}
        if d.kind is ScoreKind.STORE:
            schemes |= rules.CATEGORY_WEIGHTS
        for scheme, weights in schemes.items():
            rows += [
                f"SELECT '{d.kind.value}' AS kind, '{scheme}' AS scheme, '{m.name}' AS metric,"
                f" {round(weights[m.name] * WEIGHT_UNITS)} AS units, '{m.record}' AS record"
                for m in d.metrics
            ]
    return "\n    UNION ALL ".join(rows)


def statements(as_of: int, options: Options = FULL) -> list[tuple[str, str]]:
    """``(name, select)`` pairs, to be materialised in order under those names."""
    t = int(as_of)
    store, product, creator = rules.STORE, rules.PRODUCT, rules.CREATOR
    merchant = ResponsibleParty.MERCHANT.value
    quality = _in([r.value for r in rules.QUALITY_REASONS])
    logistics = _in([r.value for r in rules.LOGISTICS_REASONS])
    goods_parties = _in([p.value for p in rules.QUALITY_PARTIES[ScoreKind.CREATOR]])
    counted = (
        "a.status <> 'withdrawn'"
        f" AND COALESCE(a.dispute_outcome, '') <> '{DisputeOutcome.MERCHANT_WON.value}'"
    )
    event_from = t - EVENT_WINDOW_DAYS * DAY
    burst_days = BURST_LOOKBACK_DAYS - 1
    buyer_weight = "COALESCE(bw.weight, 1.0)" if options.abuse_weights else "1.0"
    held = "(bu.shop_id IS NOT NULL AND r.stars <= {bad})" if options.hold_bursts else "FALSE"
    held = held.format(bad=rules.BAD_REVIEW_MAX_STARS)
    # A store's windows, shortest first; a small store reaches back to the first that holds
    # min_sample orders (else the longest). Its orders fall in age bands, one per window.
    windows = (
        (store.window_days, *store.extended_windows)
        if options.extend_small
        else (store.window_days,)
    )
    band = (
        "CASE "
        + " ".join(f"WHEN age_s < {w * DAY} THEN {i}" for i, w in enumerate(windows[:-1]))
        + f" ELSE {len(windows) - 1} END"
        if len(windows) > 1
        else "0"
    )
    reach = (
        "CASE "
        + " ".join(
            f"WHEN SUM(CASE WHEN band <= {i} THEN sample ELSE 0 END) >= {store.min_sample} THEN {i}"
            for i in range(len(windows) - 1)
        )
        + f" ELSE {len(windows) - 1} END"
        if len(windows) > 1
        else "0"
    )
    window_of = (
        "CASE "
        + " ".join(f"WHEN w.reach = {i} THEN {days}" for i, days in enumerate(windows))
        + " END"
    )
    # Orders of the standard window count fully; older ones (only a small store's extended
    # window reaches them) halve every half-life.
    store_hl = (store.half_life_days or float(store.window_days)) * DAY
    store_recency = (
        f"CASE WHEN {{age}} < {store.window_days * DAY} THEN 1.0"
        f" ELSE POWER(0.5, ({{age}} - {store.window_days * DAY}) / {store_hl!r}) END"
    )
    half_life = creator.half_life_days or float(creator.window_days)
    # An order cancelled before its pick-up promise was never due; one cancelled after it
    # (or after t) was, so cancelling a late order does not hide the late pick-up. The same
    # for the delivery promise.
    not_cancelled_in_time = "(b.cancelled_s IS NULL OR b.cancelled_s > b.ship_by_s)"
    delivery_due = (
        f"b.deliver_by_s < {t} AND (b.cancelled_s IS NULL OR b.cancelled_s > b.deliver_by_s)"
    )
    # Only what was known at t: a chat answered (by t) too slowly, or unanswered at t and
    # already past the limit; a request handled too late, or unhandled at t and already late;
    # a parcel delivered after its promise, or still not delivered when the promise passed.
    message_s = _secs("c.first_message_at")
    slow_chat = _flag(
        f"CASE WHEN {message_s} + c.first_response_seconds < {t}"
        f" THEN c.first_response_seconds > {rules.SLOW_CHAT_SECONDS}"
        f" ELSE {t} - {message_s} > {rules.SLOW_CHAT_SECONDS} END"
    )
    slow_handling = _flag(
        f"LEAST(COALESCE(a.handled_s, {t}), {t}) - a.at_s > {rules.SLOW_HANDLING_HOURS * HOUR}"
    )
    recency = f"POWER(0.5, age_s / {half_life * DAY!r})"
    # an order's (or a line's) reviews: reviewed if one counts, bad if a counted one is bad
    review_flags = (
        "MAX(CASE WHEN held = 0 THEN 1 ELSE 0 END) AS reviewed,"
        f" MAX(CASE WHEN held = 0 AND stars <= {rules.BAD_REVIEW_MAX_STARS} THEN 1 ELSE 0 END)"
        " AS bad_review,"
        " MAX(held) AS held_review"
    )
    store_sums = ",\n           ".join(
        f"SUM({flag} * rw) AS {name}"
        for flag, name in (
            ("reviewed", "reviews"),
            ("bad_review * bw", "bad_reviews"),
            ("delivered", "delivered"),
            ("merchant_quality * bw", "quality_refunds"),
            ("pickup_due", "pickups"),
            ("late_pickup", "late_pickups"),
            ("delivery_due", "deliveries_due"),
            ("late_delivery", "late_deliveries"),
            ("logistics_complaint * bw", "logistics_complaints"),
            ("dispute_lost", "disputes_lost"),
        )
    )
    store_opportunities = ("reviews", "delivered", "pickups", "deliveries_due")
    store_sq = ",\n           ".join(
        f"SUM({flag} * rw * rw) AS {name}_sq"
        for flag, name in (
            ("reviewed", "reviews"),
            ("delivered", "delivered"),
            ("pickup_due", "pickups"),
            ("delivery_due", "deliveries_due"),
        )
    )
    store_columns = (
        *store_opportunities,
        "bad_reviews",
        "quality_refunds",
        "late_pickups",
        "late_deliveries",
        "logistics_complaints",
        "disputes_lost",
        "held_reviews",
        *(f"{c}_sq" for c in store_opportunities),
    )
    store_totals = ",\n           ".join(f"SUM(o.{c}) AS {c}" for c in store_columns)

    metrics = "\nUNION ALL\n".join(
        _metric_rows(store, "store_tally")
        + _metric_rows(product, "product_tally")
        + _metric_rows(creator, "creator_tally")
    )
    if options.shrinkage:
        rate = "(defects + prior_strength * prior) / (opportunities + prior_strength)"
        mass = "opportunities + prior_strength"
    else:
        rate = "CASE WHEN opportunities > 0 THEN defects / opportunities ELSE benchmark END"
        mass = "GREATEST(opportunities, 1.0)"
    k = rules.BENCHMARK_PRIOR_ENTITIES

    review_ctes = f"""
rv AS (
    SELECT r.id, r.order_id, r.line_id, r.buyer_id, r.shop_id, r.stars,
           {_secs("r.created_at")} AS at_s
    FROM reviews r
    LEFT JOIN appeals ap ON ap.defect_kind = '{DefectKind.REVIEW.value}' AND ap.defect_id = r.id
    WHERE ap.defect_id IS NULL
      AND r.created_at < {_at(t)} AND r.created_at >= {_at(event_from)}
),
bad_days AS (
    SELECT shop_id, CAST(FLOOR(at_s / {DAY}) AS BIGINT) AS day, COUNT(*) AS k
    FROM rv WHERE stars <= {rules.BAD_REVIEW_MAX_STARS}
      AND at_s >= {t - BURST_LOOKBACK_DAYS * DAY}
    GROUP BY shop_id, CAST(FLOOR(at_s / {DAY}) AS BIGINT)
),
flagged AS (
    -- days the burst rule flags
    SELECT shop_id, day, k FROM (
        SELECT shop_id, day, k, SUM(k) OVER (PARTITION BY shop_id) AS total FROM bad_days
    ) x
    WHERE k >= {rules.BURST_MIN_BAD_REVIEWS}
      AND k > {rules.BURST_FACTOR!r} * ((total - k) / {burst_days}.0 + 1)
),
bursts AS (
    -- days held back: flagged and not confirmed genuine, or dismissed as an attack
    SELECT f.shop_id, f.day FROM flagged f
    LEFT JOIN burst_decisions d ON d.shop_id = f.shop_id AND d.epoch_day = f.day
    WHERE d.verdict IS NULL OR d.verdict <> '{BurstVerdict.CONFIRMED.value}'
    UNION
    SELECT shop_id, epoch_day AS day FROM burst_decisions
    WHERE verdict = '{BurstVerdict.DISMISSED.value}'
),"""

    score_metrics = f"""
WITH
base AS (
    SELECT o.id AS order_id, o.buyer_id, o.shop_id, o.creator_id,
           {t} - {_secs("o.paid_at")} AS age_s,
           {_secs("o.paid_at")} AS paid_s,
           {_secs("o.ship_by")} AS ship_by_s,
           COALESCE({_secs("o.deliver_by")},
                    {_secs("o.paid_at")} + {rules.DEFAULT_DELIVERY_HOURS * HOUR}) AS deliver_by_s,
           {_secs("o.picked_up_at")} AS picked_s,
           {_secs("o.delivered_at")} AS delivered_s,
           {_secs("o.cancelled_at")} AS cancelled_s
    FROM orders o
    WHERE o.paid_at < {_at(t)} AND o.paid_at >= {_at(t - ORDER_WINDOW_DAYS * DAY)}
),
{review_ctes}
reviewed AS (
    SELECT r.order_id, r.line_id, r.stars,
           CASE WHEN {held} THEN 1 ELSE 0 END AS held
    FROM rv r
    LEFT JOIN bursts bu ON bu.shop_id = r.shop_id
        AND bu.day = CAST(FLOOR(r.at_s / {DAY}) AS BIGINT)
),
order_reviews AS (
    -- an order of several lines may have a review per line: it counts once for its shop
    SELECT order_id, {review_flags} FROM reviewed GROUP BY order_id
),
line_reviews AS (
    -- one review per line: its flags as they are
    SELECT line_id,
           CASE WHEN held = 0 THEN 1 ELSE 0 END AS reviewed,
           CASE WHEN held = 0 AND stars <= {rules.BAD_REVIEW_MAX_STARS} THEN 1 ELSE 0 END
               AS bad_review,
           held AS held_review
    FROM reviewed
),
asr AS (
    SELECT a.id, a.order_id, a.line_id,
           a.shop_id, a.buyer_id, a.kind, a.reason,
           a.responsible_party AS responsible, a.dispute_outcome AS outcome,
           {_flag(counted)} AS counted,
           {_secs("a.created_at")} AS at_s,
           {_secs("a.handled_at")} AS handled_s
    FROM after_sales a
    LEFT JOIN appeals ap
        ON ap.defect_kind = '{DefectKind.AFTER_SALES.value}' AND ap.defect_id = a.id
    WHERE ap.defect_id IS NULL
      AND a.created_at < {_at(t)} AND a.created_at >= {_at(event_from)}
),
complaints AS (
    SELECT buyer_id, SUM(n) AS complaints FROM (
        SELECT buyer_id, COUNT(*) AS n FROM rv
        WHERE stars <= {rules.BAD_REVIEW_MAX_STARS} AND at_s >= {t - rules.ABUSE_WINDOW_DAYS * DAY}
        GROUP BY buyer_id
        UNION ALL
        SELECT buyer_id, COUNT(*) AS n FROM asr
        WHERE kind = '{AfterSalesKind.REFUND_ONLY.value}' AND counted = 1
          AND at_s >= {t - rules.ABUSE_WINDOW_DAYS * DAY}
        GROUP BY buyer_id
    ) u GROUP BY buyer_id
),
deliveries AS (
    -- Only buyers who complained at all can be abnormal.
    SELECT b.buyer_id, COUNT(*) AS delivered
    FROM base b JOIN complaints c ON c.buyer_id = b.buyer_id
    WHERE b.delivered_s < {t} AND b.paid_s >= {t - rules.ABUSE_WINDOW_DAYS * DAY}
    GROUP BY b.buyer_id
),
platform AS (
    SELECT CAST(SUM(c.complaints) AS DOUBLE)
           / GREATEST((SELECT COUNT(*) FROM base
                       WHERE delivered_s < {t}
                         AND paid_s >= {t - rules.ABUSE_WINDOW_DAYS * DAY}), 1)
               AS rate
    FROM complaints c
),
buyer_weights AS (
    SELECT c.buyer_id,
           CASE WHEN c.complaints <= pl.rate * COALESCE(d.delivered, 0) + {rules.ABUSE_ALLOWANCE!r}
                THEN 1.0
                ELSE (pl.rate * COALESCE(d.delivered, 0) + {rules.ABUSE_ALLOWANCE!r})
                     / c.complaints
           END AS weight
    FROM complaints c
    CROSS JOIN platform pl
    LEFT JOIN deliveries d ON d.buyer_id = c.buyer_id
),
by_order AS (
    SELECT a.order_id,
        MAX({_flag(f"a.counted = 1 AND a.reason IN {quality} AND a.responsible = '{merchant}'")})
            AS merchant_quality,
        MAX({
        _flag(f"a.counted = 1 AND a.reason IN {quality} AND a.responsible IN {goods_parties}")
    })
            AS goods_quality,
        MAX({
        _flag("a.counted = 1 AND a.reason = 'not_as_described' AND a.responsible = 'creator'")
    })
            AS content_complaint,
        MAX({_flag(f"a.counted = 1 AND a.reason IN {logistics} AND a.responsible = '{merchant}'")})
            AS logistics_complaint,
        MAX({_flag(f"a.outcome = 'buyer_won' AND a.responsible = '{merchant}'")}) AS dispute_lost
    FROM asr a GROUP BY a.order_id
),
by_line AS (
    SELECT a.line_id,
        MAX({_flag(f"a.counted = 1 AND a.reason IN {quality} AND a.responsible = '{merchant}'")})
            AS merchant_quality,
        MAX({_flag(f"a.outcome = 'buyer_won' AND a.responsible = '{merchant}'")}) AS dispute_lost
    FROM asr a WHERE a.line_id IS NOT NULL GROUP BY a.line_id
),
order_events AS (
    -- an order's reviews and requests side by side, to be looked up once per order
    SELECT COALESCE(r.order_id, x.order_id) AS order_id,
           r.reviewed, r.bad_review, r.held_review,
           x.merchant_quality, x.goods_quality, x.content_complaint, x.logistics_complaint,
           x.dispute_lost
    FROM order_reviews r FULL JOIN by_order x ON x.order_id = r.order_id
),
line_events AS (
    -- a line's review and requests side by side, to be looked up once per line
    SELECT COALESCE(r.line_id, y.line_id) AS line_id,
           r.reviewed, r.bad_review, r.held_review, y.merchant_quality, y.dispute_lost
    FROM line_reviews r FULL JOIN by_line y ON y.line_id = r.line_id
),
facts AS (
    -- one row per paid order
    SELECT b.order_id, b.shop_id, b.creator_id, b.age_s,
           {band.replace("age_s", "b.age_s")} AS band,
           {store_recency.format(age="b.age_s")} AS rw,
           {buyer_weight} AS bw,
           COALESCE(e.reviewed, 0) AS reviewed,
           COALESCE(e.bad_review, 0) AS bad_review,
           COALESCE(e.held_review, 0) AS held_review,
           {_flag(f"b.delivered_s < {t}")} AS delivered,
           {_flag(f"b.ship_by_s < {t} AND {not_cancelled_in_time}")} AS pickup_due,
           {
        _flag(
            f"b.ship_by_s < {t} AND {not_cancelled_in_time}"
            " AND (b.picked_s IS NULL OR b.picked_s > b.ship_by_s)"
        )
    } AS late_pickup,
           {_flag(delivery_due)} AS delivery_due,
           {
        _flag(f"{delivery_due} AND (b.delivered_s IS NULL OR b.delivered_s > b.deliver_by_s)")
    } AS late_delivery,
           COALESCE(e.merchant_quality, 0) AS merchant_quality,
           COALESCE(e.goods_quality, 0) AS goods_quality,
           COALESCE(e.content_complaint, 0) AS content_complaint,
           COALESCE(e.logistics_complaint, 0) AS logistics_complaint,
           COALESCE(e.dispute_lost, 0) AS dispute_lost
    FROM base b
    LEFT JOIN order_events e ON e.order_id = b.order_id
    LEFT JOIN buyer_weights bw ON bw.buyer_id = b.buyer_id
),
shop_orders_by_age AS (
    SELECT shop_id, band,
           COUNT(*) AS sample,
           {store_sums},
           {store_sq},
           SUM(held_review) AS held_reviews
    FROM facts WHERE age_s < {windows[-1] * DAY}
    GROUP BY shop_id, band
),
shop_windows AS (
    SELECT shop_id, {reach} AS reach
    FROM shop_orders_by_age GROUP BY shop_id
),
lines AS (
    -- one row per line of a paid order that a product's window or its shop's counts, with
    -- its product's category
    SELECT l.id AS line_id, l.product_id, p.category_id, f.shop_id, f.band, f.age_s, f.bw,
           f.delivered
    FROM facts f
    JOIN shop_windows w ON w.shop_id = f.shop_id
    JOIN order_lines l ON l.order_id = f.order_id
    JOIN products p ON p.id = l.product_id
    WHERE f.age_s < {product.window_days * DAY}
       OR (f.band <= w.reach AND f.age_s < {windows[-1] * DAY})
),
line_facts AS (
    -- a line of the product score's window: what a product's score counts
    SELECT l.product_id, l.category_id, l.age_s, l.bw, l.delivered,
           COALESCE(e.reviewed, 0) AS reviewed,
           COALESCE(e.bad_review, 0) AS bad_review,
           COALESCE(e.held_review, 0) AS held_review,
           COALESCE(e.merchant_quality, 0) AS merchant_quality,
           COALESCE(e.dispute_lost, 0) AS dispute_lost
    FROM lines l
    LEFT JOIN line_events e ON e.line_id = l.line_id
    WHERE l.age_s < {product.window_days * DAY}
),
shop_orders AS (
    SELECT o.shop_id AS entity_id, MAX(s.category_id) AS category_id,
           MAX(c.code) AS category_code,
           MAX({window_of}) AS window_days,
           SUM(o.sample) AS sample,
           {store_totals}
    FROM shop_orders_by_age o
    JOIN shop_windows w ON w.shop_id = o.shop_id
    JOIN shops s ON s.id = o.shop_id
    JOIN categories c ON c.id = s.category_id
    WHERE o.band <= w.reach
    GROUP BY o.shop_id
),
shop_mix AS (
    -- the categories a shop sells in, by its order lines in its window
    SELECT l.shop_id AS entity_id, l.category_id, COUNT(*) AS n
    FROM lines l JOIN shop_windows w ON w.shop_id = l.shop_id
    WHERE l.band <= w.reach AND l.age_s < {windows[-1] * DAY}
    GROUP BY l.shop_id, l.category_id
),
buyer_chats AS (
    -- one buyer, one voice: of a buyer's chats with a shop, only the first in its window
    SELECT c.shop_id, c.buyer_id, c.first_message_at, c.first_response_seconds,
           {t} - {message_s} AS age_s,
           ROW_NUMBER() OVER (PARTITION BY c.shop_id, c.buyer_id
                              ORDER BY c.first_message_at, c.id) AS nth
    FROM chats c
    JOIN shop_orders so ON so.entity_id = c.shop_id
    WHERE c.first_message_at < {_at(t)}
      AND c.first_message_at >= {_at(t - windows[-1] * DAY)}
      AND {message_s} >= {t} - so.window_days * {DAY}
),
customers AS (
    -- and only customers' chats: buyers who paid the shop for an order of the order window
    SELECT DISTINCT b.shop_id, b.buyer_id
    FROM base b
    JOIN buyer_chats c ON c.shop_id = b.shop_id AND c.buyer_id = b.buyer_id AND c.nth = 1
),
customer_chats AS (
    SELECT c.* FROM buyer_chats c
    JOIN customers cu ON cu.shop_id = c.shop_id AND cu.buyer_id = c.buyer_id
    WHERE c.nth = 1
),
shop_chats AS (
    SELECT c.shop_id, SUM({store_recency.format(age="c.age_s")}) AS chats,
           SUM(POWER({store_recency.format(age="c.age_s")}, 2)) AS chats_sq,
           SUM({slow_chat} * {store_recency.format(age="c.age_s")}) AS slow_chats
    FROM customer_chats c
    GROUP BY c.shop_id
),
shop_requests AS (
    SELECT a.shop_id, SUM({store_recency.format(age=f"({t} - a.at_s)")}) AS requests,
           SUM(POWER({store_recency.format(age=f"({t} - a.at_s)")}, 2)) AS requests_sq,
           SUM({slow_handling} * {store_recency.format(age=f"({t} - a.at_s)")}) AS slow_handlings
    FROM asr a JOIN shop_orders so ON so.entity_id = a.shop_id
    WHERE a.at_s >= {t} - so.window_days * {DAY}
    GROUP BY a.shop_id
),
store_tally AS (
    SELECT o.*, COALESCE(ch.chats, 0) AS chats, COALESCE(ch.chats_sq, 0) AS chats_sq,
           COALESCE(ch.slow_chats, 0) AS slow_chats,
           COALESCE(rq.requests, 0) AS requests, COALESCE(rq.requests_sq, 0) AS requests_sq,
           COALESCE(rq.slow_handlings, 0) AS slow_handlings
    FROM shop_orders o
    LEFT JOIN shop_chats ch ON ch.shop_id = o.entity_id
    LEFT JOIN shop_requests rq ON rq.shop_id = o.entity_id
),
product_orders AS (
    SELECT product_id, MAX(category_id) AS category_id,
           COUNT(*) AS sample,
           SUM(reviewed) AS reviews,
           SUM(bad_review * bw) AS bad_reviews,
           SUM(held_review) AS held_reviews,
           SUM(delivered) AS delivered,
           SUM(merchant_quality * bw) AS quality_refunds,
           SUM(dispute_lost) AS complaints
    FROM line_facts
    GROUP BY product_id
),
product_tally AS (
    SELECT o.product_id AS entity_id, o.category_id, o.sample, o.reviews, o.bad_reviews,
           o.held_reviews, o.delivered, o.quality_refunds, o.complaints
    FROM product_orders o
),
creator_tally AS (
    SELECT creator_id AS entity_id, 0 AS category_id,
           COUNT(*) AS sample,
           SUM(reviewed * {recency}) AS reviews,
           SUM(reviewed * {recency} * {recency}) AS reviews_sq,
           SUM(bad_review * bw * {recency}) AS bad_reviews,
           SUM(held_review) AS held_reviews,
           SUM(delivered * {recency}) AS delivered,
           SUM(delivered * {recency} * {recency}) AS delivered_sq,
           SUM(goods_quality * bw * {recency}) AS goods_refunds,
           SUM(content_complaint * bw * {recency}) AS content_complaints
    FROM facts WHERE creator_id IS NOT NULL AND age_s < {creator.window_days * DAY}
    GROUP BY creator_id
),
held AS (
    SELECT '{ScoreKind.STORE.value}' AS kind, entity_id, held_reviews FROM store_tally
    UNION ALL
    SELECT '{ScoreKind.PRODUCT.value}' AS kind, entity_id, held_reviews FROM product_tally
    UNION ALL
    SELECT '{ScoreKind.CREATOR.value}' AS kind, entity_id, held_reviews FROM creator_tally
),
m AS (
{metrics}
),
records AS (
    -- how much of each kind of record the history holds in the window
    SELECT 'reviews' AS record, COUNT(*) AS n FROM rv
    UNION ALL SELECT 'after_sales' AS record, COUNT(*) AS n FROM asr
    UNION ALL SELECT 'arbitrations' AS record, COUNT(outcome) AS n FROM asr
    UNION ALL SELECT 'pickups' AS record, COUNT(picked_s) AS n FROM base
    UNION ALL SELECT 'deliveries' AS record, COUNT(delivered_s) AS n FROM base
    UNION ALL SELECT 'chats' AS record, COUNT(*) AS n FROM customer_chats
),
mix AS (
    -- a store's share of each category it is benchmarked in, by the categories of its order
    -- lines (a product is benchmarked in its own, a creator among all creators: category 0)
    SELECT x.entity_id, x.category_id,
           CAST(x.n AS DOUBLE) / SUM(x.n) OVER (PARTITION BY x.entity_id) AS share
    FROM shop_mix x
),
parents AS (
    -- a category's parent; a top category (or the creators' 0) is its own
    SELECT id AS category_id, COALESCE(parent_id, id) AS parent_id FROM categories
    UNION ALL SELECT 0 AS category_id, 0 AS parent_id
),
mixed AS (
    SELECT m.kind, m.entity_id, m.metric, x.category_id, pa.parent_id, x.share,
           m.defects, m.opportunities,
           CASE WHEN m.opportunities > 0 THEN m.defects / m.opportunities END AS raw_rate
    FROM m
    JOIN mix x ON x.entity_id = m.entity_id
    JOIN parents pa ON pa.category_id = x.category_id
    WHERE m.kind = '{ScoreKind.STORE.value}'
    UNION ALL
    SELECT m.kind, m.entity_id, m.metric, m.category_id, pa.parent_id, 1.0 AS share,
           m.defects, m.opportunities,
           CASE WHEN m.opportunities > 0 THEN m.defects / m.opportunities END AS raw_rate
    FROM m
    JOIN parents pa ON pa.category_id = m.category_id
    WHERE m.kind <> '{ScoreKind.STORE.value}'
),
by_category AS (
    -- per level: pooled defects and opportunities, how many entities had opportunities,
    -- and the sum of their rates (for the average entity), each entity by its share
    SELECT kind, metric, category_id, MAX(parent_id) AS parent_id,
           SUM(share * defects) AS d, SUM(share * opportunities) AS o,
           SUM(CASE WHEN opportunities > 0 THEN share ELSE 0 END) AS n,
           SUM(CASE WHEN opportunities > 0 THEN share * raw_rate ELSE 0 END) AS r
    FROM mixed GROUP BY kind, metric, category_id
),
by_parent AS (
    SELECT kind, metric, parent_id, SUM(d) AS d, SUM(o) AS o, SUM(n) AS n, SUM(r) AS r
    FROM by_category GROUP BY kind, metric, parent_id
),
by_kind AS (
    SELECT kind, metric,
           COALESCE(SUM(d) / NULLIF(SUM(o), 0), 0.0) AS benchmark,
           COALESCE(SUM(r) / NULLIF(SUM(n), 0), SUM(d) / NULLIF(SUM(o), 0), 0.0) AS prior
    FROM by_parent GROUP BY kind, metric
),
parent_levels AS (
    -- a parent pools its subtree, shrunk toward all entities of the kind
    SELECT p.kind, p.metric, p.parent_id,
           (COALESCE(p.n * p.d / NULLIF(p.o, 0), 0.0) + {k!r} * a.benchmark) / (p.n + {k!r})
               AS benchmark,
           (p.r + {k!r} * a.prior) / (p.n + {k!r}) AS prior
    FROM by_parent p JOIN by_kind a ON a.kind = p.kind AND a.metric = p.metric
),
category_levels AS (
    -- a category, shrunk toward its parent: a thin one is mostly its parent
    SELECT c.kind, c.metric, c.category_id,
           (COALESCE(c.n * c.d / NULLIF(c.o, 0), 0.0) + {k!r} * p.benchmark) / (c.n + {k!r})
               AS benchmark,
           (c.r + {k!r} * p.prior) / (c.n + {k!r}) AS prior
    FROM by_category c
    JOIN parent_levels p ON p.kind = c.kind AND p.metric = c.metric
        AND p.parent_id = c.parent_id
),
entity_levels AS (
    -- an entity's benchmark and prior: a store's categories' mixed by its shares, a product's
    -- or a creator's own category's
    SELECT x.kind, x.entity_id, x.metric,
           SUM(x.share * cl.benchmark) AS benchmark, SUM(x.share * cl.prior) AS prior
    FROM mixed x
    JOIN category_levels cl ON cl.kind = x.kind AND cl.metric = x.metric
        AND cl.category_id = x.category_id
    WHERE x.kind = '{ScoreKind.STORE.value}'
    GROUP BY x.kind, x.entity_id, x.metric
    UNION ALL
    SELECT x.kind, x.entity_id, x.metric, cl.benchmark, cl.prior
    FROM mixed x
    JOIN category_levels cl ON cl.kind = x.kind AND cl.metric = x.metric
        AND cl.category_id = x.category_id
    WHERE x.kind <> '{ScoreKind.STORE.value}'
),
weights AS (
{_weight_table()}
),
weight_totals AS (
    -- the published weights of the recorded metrics, per kind and scheme
    SELECT w.kind, w.scheme, SUM(CASE WHEN rc.n > 0 THEN w.units ELSE 0 END) AS total
    FROM weights w JOIN records rc ON rc.record = w.record
    GROUP BY w.kind, w.scheme
),
dispersion AS (
    -- Method of moments for the beta-binomial: how much of the spread between entities'
    -- rates is real rather than chance (the intra-class correlation rho). An entity of n
    -- opportunities around a prior mean mu has E[n (rate - mu)^2] = mu (1 - mu)
    -- (1 + (n - 1) rho). The prior strength is 1/rho - 1: little real spread, strong
    -- shrinkage.
    SELECT m.kind, m.metric,
           SUM(m.effective * POWER(m.defects / m.opportunities - e.prior, 2)
               - e.prior * (1 - e.prior))
           / NULLIF(SUM((m.effective - 1) * e.prior * (1 - e.prior)), 0) AS rho
    FROM m JOIN entity_levels e
        ON e.kind = m.kind AND e.entity_id = m.entity_id AND e.metric = m.metric
    WHERE m.opportunities > 0
    GROUP BY m.kind, m.metric
),
priors AS (
    SELECT kind, metric,
           CASE WHEN rho IS NULL OR rho <= {1.0 / (rules.PRIOR_STRENGTH_MAX + 1)!r}
                THEN {rules.PRIOR_STRENGTH_MAX!r}
                ELSE GREATEST({rules.PRIOR_STRENGTH_MIN!r}, 1.0 / rho - 1.0) END
               AS prior_strength
    FROM dispersion
),
shrunk AS (
    SELECT m.kind, m.entity_id, m.category_id, m.metric, m.dimension, m.defects,
           m.opportunities, m.sample, m.window_days,
           -- a metric is recorded when the history holds what it is read from at all (a
           -- history without chats or arbitrations says nothing about them): the weights are
           -- those of the recorded metrics, scaled up to sum to one
           CASE WHEN rc.n > 0 THEN m.nominal_weight * {WEIGHT_UNITS}.0 / NULLIF(wt.total, 0)
                ELSE 0.0 END
               AS weight,
           -- and known for an entity that had opportunities for it
           {_flag("m.opportunities > 0 AND rc.n > 0")} AS observed,
           e.benchmark, GREATEST(m.floor, e.benchmark) AS scale, e.prior,
           COALESCE(pr.prior_strength, {rules.PRIOR_STRENGTH_MAX!r}) AS prior_strength,
           CASE WHEN m.opportunities > 0 THEN m.defects / m.opportunities END AS raw_rate
    FROM m JOIN entity_levels e
        ON e.kind = m.kind AND e.entity_id = m.entity_id AND e.metric = m.metric
    JOIN records rc ON rc.record = m.record
    JOIN weight_totals wt ON wt.kind = m.kind AND wt.scheme = m.scheme
    LEFT JOIN priors pr ON pr.kind = m.kind AND pr.metric = m.metric
),
rated AS (
    SELECT shrunk.*, {rate} AS rate, {mass} AS mass FROM shrunk
)
SELECT s.kind, s.entity_id, s.category_id, s.metric, s.dimension, s.defects, s.opportunities,
       s.sample, s.window_days, s.prior_strength, COALESCE(s.weight, 0.0) AS weight,
       s.observed,
       s.benchmark, s.scale, s.raw_rate, s.rate,
       s.rate * (1 - s.rate) / (s.mass + 1) AS variance,
       -- no data is not perfect: without opportunities, the rate is the prior's, the
       -- category's typical entity, and so are the points
       GREATEST(0.0, LEAST(100.0,
           100.0 - {rules.POINTS_PER_BENCHMARK!r} * s.rate / s.scale)) AS points,
       {
        _flag(
            f"s.defects >= {rules.PENALTY_MIN_DEFECTS!r}"
            f" AND s.raw_rate >= {rules.PENALTY_RATE_MULTIPLE!r} * s.scale"
        )
    } AS breach,
       CAST(COALESCE(h.held_reviews, 0) AS BIGINT) AS held_reviews
FROM rated s
LEFT JOIN held h ON h.kind = s.kind AND h.entity_id = s.entity_id
"""

    tiers = " ".join(
        f"WHEN score >= {lowest!r} THEN '{tier.value}'" for tier, lowest in rules.TIERS
    )
    min_sample = " ".join(
        f"WHEN kind = '{d.kind.value}' THEN {d.min_sample}" for d in rules.DEFINITIONS.values()
    )
    z = rules.INTERVAL_Z
    per_point = f"{rules.POINTS_PER_BENCHMARK!r} / scale"
    entity_scores = f"""
WITH agg AS (
    -- the interval counts each metric's posterior spread; a metric without data has the
    -- spread of its prior, the category's entities: what is not known yet
    SELECT kind, entity_id, MAX(sample) AS sample, MAX(window_days) AS window_days,
           SUM(weight * points) AS score,
           SQRT(SUM(POWER(weight * {per_point}, 2) * variance)) AS sd,
           SUM(observed * weight) AS observed_share,
           MAX(breach) AS breach,
           MAX(held_reviews) AS held_reviews
    FROM score_metrics GROUP BY kind, entity_id
),
graded AS (
    SELECT agg.*,
           CASE WHEN sample < (CASE {min_sample} END)
                THEN '{ScoreStatus.PROVISIONAL.value}' ELSE '{ScoreStatus.SCORED.value}' END
               AS status,
           CASE {tiers} ELSE '{Tier.LOW.value}' END AS tier
    FROM agg
    WHERE observed_share >= {rules.MIN_OBSERVED_WEIGHT - 1e-9!r}
)
SELECT kind, entity_id, score,
       GREATEST(0.0, score - {z!r} * sd) AS lower,
       LEAST(100.0, score + {z!r} * sd) AS upper,
       sample, window_days, observed_share, status, tier,
       {
        _flag(f"tier = '{Tier.LOW.value}' AND status = '{ScoreStatus.SCORED.value}' AND breach = 1")
    } AS restricted,
       held_reviews
FROM graded
"""
    pending_bursts = f"""
WITH
{review_ctes.rstrip().rstrip(",")}
SELECT f.shop_id, f.day AS epoch_day, f.k AS bad_reviews
FROM flagged f
LEFT JOIN burst_decisions d ON d.shop_id = f.shop_id AND d.epoch_day = f.day
WHERE d.verdict IS NULL
"""
    return [
        ("score_metrics", score_metrics),
        ("entity_scores", entity_scores),
        ("review_bursts", pending_bursts),
    ]
