"""The three scores, as published in docs/scores.md. Change a number here and the document's
tables must change with it (a test compares them).

Every sub-metric is a rate of defects among opportunities (bad reviews among reviews, late
pick-ups among orders due for pick-up, ...). How a rate becomes points, in four steps:

1. **Benchmark.** The category's pooled rate over the same window. Products are benchmarked
   within their category, stores within the mix of categories they sell in (by their order
   lines), creators against all creators. A thin category leans on its parent, a parent on
   the whole kind (:data:`BENCHMARK_PRIOR_ENTITIES`).
2. **Shrinkage.** The scored rate is the Beta-Binomial posterior mean
   ``(defects + m·prior) / (opportunities + m)``, where the prior is the rate of the
   category's average entity (each counted once: the pooled benchmark leans toward the
   largest shops). A shop with 3 orders is mostly that prior, a shop with 3,000 mostly its
   own record. ``m`` is fitted from the data each night (empirical Bayes): where shops truly
   differ a lot, little shrinkage; where most of the spread is chance, much. A store with
   fewer than ``min_sample`` orders in 30 days is scored over 90 days instead, then 180.
3. **Points.** ``100 − 20 × scored rate / scale``, clamped to 0..100, where the scale is the
   benchmark or the metric's ``floor``, whichever is larger: a rate at the benchmark earns 80
   points, half of it 90, twice it 60, five times it nothing. The floor keeps a rare defect
   (say, disputes lost) from costing a fortune just because the category's rate is tiny.
4. **Score.** The weighted mean of the points. Its 90% credible interval comes from the
   posterior variance of each rate. A metric the history does not record carries no weight;
   one the entity had no opportunity for counts at its prior (:data:`MIN_OBSERVED_WEIGHT`).

Logistics are judged against each order's promise (``ship_by``, ``deliver_by``), and a
promise counts once it has passed: a parcel still on its way after ``deliver_by`` is late.

Defects carry weights: a buyer whose refund-only claims and bad reviews far exceed what their
orders explain counts for less (:data:`ABUSE_ALLOWANCE`), and bursts of bad reviews on one
shop in one day are held for review instead of scored (:data:`BURST_MIN_BAD_REVIEWS`).
Only the scored party's defects count: a carrier's breakage is not the merchant's, and a
merchant's late pick-up is not the creator's.

One buyer, one voice in chats: ``slow_chat_rate`` counts each customer once per shop and
window, by their first chat with the shop in the window; later
chats in the window, and chats of buyers with no paid order from the shop in the 180 days
before the score's moment, do not count. So a buyer who floods a rival with unanswered chats
weighs what one slow answer weighs, and an account that never bought weighs nothing
(docs/scores.md, "Abuse resistance"). The service side caps chats too
(:data:`trustflow.aftersales.rules.CHATS_PER_SHOP_PER_DAY`).
"""

from __future__ import annotations

from dataclasses import dataclass

from trustflow.aftersales.models import AfterSalesReason, ResponsibleParty
from trustflow.scoring.models import ScoreKind, Tier

__all__ = [
    "ABUSE_ALLOWANCE",
    "ABUSE_WINDOW_DAYS",
    "BAD_REVIEW_MAX_STARS",
    "BENCHMARK_PRIOR_ENTITIES",
    "BURST_FACTOR",
    "BURST_MIN_BAD_REVIEWS",
    "CATEGORY_WEIGHTS",
    "CREATOR",
    "DEFAULT_DELIVERY_HOURS",
    "DEFINITIONS",
    "INTERVAL_Z",
    "LOGISTICS_REASONS",
    "METRIC_NAMES_ZH",
    "MIN_OBSERVED_WEIGHT",
    "PENALTY_MIN_DEFECTS",
    "PENALTY_RATE_MULTIPLE",
    "POINTS_PER_BENCHMARK",
    "PRIOR_STRENGTH_MAX",
    "PRIOR_STRENGTH_MIN",
    "PRODUCT",
    "QUALITY_PARTIES",
    "QUALITY_REASONS",
    "SLOW_CHAT_SECONDS",
    "SLOW_HANDLING_HOURS",
    "STORE",
    "TIERS",
    "ScoreDefinition",
]


