"""The one place other contexts ask what a score allows.

Every answer is a :class:`GateDecision`: yes or no, a stable code and a sentence a merchant can
act on. The rules, as published in docs/scores.md:

- **No score is not a low score.** A shop, product or creator without orders in the window
  is treated like its category's average: it may receive rewards and be distributed, and may
  register for campaigns that ask for "good" or less.
- **Provisional scores are never penalised.** They are shown and used for tiers, but a
  restriction needs a scored status (see :data:`rules.PENALTY_MIN_DEFECTS`).
- **A provisional score is not a proven one.** A campaign that asks for excellent needs a
  scored (not provisional) excellent: a provisional excellent is refused with
  ``score_provisional`` and told how many more paid orders it needs. Lower bars take
  provisional tiers as they are.
- **Restricted** (low tier, scored, and a metric past both the rate and the count
  threshold) closes rewards and distribution until the score recovers. Distribution asks
  through :data:`OFFER_GATE`, which callers hand to its picks of offers.

Every reason is given in English (``reason``) and in Chinese (``reason_zh``), with the same
numbers, so the score page can show either.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from trustflow.bulk import fetch_map, table
from trustflow.catalog.models import Product
from trustflow.distribution.gate import OfferGate
from trustflow.errors import NotFound
from trustflow.scoring import rules
from trustflow.scoring.models import EntityScore, ScoreKind, ScoreStatus, Tier
from trustflow.scoring.service import active_version, get_score

_RANK = {tier: i for i, (tier, _) in enumerate(rules.TIERS)}  # 0 = best
_KIND_ZH = {ScoreKind.STORE: "店铺", ScoreKind.PRODUCT: "商品", ScoreKind.CREATOR: "达人"}
_TIER_ZH = {Tier.EXCELLENT: "优秀", Tier.GOOD: "良好", Tier.FAIR: "一般", Tier.LOW: "较差"}


@dataclass(frozen=True)
class GateDecision:
    """A score gate's answer: whether the shop, product or creator may take part, and why."""

    allowed: bool
    code: str
    reason: str
    reason_zh: str


def _at_least(tier: Tier, required: Tier) -> bool:
    return _RANK[tier] <= _RANK[required]


def _provisional(score: EntityScore) -> bool:
    return score.status is ScoreStatus.PROVISIONAL


def _describe(kind: ScoreKind, entity_id: int, score: EntityScore) -> str:
    status = "provisional " if _provisional(score) else ""
    return f"{kind.value} {entity_id} has a {status}score of {score.score:.1f} ({score.tier.value})"


def _describe_zh(kind: ScoreKind, entity_id: int, score: EntityScore) -> str:
    status = "，考核中" if _provisional(score) else ""
    tier = _TIER_ZH[score.tier]
    return f"{_KIND_ZH[kind]} {entity_id} 的评分为 {score.score:.1f}（{tier}{status}）"


def _paid_orders(n: int, more: str = "") -> str:
    return f"{n} {more}paid order{'' if n == 1 else 's'}"


