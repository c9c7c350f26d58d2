"""Request and response shapes of the coupon routes (unknown fields refused, as everywhere)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import Field, StrictBool, StrictInt

from trustflow.campaigns.festivals import MAX_REASON
from trustflow.campaigns.models import (
    ClaimStatus,
    CouponIssuer,
    CouponKind,
    RegistrationStatus,
)
from trustflow.campaigns.rules import BPS, MAX_HOLDOUT_BPS
from trustflow.schemas_base import Shape
from trustflow.scoring.models import Tier
from trustflow.types import MAX_FEN, Fen, Id, Instant, Name

#: The most a coupon may be claimed, per buyer and in all.
MAX_COUPON_COUNT = 10_000_000
#: The most units one registration may offer, and the largest traffic budget.
MAX_CAMPAIGN_QUANTITY = 10_000_000
MAX_IMPRESSIONS = 10**12


class CouponIn(Shape):
    """A coupon to issue. A merchant issues coupons for a shop it manages (``shop_id``, paid
    by the merchant); an operator issues platform coupons (no ``shop_id``, paid from the
    platform's subsidy) or a shop's."""

    name: Name
    kind: CouponKind
    shop_id: Id | None = None
    campaign_id: Id | None = Field(
        default=None,
        description="Operators only: the campaign whose subsidy budget pays for the coupon.",
    )
    threshold_fen: Fen = 0
    amount_fen: Fen = 0
    discount_bps: Annotated[StrictInt, Field(ge=0, lt=BPS)] = 0
    budget_fen: Fen
    budget_count: Annotated[StrictInt, Field(ge=0, le=MAX_COUPON_COUNT)]
    per_buyer_limit: Annotated[StrictInt, Field(ge=1, le=MAX_COUPON_COUNT)] = 1
    valid_from: Instant
    valid_to: Instant


class CouponOut(Shape):
    id: int
    name: str
    issuer: CouponIssuer
    shop_id: int | None
    campaign_id: int | None
    kind: CouponKind
    threshold_fen: int
    amount_fen: int
    discount_bps: int
    #: the budget and what is committed of it: to the issuer's managers and operators only
    budget_fen: int | None
    budget_count: int | None
    committed_fen: int | None
    committed_count: int | None
    per_buyer_limit: int
    valid_from: datetime
    valid_to: datetime


class ClaimIn(Shape):
    buyer_id: Id | None = Field(default=None, description="Operators only: the buyer.")


class ClaimOut(Shape):
    id: int
    coupon_id: int
    buyer_id: int
    status: ClaimStatus
    amount_fen: int
    checkout_id: int | None
    claimed_at: datetime


class CampaignIn(Shape):
    """A festival to open: its windows in order (registration, warm-up, main) and budgets."""

    name: Name
    registration_from: Instant
    registration_to: Instant
    warmup_from: Instant
    main_from: Instant
    main_to: Instant
    min_tier: Tier = Tier.GOOD
    traffic_budget: Annotated[StrictInt, Field(ge=0, le=MAX_IMPRESSIONS)] = 0
    subsidy_budget_fen: Fen = 0
    #: buyers kept out of the campaign to measure what it adds, in basis points (at most half)
    holdout_bps: Annotated[StrictInt, Field(ge=0, le=MAX_HOLDOUT_BPS)] = 0


class CampaignOut(Shape):
    id: int
    name: str
    registration_from: datetime
    registration_to: datetime
    warmup_from: datetime
    main_from: datetime
    main_to: datetime
    min_tier: Tier
    traffic_budget: int
    subsidy_budget_fen: int
    subsidy_committed_fen: int
    holdout_bps: int


class RegistrationIn(Shape):
    """One SKU of the caller's shop, at a campaign price and quantity; for the brand
    C-position plan, the benchmark platform's promotion price and the commission floor it
    declares, beside the commission it offers."""

    sku_id: Id
    campaign_price_fen: Annotated[StrictInt, Field(ge=1, le=MAX_FEN)]
    quantity: Annotated[StrictInt, Field(ge=1, le=MAX_CAMPAIGN_QUANTITY)]
    c_position: StrictBool = False
    benchmark_price_fen: Annotated[StrictInt, Field(ge=1, le=MAX_FEN)] | None = None
    commission_floor_bps: Annotated[StrictInt, Field(ge=0, le=BPS)] | None = None
    commission_bps: Annotated[StrictInt, Field(ge=0, le=BPS)] = 0


class ReasonOut(Shape):
    code: str
    message: str
    message_zh: str


class RegistrationOut(Shape):
    id: int
    campaign_id: int
    shop_id: int
    sku_id: int
    campaign_price_fen: int
    quantity: int
    c_position: bool
    benchmark_price_fen: int | None
    commission_floor_bps: int | None
    commission_bps: int
    #: what the platform pays of each unit from the campaign's subsidy budget (fen)
    unit_subsidy_fen: int
    status: RegistrationStatus
    reasons: list[ReasonOut]
    review_reason: str | None
    updated_at: datetime


class ReviewIn(Shape):
    """An operator's decision and the reason for the record."""

    reason: Annotated[str, Field(min_length=1, max_length=MAX_REASON)]


class SubsidyIn(Shape):
    """An operator's product subsidy for a registration: what the platform pays of each
    unit's campaign price (0 withdraws it), and the reason for the record."""

    unit_subsidy_fen: Annotated[StrictInt, Field(ge=0, le=MAX_FEN)]
    reason: Annotated[str, Field(min_length=1, max_length=MAX_REASON)]


class ShopSubsidyCapIn(Shape):
    """An operator's cap on what one shop's subsidised sales may take of the campaign's
    subsidy budget (``null`` lifts it), and the reason for the record."""

    cap_fen: Annotated[StrictInt, Field(ge=0, le=MAX_FEN)] | None
    #: the record keeps "shop <id>: " before it
    reason: Annotated[str, Field(min_length=1, max_length=MAX_REASON - 40)]


class ShopSubsidyOut(Shape):
    campaign_id: int
    shop_id: int
    #: None: no cap but the campaign's budget
    cap_fen: int | None
    #: what the shop's held sales take of the budget now
    committed_fen: int


class VenueItemOut(Shape):
    """One offer on a festival's main venue (主会场), as the asking buyer sees it."""

    registration_id: int
    sku_id: int
    product_id: int
    shop_id: int
    title: str
    #: a brand C-position plan offer (品牌C位): shown first
    c_position: bool
    list_price_fen: int
    campaign_price_fen: int
    unit_subsidy_fen: int
    #: what the asking buyer pays for a unit now (the checkout decides, while units last)
    price_fen: int
    units_left: int
    #: the main window holds now; before it (warm-up) the offer is coming
    on_sale: bool


class IncrementalGmvOut(Shape):
    """What the campaign added over its main window, from the holdout it keeps: an estimate
    with its interval (yuan, rounded to the fen: estimates, not money moved)."""

    design: str
    holdout_bps: int
    treated_buyers: int
    holdout_buyers: int
    pre_from: datetime
    pre_days: int
    test_days: int
    incremental_gmv_yuan: Decimal
    ci_low_yuan: Decimal
    ci_high_yuan: Decimal
    confidence: float
    variance_reduction: float


class CampaignResultsOut(Shape):
    """What a campaign brought (money in exact yuan)."""

    campaign_id: int
    name: str
    orders: int
    gmv_yuan: Decimal
    buyers: int
    buyers_new_to_shop: int
    subsidy_budget_yuan: Decimal
    subsidy_spent_yuan: Decimal
    subsidy_reserved_yuan: Decimal
    #: of what was spent: ``coupons`` and ``products`` (product subsidies)
    subsidy_spent_by_kind_yuan: dict[str, Decimal]
    gmv_per_subsidy_yuan: Decimal | None
    registrations: dict[str, int]
    registrations_refused: int
    #: refused registrations by the rule that refused them
    refusals_by_rule: dict[str, int]
    #: boost traffic promised to boosted shops, and delivered (reward impressions)
    boost_promised: int
    boost_delivered: int
    #: of what was promised: registration, going-live and fan-growth rewards, and the boost
    promised_by_kind: dict[str, int]
    campaign_units: int
    #: None without a holdout, before the main window, or without history before it
    incremental_gmv: IncrementalGmvOut | None


class FastBrandOut(Shape):
    shop_id: int
    name: str
    fans: int
    stage: str


class FastBrandsOut(Shape):
    """Fast brands by growth stage: how many stand at each, and each brand (most followed
    first)."""

    stages: dict[str, int]
    brands: list[FastBrandOut]