@dataclass(frozen=True)
class Metric:
    """One sub-metric: a rate of ``defects`` among ``opportunities`` (columns of the
    per-entity tally that :mod:`trustflow.scoring.sql` builds)."""

    name: str
    label: str
    dimension: str
    weight: float  # share of the score (the weights of one score sum to 1)
    defects: str
    opportunities: str
    floor: float  # the smallest rate that points are measured against

    @property
    def label_zh(self) -> str:
        return METRIC_NAMES_ZH[self.name]

    @property
    def record(self) -> str:
        """What the marketplace must have recorded at all for this metric to be known."""
        return RECORDS[self.defects]


@dataclass(frozen=True)
class ScoreDefinition:
    kind: ScoreKind
    title: str
    window_days: int
    #: Below this many paid orders in the window the score is ``provisional``.
    min_sample: int
    metrics: tuple[Metric, ...]
    #: Recent orders count more: an order's weight halves every this many days (creators:
    #: from the day it was paid; stores: from the end of the standard window, so only the
    #: older orders an extended window reaches back to count for less).
    half_life_days: float | None = None
    #: Benchmarked per category (products by their own; stores by the mix of categories they
    #: sell in, weighted by their order lines), else against all entities of the kind.
    by_category: bool = True
    #: A smaller entity, with fewer than ``min_sample`` orders in the window, is scored over
    #: the first of these longer windows that holds ``min_sample`` orders, else the longest
    #: (as eBay does for small sellers): fewer swings on one order, and a score at all.
    extended_windows: tuple[int, ...] = ()

    @property
    def longest_window_days(self) -> int:
        return max((self.window_days, *self.extended_windows))


# Reasons whose defect is the goods themselves, and those that are about getting them there.
QUALITY_REASONS = (
    AfterSalesReason.QUALITY,
    AfterSalesReason.NOT_AS_DESCRIBED,
    AfterSalesReason.COUNTERFEIT,
    AfterSalesReason.WRONG_ITEM,
)
LOGISTICS_REASONS = (AfterSalesReason.LATE_DELIVERY, AfterSalesReason.DAMAGED_IN_TRANSIT)
#: A review of this many stars or fewer is a bad review (only the first review of an order
#: exists, so a buyer cannot pile on).
BAD_REVIEW_MAX_STARS = 2
#: Logistics are judged against the order's own promise: handed to the carrier by its
#: ``ship_by``, delivered by its ``deliver_by``. An order placed without a promised delivery
#: date (imported history that had none) is due this long after payment.
DEFAULT_DELIVERY_HOURS = 96
#: A chat whose first answer takes longer than this (or never comes) is a slow response.
SLOW_CHAT_SECONDS = 180
#: An after-sales request handled (approved or rejected) later than this is slow handling.
SLOW_HANDLING_HOURS = 48

STORE = ScoreDefinition(
    kind=ScoreKind.STORE,
    title="Store experience score (店铺体验分)",
    window_days=30,
    min_sample=30,
    extended_windows=(90, 180),
    half_life_days=60.0,
    metrics=(
        Metric(
            "bad_review_rate",
            "bad-review rate",
            "product",
            0.25,
            "bad_reviews",
            "reviews",
            floor=0.02,
        ),
        Metric(
            "quality_refund_rate",
            "quality-refund rate",
            "product",
            0.25,
            "quality_refunds",
            "delivered",
            floor=0.01,
        ),
        Metric(
            "late_pickup_rate",
            "late pick-up rate",
            "logistics",
            0.12,
            "late_pickups",
            "pickups",
            floor=0.02,
        ),
        Metric(
            "late_delivery_rate",
            "late-delivery rate",
            "logistics",
            0.08,
            "late_deliveries",
            "deliveries_due",
            floor=0.03,
        ),
        Metric(
            "logistics_complaint_rate",
            "logistics-complaint rate",
            "logistics",
            0.05,
            "logistics_complaints",
            "delivered",
            floor=0.005,
        ),
        Metric(
            "slow_chat_rate",
            "slow chat-response rate",
            "service",
            0.08,
            "slow_chats",
            "chats",
            floor=0.05,
        ),
        Metric(
            "slow_handling_rate",
            "slow after-sales handling rate",
            "service",
            0.1,
            "slow_handlings",
            "requests",
            floor=0.02,
        ),
        Metric(
            "dispute_lost_rate",
            "disputes-lost rate",
            "service",
            0.07,
            "disputes_lost",
            "delivered",
            floor=0.003,
        ),
    ),
)

