"""The one place other contexts ask what a score allows.

Every answer is a :class:`Decision`: yes or no, a stable code and a sentence a merchant can
act on. The rules, as published in docs/scores.md:

- **No score is not a low score.** A shop, product or creator without orders in the window
  is treated like its category's average: it may receive rewards and be distributed, and may
  register for campaigns that ask for "good" or less.
- **Provisional scores are never penalised.** They are shown and used for tiers, but a
  restriction needs a scored status (see :data:`rules.PENALTY_MIN_DEFECTS`).
- **Restricted** (low tier, scored, and a metric past both the rate and the count
  threshold) closes rewards and distribution until the score recovers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from trustflow.catalog.models import Product
from trustflow.errors import NotFound
from trustflow.scoring import rules
from trustflow.scoring.models import EntityScore, ScoreKind, Tier
from trustflow.scoring.service import active_version, get_score

_RANK = {tier: i for i, (tier, _) in enumerate(rules.TIERS)}  # 0 = best


@dataclass(frozen=True)
class Decision:
    allowed: bool
    code: str
    reason: str


def _at_least(tier: Tier, required: Tier) -> bool:
    return _RANK[tier] <= _RANK[required]


def _describe(kind: ScoreKind, entity_id: int, score: EntityScore) -> str:
    status = "provisional " if score.status.value == "provisional" else ""
    return f"{kind.value} {entity_id} has a {status}score of {score.score:.1f} ({score.tier.value})"


def campaign_registration(
    session: Session, shop_id: int, *, min_tier: Tier = Tier.GOOD
) -> Decision:
    """May this shop register for a campaign that asks for ``min_tier`` or better?"""
    score = get_score(session, ScoreKind.STORE, shop_id)
    if score is None:
        if min_tier is Tier.EXCELLENT:
            return Decision(
                False,
                "no_score",
                f"shop {shop_id} has no score yet; this campaign "
                "needs a proven excellent store experience score",
            )
        return Decision(True, "no_score", f"shop {shop_id} has no score yet: new shops may enter")
    if score.restricted:
        return _unless_restricted(session, ScoreKind.STORE, shop_id)
    if _at_least(score.tier, min_tier):
        return Decision(True, "tier_met", _describe(ScoreKind.STORE, shop_id, score))
    return Decision(
        False,
        "tier_too_low",
        _describe(ScoreKind.STORE, shop_id, score) + f"; this campaign needs {min_tier.value}",
    )


def _unless_restricted(session: Session, kind: ScoreKind, entity_id: int) -> Decision:
    """Allowed unless the entity's score is restricted (no score: allowed, not held back)."""
    score = get_score(session, kind, entity_id)
    if score is None:
        return Decision(True, "no_score", f"{kind.value} {entity_id} has no score yet")
    if score.restricted:
        return Decision(
            False, "restricted", _describe(kind, entity_id, score) + " and is restricted"
        )
    return Decision(True, "eligible", _describe(kind, entity_id, score))


def reward_eligibility(session: Session, shop_id: int) -> Decision:
    """May this shop receive reward traffic or subsidies (the Chuanliu plan, campaign boosts)?"""
    return _unless_restricted(session, ScoreKind.STORE, shop_id)


def distribution_eligibility(session: Session, product_id: int) -> Decision:
    """May creators distribute this product? Neither it nor its shop may be restricted."""
    product = session.get(Product, product_id)
    if product is None:
        raise NotFound(f"product {product_id} not found")
    shop = reward_eligibility(session, product.shop_id)
    if not shop.allowed:
        return shop
    return _unless_restricted(session, ScoreKind.PRODUCT, product_id)


def creator_eligibility(session: Session, creator_id: int) -> Decision:
    """May this creator take on new distribution and receive reward traffic?"""
    return _unless_restricted(session, ScoreKind.CREATOR, creator_id)


def restricted(session: Session, kind: ScoreKind, ids: Iterable[int]) -> set[int]:
    """Which of ``ids`` are restricted in the active version (one query, for batch paths)."""
    version = active_version(session)
    wanted = sorted(set(ids))
    if version is None or not wanted:
        return set()
    found: set[int] = set()
    for start in range(0, len(wanted), 1000):
        found.update(
            session.scalars(
                select(EntityScore.entity_id).where(
                    EntityScore.version_id == version.id,
                    EntityScore.kind == kind,
                    EntityScore.restricted.is_(True),
                    EntityScore.entity_id.in_(wanted[start : start + 1000]),
                )
            )
        )
    return found
