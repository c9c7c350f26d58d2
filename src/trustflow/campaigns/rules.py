"""What a coupon takes off, and when it may be used: one place for the service and the bulk
path alike. Each refusal names the rule and the numbers (docs/campaigns.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from trustflow.campaigns.models import CouponKind
from trustflow.errors import Conflict, ErrorCode
from trustflow.units import yuan

__all__ = ["BPS", "CouponNotApplicable", "CouponTerms", "discount_fen", "require_valid"]

#: Discounts are in ten-thousandths (basis points) of the goods.
BPS = 10_000


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
    match terms.kind:
        case CouponKind.FULL_REDUCTION | CouponKind.FIXED:
            off = terms.amount_fen
        case CouponKind.DISCOUNT:
            # rounded down: the buyer never gets a fraction of a fen the budget did not hold
            off = goods_fen * terms.discount_bps // BPS
            if terms.amount_fen:
                off = min(off, terms.amount_fen)
    return min(off, goods_fen)


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
