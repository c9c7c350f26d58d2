"""What a coupon takes off, and when it may be used: one place for the service and the bulk
path alike. Each refusal names the rule and the numbers (docs/campaigns.md)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from trustflow.buckets import user_buckets
from trustflow.campaigns.models import CouponKind
from trustflow.errors import Conflict, ErrorCode, InvalidInput
from trustflow.units import yuan

__all__ = [
    "BPS",
    "FAST_BRAND_GUARANTEE",
    "FAST_BRAND_STAGES",
    "MAX_HOLDOUT_BPS",
    "NEW_FOR_BUYER_DAYS",
    "NEW_PRODUCT_BOOST",
    "NEW_PRODUCT_DAYS",
    "NEW_PRODUCT_TARGETS",
    "CouponNotApplicable",
    "CouponTerms",
    "OutsideWindow",
    "Refusal",
    "RegistrationFacts",
    "discount_fen",
    "discounts_fen",
    "fast_brand_stage",
    "in_holdout",
    "registration_refusals",
    "require_valid",
    "require_window",
    "split",
]

#: Discounts are in ten-thousandths (basis points) of the goods.
BPS = 10_000
#: A campaign keeps at most this share of buyers out (basis points) to measure what it adds.
MAX_HOLDOUT_BPS = 5_000


def in_holdout(
    campaign_id: int, buyer_ids: npt.NDArray[np.int64], holdout_bps: int
) -> npt.NDArray[np.bool_]:
    """Which buyers the campaign keeps out (its holdout, 对照组): a hash of the buyer and the
    campaign (:func:`trustflow.buckets.user_buckets`), so a buyer is in or out on every
    server, every day, with no assignment table. A held-out buyer is offered neither the
    campaign's prices nor its coupons; the campaign's incremental GMV is the difference
    (docs/campaigns.md, "Incremental GMV")."""
    ids = np.asarray(buyer_ids, dtype=np.int64)
    if holdout_bps <= 0:
        return np.zeros(len(ids), dtype=bool)
    return user_buckets(ids, campaign_id, BPS) < holdout_bps


#: The new-product plan (新品计划): a product is new for this many days after it is listed,
NEW_PRODUCT_DAYS = 90
#: and while it is, its product card's value weighs this much more in the daily traffic plan
#: (a documented nudge: a new product has no history to earn a value from yet),
NEW_PRODUCT_BOOST = 1.3
#: and a line is new for its buyer when the buyer bought no unit of the product in the days
#: before it (that buyer's first taste of it, not a repurchase).
NEW_FOR_BUYER_DAYS = 30
#: The plan's targets: how many new products are to pass each GMV (fen) since listing. The
#: seeds' figures for the platform as a whole (100 products past 100M yuan, 10,000 past 10M).
NEW_PRODUCT_TARGETS: tuple[tuple[int, int], ...] = (
    (100_000_000 * 100, 100),
    (10_000_000 * 100, 10_000),
)


class CouponNotApplicable(Conflict):
    """The coupon cannot be applied to these goods, or not now."""


@dataclass(frozen=True)
class CouponTerms:
    kind: CouponKind
    threshold_fen: int
    amount_fen: int
    discount_bps: int


def discount_fen(terms: CouponTerms, goods_fen: int) -> int:
    """What the coupon takes off ``goods_fen`` (the goods it applies to), in whole fen,
    never more than the goods; :class:`CouponNotApplicable` below the threshold."""
    if goods_fen < terms.threshold_fen:
        raise CouponNotApplicable(
            f"goods {yuan(goods_fen)} < threshold {yuan(terms.threshold_fen)}",
            code=ErrorCode.COUPON_THRESHOLD_NOT_MET,
            goods_fen=goods_fen,
            threshold_fen=terms.threshold_fen,
        )
    return int(discounts_fen(terms, np.array([goods_fen], dtype=np.int64))[0])


def discounts_fen(terms: CouponTerms, goods_fen: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """:func:`discount_fen` of many goods at once (the bulk path's), 0 below the threshold."""
    goods = np.asarray(goods_fen, dtype=np.int64)
    match terms.kind:
        case CouponKind.FULL_REDUCTION | CouponKind.FIXED:
            off = np.full(len(goods), terms.amount_fen, dtype=np.int64)
        case CouponKind.DISCOUNT:
            # rounded down: the buyer never gets a fraction of a fen the budget did not hold
            off = goods * terms.discount_bps // BPS
            if terms.amount_fen:
                off = np.minimum(off, terms.amount_fen)
    return np.where(goods >= terms.threshold_fen, np.minimum(off, goods), 0).astype(np.int64)


def split(amount: int, weights: Sequence[int]) -> list[int]:
    """``amount`` split in proportion to ``weights``, in whole units summing to ``amount``
    (largest remainder; ties to the earlier share): how a coupon's discount is shared over
    the lines it covers, by what each has left to pay."""
    total = sum(weights)
    if total <= 0:
        raise InvalidInput("nothing to split a discount over")
    shares = [amount * w // total for w in weights]
    left = amount - sum(shares)
    order = sorted(range(len(weights)), key=lambda i: (-(amount * weights[i] % total), i))
    for i in order[:left]:
        shares[i] += 1
    return shares


def require_valid(valid_from: datetime, valid_to: datetime, at: datetime) -> None:
    """A coupon is claimed and used only within ``[valid_from, valid_to)``."""
    if not valid_from <= at < valid_to:
        raise CouponNotApplicable(
            f"the coupon is valid from {valid_from.isoformat()} to {valid_to.isoformat()},"
            f" not at {at.isoformat()}",
            code=ErrorCode.COUPON_NOT_VALID_NOW,
            valid_from=valid_from.isoformat(),
            valid_to=valid_to.isoformat(),
        )


class OutsideWindow(Conflict):
    """A campaign action outside the window it belongs to."""

    default_code = ErrorCode.CAMPAIGN_WINDOW_CLOSED


def require_window(what: str, opens: datetime, closes: datetime, at: datetime) -> None:
    """``what`` happens only within ``[opens, closes)``: refused with the window's times."""
    if not opens <= at < closes:
        raise OutsideWindow(
            f"{what} is open from {opens.isoformat()} to {closes.isoformat()},"
            f" not at {at.isoformat()}",
            opens=opens.isoformat(),
            closes=closes.isoformat(),
        )


@dataclass(frozen=True)
class Refusal:
    """One rule that refused a registration: a stable code and the sentence, with numbers,
    in English and Chinese."""

    code: str
    message: str
    message_zh: str


@dataclass(frozen=True)
class RegistrationFacts:
    """What the registration rules read, gathered by the service from the store."""

    #: the store score gate's answer (``scoring.gates.campaign_registration``)
    gate_allowed: bool
    gate_code: str
    gate_reason: str
    gate_reason_zh: str
    shop_status: str
    #: the registered SKU's product's listing status
    listing_status: str
    stock: int
    quantity: int
    campaign_price_fen: int
    low_30d_fen: int
    c_position: bool = False
    benchmark_price_fen: int | None = None
    commission_floor_bps: int | None = None
    commission_bps: int = 0
    #: the shop's violation points now, and whether they reach a campaign ban
    #: (``governance/penalties.py``), from which points
    penalty_points: int = 0
    campaign_banned: bool = False
    ban_points: int = 24


#: The fast-brand plan's growth stages by fans (快品牌成长阶段): the fewest fans of each stage.
FAST_BRAND_STAGES: tuple[tuple[str, int], ...] = (
    ("seed", 0),  # under 100k
    ("growing", 100_000),  # 100k to 1M
    ("rising", 1_000_000),  # 1M to 5M
    ("leading", 5_000_000),  # over 5M
)


#: The fast-brand plan's traffic guarantee (快品牌流量扶持): impressions a day on the own
#: room of each benchmark fast brand (an active fast-brand shop with a good or excellent,
#: unrestricted store score), put into the daily traffic plan as a guarantee.
FAST_BRAND_GUARANTEE = 1_000


def fast_brand_stage(fans: int) -> str:
    """The growth stage of a fast brand with ``fans`` followers."""
    stage = FAST_BRAND_STAGES[0][0]
    for name, least in FAST_BRAND_STAGES:
        if fans >= least:
            stage = name
    return stage


def _percent(bps: int) -> str:
    return f"{Decimal(bps) / 100:.2f}%"


def registration_refusals(f: RegistrationFacts) -> list[Refusal]:
    """Every rule the registration breaks, in the order a merchant would fix them
    (docs/campaigns.md, "Registration"): none means it goes to an operator's review."""
    out: list[Refusal] = []
    if not f.gate_allowed:
        out.append(Refusal(f.gate_code, f.gate_reason, f.gate_reason_zh))
    if f.shop_status != "active":
        out.append(
            Refusal(
                "shop_not_active",
                f"the shop is {f.shop_status}: only an active shop may register",
                f"店铺状态为 {f.shop_status}：仅正常经营的店铺可以报名",
            )
        )
    if f.campaign_banned:
        out.append(
            Refusal(
                "under_penalty",
                f"the shop carries {f.penalty_points} violation points (a campaign ban from"
                f" {f.ban_points}): no campaign registration",
                f"店铺违规扣分 {f.penalty_points} 分（{f.ban_points} 分起禁止报名活动）",
            )
        )
    if f.listing_status != "listed":
        out.append(
            Refusal(
                "product_not_listed",
                f"the product is {f.listing_status}: only a listed product may register",
                f"商品状态为 {f.listing_status}：仅在售商品可以报名",
            )
        )
    if f.stock < f.quantity:
        out.append(
            Refusal(
                "stock_short",
                f"stock {f.stock} < campaign quantity {f.quantity}",
                f"库存 {f.stock} < 活动数量 {f.quantity}",
            )
        )
    price, low = yuan(f.campaign_price_fen), yuan(f.low_30d_fen)
    if f.campaign_price_fen > f.low_30d_fen:
        out.append(
            Refusal(
                "price_above_30d_low",
                f"campaign price {price} > 30-day low {low}",
                f"活动价 {price} > 近 30 天最低价 {low}",
            )
        )
    if f.c_position:
        if f.benchmark_price_fen is None or f.commission_floor_bps is None:
            out.append(
                Refusal(
                    "c_position_undeclared",
                    "a C-position registration declares the benchmark platform's promotion"
                    " price and its commission floor",
                    "C 位报名须申报对标平台的大促价与佣金下限",
                )
            )
        else:
            bench = yuan(f.benchmark_price_fen)
            if f.campaign_price_fen > f.benchmark_price_fen:
                out.append(
                    Refusal(
                        "price_above_benchmark",
                        f"campaign price {price} > benchmark promotion price {bench}",
                        f"活动价 {price} > 对标平台大促价 {bench}",
                    )
                )
            if f.commission_bps < f.commission_floor_bps:
                got, floor = _percent(f.commission_bps), _percent(f.commission_floor_bps)
                out.append(
                    Refusal(
                        "commission_below_floor",
                        f"commission {got} < declared floor {floor}",
                        f"佣金 {got} < 申报的佣金下限 {floor}",
                    )
                )
    return out