PRODUCT = ScoreDefinition(
    kind=ScoreKind.PRODUCT,
    title="Product score (商品分)",
    window_days=60,
    min_sample=20,
    metrics=(
        Metric(
            "bad_review_rate",
            "bad-review rate",
            "product",
            0.4,
            "bad_reviews",
            "reviews",
            floor=0.02,
        ),
        Metric(
            "quality_refund_rate",
            "quality-refund rate",
            "product",
            0.4,
            "quality_refunds",
            "delivered",
            floor=0.01,
        ),
        Metric(
            "complaint_rate",
            "complaint rate",
            "product",
            0.2,
            "complaints",
            "delivered",
            floor=0.003,
        ),
    ),
)

CREATOR = ScoreDefinition(
    kind=ScoreKind.CREATOR,
    title="Creator reputation score (带货口碑分)",
    window_days=90,
    min_sample=30,
    half_life_days=30.0,
    by_category=False,
    metrics=(
        Metric(
            "bad_review_rate", "bad-review rate", "goods", 0.4, "bad_reviews", "reviews", floor=0.02
        ),
        Metric(
            "quality_refund_rate",
            "quality-refund rate",
            "goods",
            0.35,
            "goods_refunds",
            "delivered",
            floor=0.01,
        ),
        Metric(
            "content_complaint_rate",
            "content-complaint rate",
            "content",
            0.25,
            "content_complaints",
            "delivered",
            floor=0.005,
        ),
    ),
)

#: What each kind of defect is read from. A history that holds none of it in the window (an
#: imported history without chats, after-sales or arbitrations, without pick-up times) says
#: nothing about the metrics it feeds: they are not known for anyone, rather than perfect for
#: everyone.
RECORDS = {
    "bad_reviews": "reviews",
    "quality_refunds": "after_sales",
    "goods_refunds": "after_sales",
    "content_complaints": "after_sales",
    "logistics_complaints": "after_sales",
    "slow_handlings": "after_sales",
    "disputes_lost": "arbitrations",
    "complaints": "arbitrations",
    "late_pickups": "pickups",
    "late_deliveries": "deliveries",
    "slow_chats": "chats",
}

#: The sub-metrics' Chinese names, as merchants know them.
METRIC_NAMES_ZH = {
    "bad_review_rate": "差评率",
    "quality_refund_rate": "品质退款率",
    "complaint_rate": "投诉成立率",
    "late_pickup_rate": "揽收超时率",
    "late_delivery_rate": "配送超时率",
    "logistics_complaint_rate": "物流投诉率",
    "slow_chat_rate": "客服慢响应率",
    "slow_handling_rate": "售后慢处理率",
    "dispute_lost_rate": "纠纷判责率",
    "content_complaint_rate": "内容不符投诉率",
}

DEFINITIONS: dict[ScoreKind, ScoreDefinition] = {d.kind: d for d in (PRODUCT, STORE, CREATOR)}

#: Whose defects count in which score. A store answers for what the merchant did; a creator
#: for the goods it chose and the words it used, never for the merchant's logistics.
QUALITY_PARTIES: dict[ScoreKind, tuple[ResponsibleParty, ...]] = {
    ScoreKind.STORE: (ResponsibleParty.MERCHANT,),
    ScoreKind.PRODUCT: (ResponsibleParty.MERCHANT,),
    ScoreKind.CREATOR: (ResponsibleParty.MERCHANT, ResponsibleParty.CREATOR),
}

