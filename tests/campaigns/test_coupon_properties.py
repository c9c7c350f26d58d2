"""Whatever buyers and jobs do, in whatever order, a coupon's budget and the subsidy budget
of the campaign paying for it add up, and no buyer holds more than its limit (a Hypothesis
state machine over claim, reserve, redeem, cancel, timeout, refund and expiry, checked after
every step)."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests import factories
from trustflow.campaigns import coupons, festivals
from trustflow.campaigns.models import (
    Campaign,
    ClaimStatus,
    Coupon,
    CouponClaim,
    CouponHolding,
    CouponKind,
)
from trustflow.db import make_engine, session_factory, transaction
from trustflow.errors import TrustflowError

from .test_coupons import T0, spec

BUYERS = 3
LIMIT = 2
BUDGET_FEN = 3_500
BUDGET_COUNT = 4
#: the campaign paying for the coupon holds less than the coupon's own budget
SUBSIDY_FEN = 2_500
HELD = (ClaimStatus.RESERVED, ClaimStatus.REDEEMED)


class CouponMachine(RuleBasedStateMachine):
    #: a migrated empty store to copy, and where the copies go (set by the test)
    template: Path
    workdir: Path

    def __init__(self) -> None:
        super().__init__()
        path = self.workdir / f"machine-{id(self)}.db"
        shutil.copy(self.template, path)
        self.engine = make_engine(f"sqlite:///{path}")
        self.factory: sessionmaker[Session] = session_factory(self.engine)
        self.now = T0
        with transaction(self.factory) as s:
            self.buyers = [factories.buyer(s, f"b{i}") for i in range(BUYERS)]
            self.campaign_id = festivals.create_campaign(
                s,
                festivals.CampaignSpec(
                    name="116",
                    registration_from=T0 - timedelta(days=30),
                    registration_to=T0 - timedelta(days=20),
                    warmup_from=T0 - timedelta(days=10),
                    main_from=T0,
                    main_to=T0 + timedelta(days=3),
                    subsidy_budget_fen=SUBSIDY_FEN,
                ),
                actor="operator:1",
                at=T0,
            ).id
            self.coupon_id = coupons.create_coupon(
                s,
                spec(
                    kind=CouponKind.DISCOUNT,
                    threshold_fen=0,
                    amount_fen=1_500,
                    discount_bps=2_000,
                    budget_fen=BUDGET_FEN,
                    budget_count=BUDGET_COUNT,
                    per_buyer_limit=LIMIT,
                    valid_to=T0 + timedelta(days=3),
                    campaign_id=self.campaign_id,
                ),
                actor="operator:1",
            ).id
        self.keys = 0

    def teardown(self) -> None:
        self.engine.dispose()

    def _try(self, action: str, **kwargs: object) -> None:
        try:
            with transaction(self.factory) as s:
                getattr(coupons, action)(s, at=self.now, **kwargs)
        except TrustflowError:
            pass  # a refusal is an answer; the invariants say whether it was right

    def _claims(self) -> list[CouponClaim]:
        with self.factory() as s:
            return list(s.scalars(select(CouponClaim).order_by(CouponClaim.id)))

    @rule(buyer=st.integers(0, BUYERS - 1))
    def claim(self, buyer: int) -> None:
        self.keys += 1
        self._try(
            "claim_coupon",
            coupon_id=self.coupon_id,
            buyer_id=self.buyers[buyer],
            idempotency_key=f"k{self.keys}",
        )

    @rule(pick=st.integers(0, 20), goods_fen=st.integers(0, 20_000), as_owner=st.booleans())
    def reserve(self, pick: int, goods_fen: int, as_owner: bool) -> None:
        claims = self._claims()
        if claims:
            claim = claims[pick % len(claims)]
            buyer = claim.buyer_id if as_owner else self.buyers[0]
            self._try(
                "reserve_claim",
                claim_id=claim.id,
                buyer_id=buyer,
                goods_fen=goods_fen,
                checkout_id=None,
            )

    @rule(pick=st.integers(0, 20), action=st.sampled_from(["redeem", "release", "refund"]))
    def settle(self, pick: int, action: str) -> None:
        """Payment, cancellation or checkout timeout (a release), refund."""
        claims = self._claims()
        if claims:
            self._try(f"{action}_claim", claim_id=claims[pick % len(claims)].id)

    @rule(hours=st.integers(1, 48))
    def time_passes(self, hours: int) -> None:
        self.now += timedelta(hours=hours)
        with transaction(self.factory) as s:
            coupons.expire_claims(s, at=self.now)

    @invariant()
    def the_budget_adds_up(self) -> None:
        with self.factory() as s:
            coupon = s.get_one(Coupon, self.coupon_id)
            held = s.execute(
                select(func.count(), func.coalesce(func.sum(CouponClaim.amount_fen), 0)).where(
                    CouponClaim.status.in_(HELD)
                )
            ).one()
            subsidy = s.get_one(Campaign, self.campaign_id).subsidy_committed_fen
        remaining = coupon.budget_fen - coupon.committed_fen
        assert remaining >= 0 and remaining + held[1] == BUDGET_FEN
        assert (coupon.committed_count, coupon.committed_fen) == (held[0], held[1])
        assert coupon.committed_count <= BUDGET_COUNT
        assert subsidy == held[1] <= SUBSIDY_FEN

    @invariant()
    def no_buyer_holds_more_than_its_limit(self) -> None:
        with self.factory() as s:
            per_buyer = s.execute(
                select(CouponClaim.buyer_id, func.count()).group_by(CouponClaim.buyer_id)
            ).all()
            holdings = dict(s.execute(select(CouponHolding.buyer_id, CouponHolding.claims)).all())
        assert all(n <= LIMIT and holdings[buyer] == n for buyer, n in per_buyer)

    @invariant()
    def nothing_expires_while_the_coupon_is_valid(self) -> None:
        if self.now < T0 + timedelta(days=3):
            assert all(c.status is not ClaimStatus.EXPIRED for c in self._claims())


def test_budget_and_limits_hold_over_any_sequence(sqlite_template: Path, tmp_path: Path) -> None:
    CouponMachine.template, CouponMachine.workdir = sqlite_template, tmp_path
    run_state_machine_as_test(
        CouponMachine,
        settings=settings(
            max_examples=60,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
