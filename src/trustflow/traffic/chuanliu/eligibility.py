"""Who qualifies for the Chuanliu plan on a day, and at which tier.

- :func:`eligibility`: one :class:`~trustflow.traffic.chuanliu.rules.ChuanliuDecision` per
  shop, each condition with its observed number and threshold;
- :func:`assess`: the tier of each eligible goods owner and its three dimension points.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from datetime import date

from sqlalchemy.orm import Session

from trustflow.catalog.models import ShopStatus
from trustflow.config import Settings, get_settings
from trustflow.governance import penalties
from trustflow.scoring import gates
from trustflow.traffic.chuanliu.facts import Facts, gather, read_store_tiers, windows_of
from trustflow.traffic.chuanliu.rules import (
    RULES,
    ChuanliuDecision,
    Condition,
    DecisionCode,
    TierAssessment,
)
from trustflow.units import HOUR

__all__ = ["assess", "assess_facts", "decide", "eligibility"]

# Eligibility ----------------------------------------------------------------------------------

#: the violation points that end a shop's reward traffic: a campaign ban's
BAN_POINTS = penalties.points_of(penalties.PenaltyLevel.CAMPAIGN_BAN)


def decide(session: Session, facts: Facts, settings: Settings) -> list[ChuanliuDecision]:
    w = facts.windows
    min_creators = settings.chuanliu_min_distributing_creators
    min_days = settings.chuanliu_min_live_days
    decisions = []
    for shop_id, status in facts.shop_status.items():
        creators = len(facts.distribution.get(shop_id, {}))
        live_days = facts.live.get(shop_id, (0, 0.0))[0]
        active = status is ShopStatus.ACTIVE
        restricted = shop_id in facts.restricted
        standing = facts.penalties.get(shop_id)
        penalised = standing is not None and standing.at_least(penalties.PenaltyLevel.CAMPAIGN_BAN)
        points = 0 if standing is None else standing.points
        score_reason = (
            gates.reward_eligibility(session, shop_id).reason
            if restricted
            else "the store experience score does not restrict reward traffic"
        )
        decisions.append(
            ChuanliuDecision(
                shop_id=shop_id,
                day=w.day,
                conditions=(
                    Condition(
                        DecisionCode.SHOP_NOT_ACTIVE,
                        active,
                        status.value,
                        ShopStatus.ACTIVE.value,
                        f"the shop is {status.value}"
                        + ("" if active else "; only active shops earn reward traffic"),
                    ),
                    Condition(
                        DecisionCode.SCORE_RESTRICTED,
                        not restricted,
                        "restricted" if restricted else "not restricted",
                        "not restricted",
                        score_reason,
                    ),
                    Condition(
                        DecisionCode.UNDER_PENALTY,
                        not penalised,
                        points,
                        f"under {BAN_POINTS}",
                        f"the shop carries {points} violation points"
                        + (
                            f" (a campaign ban from {BAN_POINTS}): no reward traffic"
                            if penalised
                            else ""
                        ),
                    ),
                    Condition(
                        DecisionCode.TOO_FEW_DISTRIBUTING_CREATORS,
                        creators >= min_creators,
                        creators,
                        min_creators,
                        f"{creators} creator(s) sold the shop's goods in the "
                        f"{w.distribution_days} days before {w.day} (needs {min_creators})",
                    ),
                    Condition(
                        DecisionCode.TOO_FEW_LIVE_DAYS,
                        live_days >= min_days,
                        live_days,
                        min_days,
                        f"the shop went live on {live_days} of the {w.live_days} days before "
                        f"{w.day} (needs {min_days})",
                    ),
                ),
            )
        )
    return decisions


def eligibility(
    session: Session, day: date, *, shop_id: int | None = None, settings: Settings | None = None
) -> list[ChuanliuDecision]:
    """Which goods owners qualify for Chuanliu reward traffic on ``day``, and why: every shop
    (or only ``shop_id``, :class:`NotFound` if there is no such shop), by shop id."""
    s = settings or get_settings()
    facts = gather(session, windows_of(day, s), shop_id=shop_id)
    return decide(session, facts, s)


# Tiers ----------------------------------------------------------------------------------------


def _saturation(value: float, median: float) -> float:
    """value ÷ (value + median): 0.5 at the median, approaching 1 far above it."""
    return value / (value + max(median, 1.0)) if value > 0 else 0.0


def assess_facts(
    session: Session, facts: Facts, decisions: Sequence[ChuanliuDecision]
) -> list[TierAssessment]:
    rules, w = RULES, facts.windows
    eligible = [d.shop_id for d in decisions if d.eligible]
    if not eligible:
        return []
    creators = {s: len(facts.distribution[s]) for s in eligible}
    gmv = {s: sum(facts.distribution[s].values()) for s in eligible}
    median_creators = statistics.median(creators.values())
    median_gmv = statistics.median(gmv.values())
    store_tiers = read_store_tiers(session, eligible)
    target_hours = w.live_days * rules.target_live_hours_per_day
    assessments = []
    for shop_id in eligible:
        live_days, seconds = facts.live.get(shop_id, (0, 0.0))
        hours = seconds / HOUR
        current, previous = facts.self_broadcast.get(shop_id, (0, 0))
        diligence = 100 * (
            rules.live_days_share * live_days / w.live_days
            + (1 - rules.live_days_share) * min(hours / target_hours, 1.0)
        )
        distribution = 100 * (
            rules.creators_share * _saturation(creators[shop_id], median_creators)
            + (1 - rules.creators_share) * _saturation(gmv[shop_id], median_gmv)
        )
        growth = (current - previous) / max(previous, rules.growth_floor_fen)
        increment = 50 * (1 + min(max(growth, -1.0), 1.0))
        points = round(
            rules.diligence_weight * diligence
            + rules.distribution_weight * distribution
            + rules.increment_weight * increment,
            2,
        )
        tier = rules.tier_of(points)
        store_tier = store_tiers.get(shop_id)
        assessments.append(
            TierAssessment(
                shop_id=shop_id,
                live_days=live_days,
                live_hours=round(hours, 2),
                distributing_creators=creators[shop_id],
                distribution_gmv_fen=gmv[shop_id],
                self_broadcast_gmv_fen=current,
                previous_self_broadcast_gmv_fen=previous,
                diligence=round(diligence, 2),
                distribution=round(distribution, 2),
                increment=round(increment, 2),
                points=points,
                tier=tier,
                store_tier=store_tier,
                weight=rules.tier_weight(tier) * rules.store_multiplier(store_tier),
            )
        )
    return assessments


def assess(
    session: Session, day: date, *, settings: Settings | None = None
) -> list[TierAssessment]:
    """The tier of every goods owner that qualifies on ``day``, with its three dimensions."""
    s = settings or get_settings()
    facts = gather(session, windows_of(day, s))
    return assess_facts(session, facts, decide(session, facts, s))
