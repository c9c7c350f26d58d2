"""The gates: one place to ask what a score allows, with a code and a reason."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from sqlalchemy.orm import Session

from tests import factories
from trustflow.accounts import service as accounts_service
from trustflow.distribution import bulk as distribution_bulk
from trustflow.distribution import service as distribution_service
from trustflow.errors import Conflict, ErrorCode
from trustflow.scoring import gates, rules
from trustflow.scoring import service as scoring
from trustflow.scoring.models import (
    EntityScore,
    ScoreKind,
    ScoreStatus,
    ScoreVersion,
    Tier,
    VersionState,
)

AT = datetime(2026, 3, 1, tzinfo=UTC)


def _publish(
    session: Session, *rows: tuple[ScoreKind, int, float, Tier, ScoreStatus, bool]
) -> None:
    version = ScoreVersion(as_of=AT, engine="test", state=VersionState.ACTIVE)
    session.add(version)
    session.flush()
    for kind, entity_id, score, tier, status, restricted in rows:
        session.add(
            EntityScore(
                version_id=version.id,
                kind=kind,
                entity_id=entity_id,
                score=score,
                lower=score - 5,
                upper=score + 5,
                sample=100,
                status=status,
                tier=tier,
                restricted=restricted,
                detail={},
            )
        )
    session.flush()


def test_a_restricted_shop_gets_no_rewards_campaigns_or_distribution(session: Session) -> None:
    cat = factories.category(session)
    bad = factories.seller(session, category_id=cat, name="Bad")
    creator, _ = factories.creator_selling(session, bad.product_id)
    offer = distribution_service.create_offer(
        session, product_id=bad.product_id, commission_bps=3000, valid_from=AT
    )
    _publish(session, (ScoreKind.STORE, bad.shop_id, 52.0, Tier.LOW, ScoreStatus.SCORED, True))

    assert gates.reward_eligibility(session, bad.shop_id).code == "restricted"
    assert not gates.campaign_registration(session, bad.shop_id).allowed
    decision = gates.distribution_eligibility(session, bad.product_id)
    assert not decision.allowed and "52.0" in decision.reason

    with pytest.raises(Conflict) as refused:
        distribution_service.select_offer(
            session, creator_id=creator, offer_id=offer.id, gate=gates.OFFER_GATE, at=AT
        )
    assert refused.value.code is ErrorCode.SCORE_RESTRICTED
    added = distribution_bulk.select_offers(
        session, np.array([creator]), np.array([offer.id]), gate=gates.OFFER_GATE, at=AT
    )
    assert added == 0  # the batch path applies the same rule


def test_provisional_and_unscored_shops_are_not_held_back(session: Session) -> None:
    cat = factories.category(session)
    new = factories.seller(session, category_id=cat, name="New")
    small = factories.seller(session, category_id=cat, name="Small")
    _publish(
        session, (ScoreKind.STORE, small.shop_id, 70.0, Tier.FAIR, ScoreStatus.PROVISIONAL, False)
    )

    assert gates.reward_eligibility(session, small.shop_id).allowed
    good_campaign = gates.campaign_registration(session, small.shop_id, min_tier=Tier.GOOD)
    assert (good_campaign.allowed, good_campaign.code) == (False, "tier_too_low")
    assert gates.campaign_registration(session, small.shop_id, min_tier=Tier.FAIR).allowed

    unscored = gates.campaign_registration(session, new.shop_id)
    assert (unscored.allowed, unscored.code) == (True, "no_score")
    assert not gates.campaign_registration(session, new.shop_id, min_tier=Tier.EXCELLENT).allowed
    assert gates.distribution_eligibility(session, new.product_id).allowed


def test_a_restricted_creator_takes_on_no_new_distribution(session: Session) -> None:
    cat = factories.category(session)
    good = factories.seller(session, category_id=cat)
    creator, _ = factories.creator_selling(session, good.product_id)
    offer = distribution_service.create_offer(
        session, product_id=good.product_id, commission_bps=2500, valid_from=AT
    )
    _publish(session, (ScoreKind.CREATOR, creator, 40.0, Tier.LOW, ScoreStatus.SCORED, True))
    decision = gates.creator_eligibility(session, creator)
    assert decision.code == "restricted"
    with pytest.raises(Conflict) as refused:
        distribution_service.select_offer(
            session, creator_id=creator, offer_id=offer.id, gate=gates.OFFER_GATE, at=AT
        )
    assert refused.value.code is ErrorCode.SCORE_RESTRICTED
    assert refused.value.message == decision.reason
    added = distribution_bulk.select_offers(
        session, np.array([creator]), np.array([offer.id]), gate=gates.OFFER_GATE, at=AT
    )
    assert added == 0


def test_a_restricted_product_is_not_distributed_though_its_shop_is_fine(
    session: Session,
) -> None:
    cat = factories.category(session)
    shop = factories.seller(session, category_id=cat, name="Shop")
    other = factories.seller(session, category_id=cat, name="Other")
    creator = accounts_service.create_creator(session, name="Creator").id
    refused_offer, fine_offer = (
        distribution_service.create_offer(
            session, product_id=product, commission_bps=2000, valid_from=AT
        ).id
        for product in (shop.product_id, other.product_id)
    )
    _publish(
        session, (ScoreKind.PRODUCT, shop.product_id, 45.0, Tier.LOW, ScoreStatus.SCORED, True)
    )
    decision = gates.distribution_eligibility(session, shop.product_id)
    assert (decision.allowed, decision.code) == (False, "restricted")

    with pytest.raises(Conflict) as refused:
        distribution_service.select_offer(
            session, creator_id=creator, offer_id=refused_offer, gate=gates.OFFER_GATE, at=AT
        )
    assert (refused.value.code, refused.value.message) == (
        ErrorCode.SCORE_RESTRICTED,
        decision.reason,
    )
    added = distribution_bulk.select_offers(
        session,
        np.array([creator, creator]),
        np.array([refused_offer, fine_offer]),
        gate=gates.OFFER_GATE,
        at=AT,
    )
    assert added == 1  # the fine offer only: the batch path applies the same rule


def _publish_sampled(
    session: Session, shop_id: int, score: float, tier: Tier, status: ScoreStatus, sample: int
) -> None:
    _publish(session, (ScoreKind.STORE, shop_id, score, tier, status, False))
    row = scoring.get_score(session, ScoreKind.STORE, shop_id)
    assert row is not None
    row.sample = sample
    session.flush()


def test_a_provisional_excellent_is_not_a_proven_excellent(session: Session) -> None:
    cat = factories.category(session)
    lucky = factories.seller(session, category_id=cat, name="Lucky")
    _publish_sampled(session, lucky.shop_id, 100.0, Tier.EXCELLENT, ScoreStatus.PROVISIONAL, 1)

    refused = gates.campaign_registration(session, lucky.shop_id, min_tier=Tier.EXCELLENT)

    assert (refused.allowed, refused.code) == (False, "score_provisional")
    needed = rules.STORE.min_sample
    assert "on 1 paid order;" in refused.reason
    assert (
        f"{needed - 1} more paid orders" in refused.reason
        and f"({needed} in all)" in refused.reason
    )
    assert f"还需 {needed - 1} 笔" in refused.reason_zh and f"共 {needed} 笔" in refused.reason_zh
    assert "100.0" in refused.reason_zh and "考核中" in refused.reason_zh
    # lower bars keep today's rule: a provisional tier counts as it is
    good = gates.campaign_registration(session, lucky.shop_id, min_tier=Tier.GOOD)
    assert (good.allowed, good.code) == (True, "tier_met")


def test_a_scored_excellent_enters_a_campaign_that_asks_for_excellent(session: Session) -> None:
    cat = factories.category(session)
    proven = factories.seller(session, category_id=cat, name="Proven")
    _publish_sampled(session, proven.shop_id, 93.5, Tier.EXCELLENT, ScoreStatus.SCORED, 120)

    decision = gates.campaign_registration(session, proven.shop_id, min_tier=Tier.EXCELLENT)

    assert (decision.allowed, decision.code) == (True, "tier_met")
    assert decision.reason == f"store {proven.shop_id} has a score of 93.5 (excellent)"
    assert decision.reason_zh == f"店铺 {proven.shop_id} 的评分为 93.5（优秀）"


def test_every_refusal_has_a_chinese_reason_with_the_same_numbers(session: Session) -> None:
    cat = factories.category(session)
    fair = factories.seller(session, category_id=cat, name="Fair")
    bad = factories.seller(session, category_id=cat, name="Bad")
    new = factories.seller(session, category_id=cat, name="New")
    _publish(
        session,
        (ScoreKind.STORE, fair.shop_id, 71.2, Tier.FAIR, ScoreStatus.SCORED, False),
        (ScoreKind.STORE, bad.shop_id, 52.0, Tier.LOW, ScoreStatus.SCORED, True),
    )

    too_low = gates.campaign_registration(session, fair.shop_id, min_tier=Tier.GOOD)
    restricted = gates.reward_eligibility(session, bad.shop_id)
    unscored = gates.campaign_registration(session, new.shop_id, min_tier=Tier.EXCELLENT)

    assert too_low.reason_zh == f"店铺 {fair.shop_id} 的评分为 71.2（一般）；该活动要求良好"
    assert restricted.reason_zh == f"店铺 {bad.shop_id} 的评分为 52.0（较差），已受限"
    assert unscored.code == "no_score" and f"店铺 {new.shop_id} 暂无评分" in unscored.reason_zh
