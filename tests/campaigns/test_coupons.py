"""Coupons: what each kind takes off, each refusal's numbers, and the claim's life."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests import factories
from tests.integration.test_concurrency import _run_together
from trustflow.campaigns import coupons, rules
from trustflow.campaigns.models import (
    ClaimStatus,
    Coupon,
    CouponClaim,
    CouponEvent,
    CouponIssuer,
    CouponKind,
)
from trustflow.db import transaction
from trustflow.errors import Conflict, ErrorCode, IllegalTransition, InvalidInput, NotFound

T0 = datetime(2026, 9, 28, tzinfo=UTC)


def spec(**overrides: object) -> coupons.CouponSpec:
    values: dict[str, object] = {
        "name": "116 platform coupon",
        "issuer": CouponIssuer.PLATFORM,
        "kind": CouponKind.FULL_REDUCTION,
        "threshold_fen": 9_900,
        "amount_fen": 1_000,
        "budget_fen": 5_000,
        "budget_count": 100,
        "valid_from": T0,
        "valid_to": T0 + timedelta(days=44),
    }
    return coupons.CouponSpec(**(values | overrides))  # type: ignore[arg-type]


def terms(kind: CouponKind, threshold: int = 0, amount: int = 0, bps: int = 0) -> rules.CouponTerms:
    return rules.CouponTerms(kind, threshold, amount, bps)


def test_each_kind_takes_off_what_its_terms_say_in_whole_fen() -> None:
    assert rules.discount_fen(terms(CouponKind.FULL_REDUCTION, 9_900, 1_000), 9_900) == 1_000
    # 15% off 33.33 is 4.9995: the buyer gets 4.99, never a fraction the budget did not hold
    assert rules.discount_fen(terms(CouponKind.DISCOUNT, bps=1_500), 3_333) == 499
    assert rules.discount_fen(terms(CouponKind.DISCOUNT, amount=2_000, bps=1_500), 50_000) == 2_000
    # a fixed coupon never takes off more than the goods
    assert rules.discount_fen(terms(CouponKind.FIXED, amount=1_000), 600) == 600


def test_below_the_threshold_the_refusal_names_both_amounts() -> None:
    with pytest.raises(rules.CouponNotApplicable) as refused:
        rules.discount_fen(terms(CouponKind.FULL_REDUCTION, 9_900, 1_000), 8_900)
    assert refused.value.code is ErrorCode.COUPON_THRESHOLD_NOT_MET
    assert refused.value.message == "goods 89.00 < threshold 99.00"


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"amount_fen": 0}, "needs amount_fen above 0"),
        ({"threshold_fen": 1_000}, "threshold 1000 must exceed its amount 1000"),
        ({"kind": CouponKind.DISCOUNT, "discount_bps": 10_000}, "not within 1..9999"),
        ({"issuer": CouponIssuer.MERCHANT}, "a merchant coupon names its shop"),
        ({"valid_to": T0}, "valid_to is not after valid_from"),
        ({"budget_fen": -1}, "a budget is negative"),
    ],
)
def test_a_coupon_that_could_not_work_is_refused_with_the_reason(
    session: Session, overrides: dict[str, object], problem: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        coupons.create_coupon(session, spec(**overrides), actor="operator:1")
    assert problem in refused.value.message


def test_a_date_in_year_9999_is_refused_as_out_of_range(session: Session) -> None:
    with pytest.raises(InvalidInput) as refused:
        coupons.create_coupon(
            session, spec(valid_to=datetime(9999, 12, 31, tzinfo=UTC)), actor="operator:1"
        )
    assert refused.value.code is ErrorCode.TIME_OUT_OF_RANGE


def test_a_claim_lives_claimed_reserved_redeemed_refunded_and_the_budget_follows(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as s:
        buyer = factories.buyer(s)
        coupon_id = coupons.create_coupon(s, spec(), actor="operator:1").id
    with transaction(factory) as s:
        claim = coupons.claim_coupon(
            s, coupon_id=coupon_id, buyer_id=buyer, idempotency_key="c1", at=T0
        )
        claim_id = claim.id
    with transaction(factory) as s:
        reserved = coupons.reserve_claim(
            s, claim_id=claim_id, buyer_id=buyer, goods_fen=12_000, checkout_id=None, at=T0
        )
        assert (reserved.status, reserved.amount_fen) == (ClaimStatus.RESERVED, 1_000)
    with factory() as s:
        assert s.get_one(Coupon, coupon_id).committed_fen == 1_000
    with transaction(factory) as s:
        coupons.redeem_claim(s, claim_id=claim_id, at=T0)
    with transaction(factory) as s:
        refunded = coupons.refund_claim(s, claim_id=claim_id, at=T0)
        assert refunded.status is ClaimStatus.REFUNDED
    with transaction(factory) as s:  # a retried refund returns nothing more
        coupons.refund_claim(s, claim_id=claim_id, at=T0)
    with factory() as s:
        coupon = s.get_one(Coupon, coupon_id)
        assert (coupon.committed_fen, coupon.committed_count) == (0, 0)
        actions = s.scalars(
            select(CouponEvent.action)
            .where(CouponEvent.claim_id == claim_id)
            .order_by(CouponEvent.id)
        ).all()
        assert actions == ["claim", "reserve", "redeem", "refund"]


def test_a_cancelled_checkout_gives_the_coupon_back_to_the_buyer_and_the_budget(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as s:
        buyer = factories.buyer(s)
        coupon_id = coupons.create_coupon(s, spec(), actor="operator:1").id
        claim_id = coupons.claim_coupon(
            s, coupon_id=coupon_id, buyer_id=buyer, idempotency_key="c1", at=T0
        ).id
        coupons.reserve_claim(
            s, claim_id=claim_id, buyer_id=buyer, goods_fen=10_000, checkout_id=None, at=T0
        )
    with transaction(factory) as s:
        released = coupons.release_claim(s, claim_id=claim_id, at=T0)
        assert (released.status, released.amount_fen) == (ClaimStatus.CLAIMED, 0)
        assert s.get_one(Coupon, coupon_id).committed_fen == 0
    with transaction(factory) as s:  # and the buyer can use it again
        again = coupons.reserve_claim(
            s, claim_id=claim_id, buyer_id=buyer, goods_fen=10_000, checkout_id=None, at=T0
        )
        assert again.status is ClaimStatus.RESERVED


def test_the_budget_refuses_the_reservation_it_cannot_cover_and_the_claim_stays_usable(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as s:
        buyers = [factories.buyer(s, f"b{i}") for i in range(2)]
        coupon_id = coupons.create_coupon(s, spec(budget_fen=1_500), actor="operator:1").id
        claims = [
            coupons.claim_coupon(s, coupon_id=coupon_id, buyer_id=b, idempotency_key="k", at=T0).id
            for b in buyers
        ]
    with transaction(factory) as s:
        coupons.reserve_claim(
            s, claim_id=claims[0], buyer_id=buyers[0], goods_fen=10_000, checkout_id=None, at=T0
        )
    with pytest.raises(Conflict) as refused, transaction(factory) as s:
        coupons.reserve_claim(
            s, claim_id=claims[1], buyer_id=buyers[1], goods_fen=10_000, checkout_id=None, at=T0
        )
    assert refused.value.code is ErrorCode.COUPON_BUDGET_EXHAUSTED
    with factory() as s:
        assert s.get_one(Coupon, coupon_id).committed_fen == 1_000
        assert coupons_status(s, claims[1]) is ClaimStatus.CLAIMED


def coupons_status(s: Session, claim_id: int) -> ClaimStatus:
    return s.get_one(CouponClaim, claim_id).status


def test_a_buyer_cannot_spend_another_buyers_claim(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as s:
        owner, thief = factories.buyer(s, "owner"), factories.buyer(s, "thief")
        coupon_id = coupons.create_coupon(s, spec(), actor="operator:1").id
        claim_id = coupons.claim_coupon(
            s, coupon_id=coupon_id, buyer_id=owner, idempotency_key="k", at=T0
        ).id
    with pytest.raises(NotFound), transaction(factory) as s:
        coupons.reserve_claim(
            s, claim_id=claim_id, buyer_id=thief, goods_fen=10_000, checkout_id=None, at=T0
        )


def test_the_limit_per_buyer_holds_and_a_retry_returns_the_first_claim(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as s:
        buyer = factories.buyer(s)
        coupon_id = coupons.create_coupon(s, spec(per_buyer_limit=2), actor="operator:1").id
    with transaction(factory) as s:
        first = coupons.claim_coupon(
            s, coupon_id=coupon_id, buyer_id=buyer, idempotency_key="a", at=T0
        ).id
        assert (
            coupons.claim_coupon(
                s, coupon_id=coupon_id, buyer_id=buyer, idempotency_key="a", at=T0
            ).id
            == first
        )
        coupons.claim_coupon(s, coupon_id=coupon_id, buyer_id=buyer, idempotency_key="b", at=T0)
    with pytest.raises(Conflict) as refused, transaction(factory) as s:
        coupons.claim_coupon(s, coupon_id=coupon_id, buyer_id=buyer, idempotency_key="c", at=T0)
    assert refused.value.code is ErrorCode.COUPON_LIMIT_REACHED


def test_outside_its_validity_a_coupon_is_refused_with_its_window(session: Session) -> None:
    buyer = factories.buyer(session)
    coupon_id = coupons.create_coupon(session, spec(), actor="operator:1").id
    with pytest.raises(rules.CouponNotApplicable) as refused:
        coupons.claim_coupon(
            session,
            coupon_id=coupon_id,
            buyer_id=buyer,
            idempotency_key="k",
            at=T0 - timedelta(seconds=1),
        )
    assert refused.value.code is ErrorCode.COUPON_NOT_VALID_NOW
    assert refused.value.details["valid_from"] == T0.isoformat()


def test_unused_claims_expire_with_their_coupon_and_a_reserved_one_cannot_be_redeemed_twice(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as s:
        buyer = factories.buyer(s)
        coupon_id = coupons.create_coupon(s, spec(per_buyer_limit=2), actor="operator:1").id
        unused = coupons.claim_coupon(
            s, coupon_id=coupon_id, buyer_id=buyer, idempotency_key="a", at=T0
        ).id
        used = coupons.claim_coupon(
            s, coupon_id=coupon_id, buyer_id=buyer, idempotency_key="b", at=T0
        ).id
        coupons.reserve_claim(
            s, claim_id=used, buyer_id=buyer, goods_fen=10_000, checkout_id=None, at=T0
        )
    with transaction(factory) as s:
        assert coupons.expire_claims(s, at=T0 + timedelta(days=44)) == 1
        assert coupons_status(s, unused) is ClaimStatus.EXPIRED
        with pytest.raises(IllegalTransition):
            coupons.refund_claim(s, claim_id=used, at=T0)


def test_a_coupon_that_would_take_nothing_off_is_not_used_up(session: Session) -> None:
    buyer = factories.buyer(session)
    coupon_id = coupons.create_coupon(
        session,
        spec(kind=CouponKind.DISCOUNT, threshold_fen=0, amount_fen=0, discount_bps=1_000),
        actor="operator:1",
    ).id
    claim_id = coupons.claim_coupon(
        session, coupon_id=coupon_id, buyer_id=buyer, idempotency_key="k", at=T0
    ).id
    with pytest.raises(Conflict) as refused:  # 10% of 0.09 is less than a fen
        coupons.reserve_claim(
            session, claim_id=claim_id, buyer_id=buyer, goods_fen=9, checkout_id=None, at=T0
        )
    assert refused.value.code is ErrorCode.COUPON_NOT_APPLICABLE
    assert refused.value.message == f"coupon {coupon_id} takes nothing off goods 0.09"
    assert session.get_one(Coupon, coupon_id).committed_count == 0


def test_issuing_again_with_the_same_key_returns_the_first_coupon(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as s:
        first = coupons.create_coupon(s, spec(), actor="operator:1", idempotency_key="k1").id
    with transaction(factory) as s:
        again = coupons.create_coupon(s, spec(), actor="operator:1", idempotency_key="k1").id
        # another operator's key is its own
        theirs = coupons.create_coupon(s, spec(), actor="operator:2", idempotency_key="k1").id
    with pytest.raises(Conflict) as reused, transaction(factory) as s:
        coupons.create_coupon(s, spec(budget_fen=9_000), actor="operator:1", idempotency_key="k1")
    assert again == first != theirs
    assert reused.value.code is ErrorCode.IDEMPOTENCY_KEY_REUSED
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(Coupon)) == 2
        created = select(func.count()).where(CouponEvent.action == "create")
        assert s.scalar(created) == 2


def test_ten_concurrent_retries_of_one_key_issue_one_coupon(
    factory: sessionmaker[Session],
) -> None:
    def issue(_: int) -> int:
        with transaction(factory) as s:
            return coupons.create_coupon(s, spec(), actor="operator:1", idempotency_key="k").id

    ids = _run_together(10, issue)

    assert len(set(ids)) == 1 and all(isinstance(i, int) for i in ids), ids
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(Coupon)) == 1