def campaign_registration(
    session: Session, shop_id: int, *, min_tier: Tier = Tier.GOOD
) -> GateDecision:
    """May this shop register for a campaign that asks for ``min_tier`` or better?"""
    score = get_score(session, ScoreKind.STORE, shop_id)
    if score is None:
        if min_tier is Tier.EXCELLENT:
            return GateDecision(
                False,
                "no_score",
                f"shop {shop_id} has no score yet; this campaign "
                "needs a proven excellent store experience score",
                f"店铺 {shop_id} 暂无评分；该活动要求已证实的优秀店铺体验分",
            )
        return GateDecision(
            True,
            "no_score",
            f"shop {shop_id} has no score yet: new shops may enter",
            f"店铺 {shop_id} 暂无评分：新店可以报名",
        )
    if score.restricted:
        return _unless_restricted(session, ScoreKind.STORE, shop_id)
    described = _describe(ScoreKind.STORE, shop_id, score)
    described_zh = _describe_zh(ScoreKind.STORE, shop_id, score)
    if min_tier is Tier.EXCELLENT and _provisional(score):
        needed = rules.STORE.min_sample
        more = max(1, needed - score.sample)
        return GateDecision(
            False,
            "score_provisional",
            f"{described} on {_paid_orders(score.sample)}; this campaign needs a proven "
            f"excellent score: {_paid_orders(more, 'more ')} in the window ({needed} in all)",
            f"{described_zh}，基于 {score.sample} 笔已付款订单；该活动要求已证实的优秀评分："
            f"窗口内还需 {more} 笔已付款订单（共 {needed} 笔）",
        )
    if _at_least(score.tier, min_tier):
        return GateDecision(True, "tier_met", described, described_zh)
    return GateDecision(
        False,
        "tier_too_low",
        described + f"; this campaign needs {min_tier.value}",
        described_zh + f"；该活动要求{_TIER_ZH[min_tier]}",
    )


def _unless_restricted(session: Session, kind: ScoreKind, entity_id: int) -> GateDecision:
    """Allowed unless the entity's score is restricted (no score: allowed, not held back)."""
    score = get_score(session, kind, entity_id)
    if score is None:
        return GateDecision(
            True,
            "no_score",
            f"{kind.value} {entity_id} has no score yet",
            f"{_KIND_ZH[kind]} {entity_id} 暂无评分",
        )
    if score.restricted:
        return GateDecision(
            False,
            "restricted",
            _describe(kind, entity_id, score) + " and is restricted",
            _describe_zh(kind, entity_id, score) + "，已受限",
        )
    return GateDecision(
        True, "eligible", _describe(kind, entity_id, score), _describe_zh(kind, entity_id, score)
    )


def reward_eligibility(session: Session, shop_id: int) -> GateDecision:
    """May this shop receive reward traffic or subsidies (the Chuanliu plan, campaign boosts)?"""
    return _unless_restricted(session, ScoreKind.STORE, shop_id)


def distribution_eligibility(session: Session, product_id: int) -> GateDecision:
    """May creators distribute this product? Neither it nor its shop may be restricted."""
    product = session.get(Product, product_id)
    if product is None:
        raise NotFound(f"product {product_id} not found")
    shop = reward_eligibility(session, product.shop_id)
    if not shop.allowed:
        return shop
    return _unless_restricted(session, ScoreKind.PRODUCT, product_id)


def creator_eligibility(session: Session, creator_id: int) -> GateDecision:
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


class ReputationOfferGate:
    """Distribution's :class:`~trustflow.distribution.gate.OfferGate`, by the scores: a creator
    may take on a product unless the creator, the product or the product's shop is restricted."""

    def refusal(self, session: Session, *, creator_id: int, product_id: int) -> str | None:
        decision = distribution_eligibility(session, product_id)
        if decision.allowed:
            decision = creator_eligibility(session, creator_id)
        return None if decision.allowed else decision.reason

    def refused_pairs(
        self, session: Session, pairs: Collection[tuple[int, int]]
    ) -> set[tuple[int, int]]:
        if active_version(session) is None:
            return set()
        products = table(Product)
        product_shop = {
            p: row[1]
            for p, row in fetch_map(
                session,
                select(products.c.id, products.c.shop_id),
                products.c.id,
                sorted({p for _, p in pairs}),
            ).items()
        }
        bad_creators = restricted(session, ScoreKind.CREATOR, [c for c, _ in pairs])
        bad_products = restricted(session, ScoreKind.PRODUCT, product_shop)
        bad_shops = restricted(session, ScoreKind.STORE, product_shop.values())
        return {
            (c, p)
            for c, p in pairs
            if c in bad_creators or p in bad_products or product_shop[p] in bad_shops
        }


#: The gate every pick of an offer passes: the one-at-a-time and the set-based path alike.
OFFER_GATE: OfferGate = ReputationOfferGate()
