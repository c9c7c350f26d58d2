"""What a campaign added: its incremental GMV, with an interval, from the holdout it keeps.

A campaign with ``holdout_bps`` keeps a hashed share of buyers out
(:func:`trustflow.campaigns.rules.in_holdout`): they are offered neither its prices nor its
coupons. Every buyer who existed by the end of the (measured) main window is a unit; its GMV
(paid, not cancelled) over the main window is the outcome and over an equal stretch before the
warm-up the CUPED covariate, and :func:`~trustflow.analytics.lift.did_cuped` gives the
difference per treated buyer with a Welch interval. Scaled by the treated buyers and the main
window's days it is the GMV the campaign added for the buyers it reached.

What the holdout cannot see: boost traffic is per shop, so held-out buyers see boosted rooms
too, and the estimate counts the prices and coupons, not the boost. Buyers' purchases moved
into the main window from before or after it (waiting for the festival) count as added.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from trustflow.accounts.models import Buyer
from trustflow.analytics.lift import Design, LiftEstimate, did_cuped
from trustflow.campaigns import rules
from trustflow.campaigns.models import Campaign
from trustflow.campaigns.results import campaign_results
from trustflow.db import get_or_raise
from trustflow.errors import InvalidInput
from trustflow.orders.models import Order, OrderStatus

__all__ = ["CampaignLift", "campaign_lift", "campaign_report"]

DAY = timedelta(days=1)


@dataclass(frozen=True)
class CampaignLift:
    """The campaign's incremental GMV over its main window (fen, an estimate) with its
    interval, and what it was measured on."""

    estimate: LiftEstimate
    holdout_bps: int
    pre_from: datetime
    pre_days: int

    def as_dict(self) -> dict[str, Any]:
        e = self.estimate
        low, high = e.test_period_ci
        return {
            "design": e.design.value,
            "holdout_bps": self.holdout_bps,
            "treated_buyers": e.treated_units,
            "holdout_buyers": e.control_units,
            "pre_from": self.pre_from.isoformat(),
            "pre_days": self.pre_days,
            "test_days": e.test_days,
            "incremental_gmv_yuan": _yuan(e.test_period_estimate),
            "ci_low_yuan": _yuan(low),
            "ci_high_yuan": _yuan(high),
            "confidence": e.confidence,
            "variance_reduction": round(e.variance_reduction, 3),
        }


def _yuan(fen: float) -> Decimal:
    return Decimal(f"{fen / 100:.2f}")


def campaign_lift(
    session: Session,
    campaign_id: int,
    *,
    as_of: datetime | None = None,
    confidence: float = 0.95,
) -> CampaignLift | None:
    """The campaign's incremental GMV over its main window up to ``as_of`` (default: the
    window's end), or None for a campaign without a holdout, before its main window, or
    without history before its warm-up."""
    campaign = get_or_raise(session, Campaign, campaign_id, "campaign")
    test_from = campaign.main_from
    test_to = min(campaign.main_to, as_of) if as_of is not None else campaign.main_to
    if campaign.holdout_bps == 0 or test_to <= test_from:
        return None
    test_days = max(1, math.ceil((test_to - test_from) / DAY))
    first = session.scalar(select(func.min(Order.paid_at)))
    if first is None or first >= campaign.warmup_from:
        return None  # no history before the campaign to compare against
    pre_to = campaign.warmup_from
    pre_from = max(pre_to - test_days * DAY, first)
    pre_days = max(1, math.ceil((pre_to - pre_from) / DAY))
    buyers = np.fromiter(
        session.scalars(select(Buyer.id).where(Buyer.created_at < test_to).order_by(Buyer.id)),
        dtype=np.int64,
    )
    counted = and_(Order.paid_at.is_not(None), Order.status != OrderStatus.CANCELLED)
    in_pre = and_(Order.paid_at >= pre_from, Order.paid_at < pre_to)
    in_test = and_(Order.paid_at >= test_from, Order.paid_at < test_to)
    rows = np.array(
        session.execute(
            select(
                Order.buyer_id,
                func.coalesce(func.sum(case((in_pre, Order.paid_amount_fen), else_=0)), 0),
                func.coalesce(func.sum(case((in_test, Order.paid_amount_fen), else_=0)), 0),
            )
            .where(counted, Order.paid_at >= pre_from, Order.paid_at < test_to)
            .group_by(Order.buyer_id)
        ).all(),
        dtype=np.int64,
    ).reshape(-1, 3)
    pre = np.zeros(len(buyers), dtype=np.int64)
    test = np.zeros(len(buyers), dtype=np.int64)
    if len(rows) and len(buyers):
        at = np.searchsorted(buyers, rows[:, 0])
        known = (at < len(buyers)) & (buyers[np.minimum(at, len(buyers) - 1)] == rows[:, 0])
        pre[at[known]] = rows[known, 1]
        test[at[known]] = rows[known, 2]
    treated = ~rules.in_holdout(campaign.id, buyers, campaign.holdout_bps)
    try:
        estimate = did_cuped(
            pre,
            test,
            treated,
            pre_days=pre_days,
            test_days=test_days,
            population_units=int(treated.sum()),
            design=Design.BUYER_HOLDOUT,
            confidence=confidence,
        )
    except InvalidInput:
        return None  # fewer than two buyers in an arm: nothing to estimate
    return CampaignLift(estimate, campaign.holdout_bps, pre_from, pre_days)


def campaign_report(
    session: Session, campaign_id: int, *, as_of: datetime | None = None
) -> dict[str, Any]:
    """A campaign's results (:func:`~trustflow.campaigns.results.campaign_results`) with its
    incremental GMV (``incremental_gmv``: :meth:`CampaignLift.as_dict`, None without a
    holdout): what ``trustflow campaigns report``, the API and the demo's summary give."""
    figures = campaign_results(session, campaign_id).as_dict()
    lift = campaign_lift(session, campaign_id, as_of=as_of)
    figures["incremental_gmv"] = lift.as_dict() if lift is not None else None
    return figures