#: Category-specific store weights: fresh and perishable goods live or die by logistics.
#: metric name -> weight, replacing the default for shops whose main category is listed.
CATEGORY_WEIGHTS: dict[str, dict[str, float]] = {
    code: {
        "bad_review_rate": 0.22,
        "quality_refund_rate": 0.23,
        "late_pickup_rate": 0.16,
        "late_delivery_rate": 0.12,
        "logistics_complaint_rate": 0.07,
        "slow_chat_rate": 0.06,
        "slow_handling_rate": 0.08,
        "dispute_lost_rate": 0.06,
    }
    for code in ("food", "agri")
}

#: The prior strength ``m`` of each sub-metric is fitted nightly from the data (empirical
#: Bayes, beta-binomial method of moments): how much of the spread between entities' rates is
#: real rather than chance. It is kept within this range.
PRIOR_STRENGTH_MIN = 2.0
PRIOR_STRENGTH_MAX = 400.0

# Points and tiers -------------------------------------------------------------------------

#: A benchmark pools the entities of a category; a thin category borrows from its parent,
#: and a parent from all entities of the kind, as if it held this many more entities at the
#: rate of the level above: ``(n × own rate + k × parent's) / (n + k)``. The same holds for
#: the prior (the category's average entity) that rates are shrunk toward.
BENCHMARK_PRIOR_ENTITIES = 10.0

#: No data is not perfect. A metric whose record the marketplace's history does not hold at
#: all in the window (:data:`RECORDS`: an imported history without chats or arbitrations)
#: says nothing about anyone: it carries no weight, and the weights of the others are scaled
#: up to sum to one. A metric an entity had no opportunities for (no chats with it) is not
#: known for it: its rate is the prior's, the category's typical entity, never a perfect one,
#: and the interval widens by that prior's spread. (Scaling up the entity's own other metrics
#: instead would let a shop without chats outscore its twin whose chats were answered at once.)
#: An entity whose known metrics hold less than this share of the weights has no score
#: (``no_score``): too little of it is known. A store's hand-over and delivery promises alone
#: are enough: a shop whose parcels never arrive is scored on that.
MIN_OBSERVED_WEIGHT = 0.2

#: Points lost per benchmark's worth of scored rate (a rate at the benchmark scores 80).
POINTS_PER_BENCHMARK = 20.0
#: z for the two-sided 90% credible interval.
INTERVAL_Z = 1.645

#: Lowest score of each tier, best first. What a tier unlocks is in :mod:`scoring.gates`.
TIERS: tuple[tuple[Tier, float], ...] = (
    (Tier.EXCELLENT, 90.0),
    (Tier.GOOD, 80.0),
    (Tier.FAIR, 65.0),
    (Tier.LOW, 0.0),
)

#: A penalty (restriction) needs the low tier, a scored (not provisional) status and one
#: metric whose raw rate is at least this multiple of its benchmark *and* whose weighted
#: defect count is at least :data:`PENALTY_MIN_DEFECTS`: one bad week of a small shop is
#: never enough.
PENALTY_RATE_MULTIPLE = 2.0
PENALTY_MIN_DEFECTS = 5.0

# Abuse resistance -----------------------------------------------------------------------

#: A buyer's complaints (refund-only requests plus bad reviews, on all shops, 90 days) beyond
#: the platform's rate times their delivered orders plus this allowance are abnormal: each of
#: their defects then weighs (expected + allowance) / complaints.
ABUSE_WINDOW_DAYS = 90
ABUSE_ALLOWANCE = 2.0

#: A shop's bad reviews on one day are a burst, held for review rather than scored, when there
#: are at least this many and more than :data:`BURST_FACTOR` times the shop's usual daily
#: count (plus one).
BURST_MIN_BAD_REVIEWS = 5
BURST_FACTOR = 3.0


def tier_of(score: float) -> Tier:
    for tier, lowest in TIERS:
        if score >= lowest:
            return tier
    return Tier.LOW
