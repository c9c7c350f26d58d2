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
ORDER_WINDOW_DAYS = max(
    max(d.window_days, d.extended_window_days or 0) for d in rules.DEFINITIONS.values()
)
#: Reviews and after-sales of those orders may come up to this much later.
EVENT_WINDOW_DAYS = ORDER_WINDOW_DAYS + 30


def _secs(column: str) -> str:
    return f"CAST(FLOOR(EPOCH({column})) AS BIGINT)"


def _in(values: tuple[str, ...] | list[str]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


def _flag(condition: str) -> str:
    return f"CASE WHEN {condition} THEN 1 ELSE 0 END"


def _metric_rows(definition: rules.ScoreDefinition, tally: str) -> list[str]:
    rows = []
    extended = "extended" if definition.extended_window_days else "0"
    for metric in definition.metrics:
        # Recency-weighted opportunities are worth fewer independent observations:
        # (sum of weights)^2 / sum of squared weights (Kish's effective sample size).
        opp = metric.opportunities
        effective = f"{opp} * {opp} / NULLIF({opp}_sq, 0)" if definition.half_life_days else opp
        weight = f"{metric.weight!r}"
        if definition.kind is ScoreKind.STORE and rules.CATEGORY_WEIGHTS:
            cases = " ".join(
                f"WHEN category_code = '{code}' THEN {weights[metric.name]!r}"
                for code, weights in rules.CATEGORY_WEIGHTS.items()
            )
            weight = f"CASE {cases} ELSE {metric.weight!r} END"
        rows.append(
            f"SELECT '{definition.kind.value}' AS kind, entity_id, category_id,"
            f" '{metric.name}' AS metric, '{metric.dimension}' AS dimension,"
            f" CAST({metric.defects} AS DOUBLE) AS defects,"
            f" CAST({metric.opportunities} AS DOUBLE) AS opportunities,"
            f" CAST({effective} AS DOUBLE) AS effective,"
            " CAST(sample AS BIGINT) AS sample,"
            f" CAST({weight} AS DOUBLE) AS weight,"
            f" CAST({metric.floor!r} AS DOUBLE) AS floor, {extended} AS extended FROM {tally}"
        )
    return rows


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
    burst_days = EVENT_WINDOW_DAYS - 1
    buyer_weight = "COALESCE(bw.weight, 1.0)" if options.abuse_weights else "1.0"
    held = "(bu.shop_id IS NOT NULL AND r.stars <= {bad})" if options.hold_bursts else "FALSE"
    held = held.format(bad=rules.BAD_REVIEW_MAX_STARS)
    store_long = store.extended_window_days or store.window_days
    extend = _flag(f"SUM(recent * sample) < {store.min_sample}") if options.extend_small else "0"
    half_life = creator.half_life_days or float(creator.window_days)
    # An order cancelled before its pick-up promise was never due; one cancelled after it
    # (or after t) was, so cancelling a late order does not hide the late pick-up.
    not_cancelled_in_time = "(b.cancelled_s IS NULL OR b.cancelled_s > b.ship_by_s)"
    # Only what was known at t: a chat answered (by t) too slowly, or unanswered at t and
    # already past the limit; a request handled too late, or unhandled at t and already late.
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

    metrics = "\nUNION ALL\n".join(
        _metric_rows(store, "store_tally")
        + _metric_rows(product, "product_tally")
        + _metric_rows(creator, "creator_tally")
    )
    if options.shrinkage:
        rate = "(defects + prior_strength * entity_mean) / (opportunities + prior_strength)"
        mass = "opportunities + prior_strength"
    else:
        rate = "CASE WHEN opportunities > 0 THEN defects / opportunities ELSE benchmark END"
        mass = "GREATEST(opportunities, 1.0)"

    review_ctes = f"""
rv AS (
    SELECT r.id, r.order_id, r.line_id, r.buyer_id, r.shop_id, r.stars,
           {_secs("r.created_at")} AS at_s
    FROM reviews r
    LEFT JOIN appeals ap ON ap.defect_kind = '{DefectKind.REVIEW.value}' AND ap.defect_id = r.id
    WHERE ap.defect_id IS NULL
      AND {_secs("r.created_at")} < {t} AND {_secs("r.created_at")} >= {event_from}
),
bad_days AS (
    SELECT shop_id, CAST(FLOOR(at_s / {DAY}) AS BIGINT) AS day, COUNT(*) AS k
    FROM rv WHERE stars <= {rules.BAD_REVIEW_MAX_STARS}
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
           {_secs("o.picked_up_at")} AS picked_s,
           {_secs("o.delivered_at")} AS delivered_s,
           {_secs("o.cancelled_at")} AS cancelled_s
    FROM orders o
    WHERE o.paid_at IS NOT NULL
      AND {_secs("o.paid_at")} < {t}
      AND {_secs("o.paid_at")} >= {t - ORDER_WINDOW_DAYS * DAY}
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
      AND {_secs("a.created_at")} < {t} AND {_secs("a.created_at")} >= {event_from}
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
    SELECT buyer_id, COUNT(*) AS delivered FROM orders
    WHERE {_secs("delivered_at")} < {t}
      AND {_secs("paid_at")} >= {t - rules.ABUSE_WINDOW_DAYS * DAY}
      AND buyer_id IN (SELECT buyer_id FROM complaints)
    GROUP BY buyer_id
),
platform AS (
    SELECT CAST(SUM(c.complaints) AS DOUBLE)
           / GREATEST((SELECT COUNT(*) FROM orders
                       WHERE {_secs("delivered_at")} < {t}
                         AND {_secs("paid_at")} >= {t - rules.ABUSE_WINDOW_DAYS * DAY}), 1)
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
facts AS (
    -- one row per paid order
    SELECT b.order_id, b.shop_id, b.creator_id, b.age_s,
           {buyer_weight} AS bw,
           COALESCE(r.reviewed, 0) AS reviewed,
           COALESCE(r.bad_review, 0) AS bad_review,
           COALESCE(r.held_review, 0) AS held_review,
           {_flag(f"b.delivered_s < {t}")} AS delivered,
           {_flag(f"b.ship_by_s < {t} AND {not_cancelled_in_time}")} AS pickup_due,
           {
        _flag(
            f"b.ship_by_s < {t} AND {not_cancelled_in_time}"
            " AND (b.picked_s IS NULL OR b.picked_s > b.ship_by_s)"
        )
    } AS late_pickup,
           {
        _flag(
            f"b.delivered_s < {t} AND b.delivered_s - b.paid_s > {rules.SLOW_DELIVERY_HOURS * HOUR}"
        )
    } AS slow_delivery,
           COALESCE(x.merchant_quality, 0) AS merchant_quality,
           COALESCE(x.goods_quality, 0) AS goods_quality,
           COALESCE(x.content_complaint, 0) AS content_complaint,
           COALESCE(x.logistics_complaint, 0) AS logistics_complaint,
           COALESCE(x.dispute_lost, 0) AS dispute_lost
    FROM base b
    LEFT JOIN order_reviews r ON r.order_id = b.order_id
    LEFT JOIN by_order x ON x.order_id = b.order_id
    LEFT JOIN buyer_weights bw ON bw.buyer_id = b.buyer_id
),
line_facts AS (
    -- one row per line of a paid order: what a product's score counts
    SELECT l.product_id, f.age_s, f.bw, f.delivered,
           COALESCE(r.reviewed, 0) AS reviewed,
           COALESCE(r.bad_review, 0) AS bad_review,
           COALESCE(r.held_review, 0) AS held_review,
           COALESCE(y.merchant_quality, 0) AS merchant_quality,
           COALESCE(y.dispute_lost, 0) AS dispute_lost
    FROM facts f
    JOIN order_lines l ON l.order_id = f.order_id AND f.age_s < {product.window_days * DAY}
    LEFT JOIN line_reviews r ON r.line_id = l.id
    LEFT JOIN by_line y ON y.line_id = l.id
),
shop_orders_by_age AS (
    SELECT shop_id,
           {_flag(f"age_s < {store.window_days * DAY}")} AS recent,
           COUNT(*) AS sample,
           SUM(reviewed) AS reviews,
           SUM(bad_review * bw) AS bad_reviews,
           SUM(held_review) AS held_reviews,
           SUM(delivered) AS delivered,
           SUM(merchant_quality * bw) AS quality_refunds,
           SUM(pickup_due) AS pickups,
           SUM(late_pickup) AS late_pickups,
           SUM(slow_delivery) AS slow_deliveries,
           SUM(logistics_complaint * bw) AS logistics_complaints,
           SUM(dispute_lost) AS disputes_lost
    FROM facts WHERE age_s < {store_long * DAY}
    GROUP BY shop_id, {_flag(f"age_s < {store.window_days * DAY}")}
),
shop_windows AS (
    SELECT shop_id,
           {extend} AS extended
    FROM shop_orders_by_age GROUP BY shop_id
),
shop_orders AS (
    SELECT o.shop_id AS entity_id, MAX(s.category_id) AS category_id,
           MAX(c.code) AS category_code,
           MAX(w.extended) AS extended,
           SUM(o.sample) AS sample,
           SUM(o.reviews) AS reviews,
           SUM(o.bad_reviews) AS bad_reviews,
           SUM(o.held_reviews) AS held_reviews,
           SUM(o.delivered) AS delivered,
           SUM(o.quality_refunds) AS quality_refunds,
           SUM(o.pickups) AS pickups,
           SUM(o.late_pickups) AS late_pickups,
           SUM(o.slow_deliveries) AS slow_deliveries,
           SUM(o.logistics_complaints) AS logistics_complaints,
           SUM(o.disputes_lost) AS disputes_lost
    FROM shop_orders_by_age o
    JOIN shop_windows w ON w.shop_id = o.shop_id
    JOIN shops s ON s.id = o.shop_id
    JOIN categories c ON c.id = s.category_id
    WHERE o.recent = 1 OR w.extended = 1
    GROUP BY o.shop_id
),
customers AS (
    SELECT DISTINCT shop_id, buyer_id FROM base
),
buyer_chats AS (
    -- one buyer, one voice: only customers' chats, and of each its first in the window
    SELECT c.shop_id, c.first_message_at, c.first_response_seconds,
           ROW_NUMBER() OVER (PARTITION BY c.shop_id, c.buyer_id
                              ORDER BY c.first_message_at, c.id) AS nth
    FROM chats c
    JOIN shop_windows w ON w.shop_id = c.shop_id
    JOIN customers cu ON cu.shop_id = c.shop_id AND cu.buyer_id = c.buyer_id
    WHERE {_secs("c.first_message_at")} < {t}
      AND {_secs("c.first_message_at")} >= {t} - (CASE WHEN w.extended = 1
          THEN {store_long * DAY} ELSE {store.window_days * DAY} END)
),
shop_chats AS (
    SELECT c.shop_id, COUNT(*) AS chats,
           SUM({slow_chat}) AS slow_chats
    FROM buyer_chats c WHERE c.nth = 1
    GROUP BY c.shop_id
),
shop_requests AS (
    SELECT a.shop_id, COUNT(*) AS requests,
           SUM({slow_handling}) AS slow_handlings
    FROM asr a JOIN shop_windows w ON w.shop_id = a.shop_id
    WHERE a.at_s >= {t} - (CASE WHEN w.extended = 1
          THEN {store_long * DAY} ELSE {store.window_days * DAY} END)
    GROUP BY a.shop_id
),
store_tally AS (
    SELECT o.*, COALESCE(ch.chats, 0) AS chats, COALESCE(ch.slow_chats, 0) AS slow_chats,
           COALESCE(rq.requests, 0) AS requests,
           COALESCE(rq.slow_handlings, 0) AS slow_handlings
    FROM shop_orders o
    LEFT JOIN shop_chats ch ON ch.shop_id = o.entity_id
    LEFT JOIN shop_requests rq ON rq.shop_id = o.entity_id
),
product_orders AS (
    SELECT product_id,
           COUNT(*) AS sample,
           SUM(reviewed) AS reviews,
           SUM(bad_review * bw) AS bad_reviews,
           SUM(held_review) AS held_reviews,
           SUM(delivered) AS delivered,
           SUM(merchant_quality * bw) AS quality_refunds,
           SUM(dispute_lost) AS complaints
    FROM line_facts WHERE age_s < {product.window_days * DAY}
    GROUP BY product_id
),
product_tally AS (
    SELECT o.product_id AS entity_id, p.category_id, o.sample, o.reviews, o.bad_reviews,
           o.held_reviews, o.delivered, o.quality_refunds, o.complaints
    FROM product_orders o JOIN products p ON p.id = o.product_id
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
benchmarks AS (
    SELECT kind, category_id, metric,
           COALESCE(SUM(defects) / NULLIF(SUM(opportunities), 0), 0.0) AS benchmark,
           GREATEST(MAX(floor), COALESCE(SUM(defects) / NULLIF(SUM(opportunities), 0), 0.0))
               AS scale,
           SUM(COALESCE(effective, 0)) AS total,
           SUM(COALESCE(effective * effective, 0)) AS total_sq,
           SUM(CASE WHEN opportunities > 0 THEN 1 ELSE 0 END) AS entities,
           SUM(CASE WHEN opportunities > 0
                    THEN effective * (defects / opportunities) * (defects / opportunities)
                    ELSE 0 END) AS sum_nr2,
           AVG(CASE WHEN opportunities > 0 THEN defects / opportunities END) AS entity_mean
    FROM m GROUP BY kind, category_id, metric
),
dispersion AS (
    -- Method of moments for the beta-binomial: how much of the spread between entities'
    -- rates is real rather than chance (the intra-class correlation rho), pooled over
    -- categories. The prior strength is 1/rho - 1: little real spread, strong shrinkage.
    SELECT kind, metric,
           SUM(sum_nr2 - total * benchmark * benchmark
               - benchmark * (1 - benchmark) * (entities - 1))
           / NULLIF(SUM((total - total_sq / total) * benchmark * (1 - benchmark)), 0) AS rho
    FROM benchmarks WHERE total > 0 GROUP BY kind, metric
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
           m.opportunities,
           m.sample, m.extended, m.weight, b.benchmark, b.scale,
           COALESCE(b.entity_mean, b.benchmark) AS entity_mean,
           COALESCE(pr.prior_strength, {rules.PRIOR_STRENGTH_MAX!r}) AS prior_strength,
           CASE WHEN m.opportunities > 0 THEN m.defects / m.opportunities END AS raw_rate
    FROM m JOIN benchmarks b
        ON b.kind = m.kind AND b.category_id = m.category_id AND b.metric = m.metric
    LEFT JOIN priors pr ON pr.kind = m.kind AND pr.metric = m.metric
),
rated AS (
    SELECT shrunk.*, {rate} AS rate, {mass} AS mass FROM shrunk
)
SELECT s.kind, s.entity_id, s.category_id, s.metric, s.dimension, s.defects, s.opportunities,
       s.sample,
       s.extended, s.prior_strength,
       s.weight, s.benchmark, s.scale, s.raw_rate, s.rate,
       s.rate * (1 - s.rate) / (s.mass + 1) AS variance,
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
    entity_scores = f"""
WITH agg AS (
    SELECT kind, entity_id, MAX(sample) AS sample, MAX(extended) AS extended,
           SUM(weight * points) / SUM(weight) AS score,
           SQRT(SUM(POWER(weight * {rules.POINTS_PER_BENCHMARK!r} / scale, 2) * variance))
               / SUM(weight) AS sd,
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
)
SELECT kind, entity_id, score,
       GREATEST(0.0, score - {z!r} * sd) AS lower,
       LEAST(100.0, score + {z!r} * sd) AS upper,
       sample, extended, status, tier,
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
