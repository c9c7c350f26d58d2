"""Whatever buyers, merchants, operators and jobs do, in whatever order, a campaign's subsidy
budget holds exactly what its coupons' claims and its subsidised sales hold, never more than
the budget; each shop's row holds exactly its sales' subsidies, never past its cap; and no
registration sells past its quantity (a Hypothesis state machine over checkout with or
without a coupon, payment, cancellation, checkout timeout, full refund, the settling job and
an operator moving a shop's cap, checked after every step)."""

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
from trustflow.aftersales import service as aftersales_service
from trustflow.aftersales.models import ActorRole, AfterSalesKind, AfterSalesReason
from trustflow.aftersales.rules import Actor
from trustflow.campaigns import checkout as campaign_checkout
from trustflow.campaigns import coupons, subsidies
from trustflow.campaigns.models import (
    Campaign,
    CampaignRegistration,
    CampaignSale,
    CampaignShopSubsidy,
    ClaimStatus,
    CouponClaim,
    SaleStatus,
)
from trustflow.db import make_engine, session_factory, transaction
from trustflow.errors import TrustflowError
from trustflow.orders import checkout as orders_checkout
from trustflow.orders import service as orders_service
from trustflow.orders.models import Checkout, Order

from .setup import MAIN, approved_offer, festival, listed_seller
from .test_coupons import spec

BUDGET_FEN = 6_000
QUANTITY = 6
BUYERS = 3


class SubsidyMachine(RuleBasedStateMachine):
    template: Path
    workdir: Path

    def __init__(self) -> None:
        super().__init__()
        path = self.workdir / f"subsidy-{id(self)}.db"
        shutil.copy(self.template, path)
        self.engine = make_engine(f"sqlite:///{path}")
        self.factory: sessionmaker[Session] = session_factory(self.engine)
        self.now = MAIN
        self.keys = 0
        with transaction(self.factory) as s:
            self.campaign = festival(s, subsidy_budget_fen=BUDGET_FEN)
            category = factories.category(s)
            self.sellers = [listed_seller(s, name, category=category) for name in ("A", "B")]
            for seller in self.sellers:
                approved_offer(s, self.campaign, seller, quantity=QUANTITY, subsidy=1_000)
            coupon = coupons.create_coupon(
                s,
                spec(
                    valid_from=MAIN - timedelta(days=1),
                    valid_to=MAIN + timedelta(days=10),
                    threshold_fen=5_000,
                    amount_fen=1_500,
                    budget_fen=10**6,
                    budget_count=10**6,
                    per_buyer_limit=10,
                    campaign_id=self.campaign,
                ),
                actor="op",
            ).id
            self.buyers = [factories.buyer(s, f"b{i}") for i in range(BUYERS)]
            self.claims = [
                coupons.claim_coupon(
                    s, coupon_id=coupon, buyer_id=b, idempotency_key=f"c{k}", at=MAIN
                ).id
                for b in self.buyers
                for k in range(3)
            ]

    def teardown(self) -> None:
        self.engine.dispose()

    def _attempt(self, work: object) -> None:
        try:
            with transaction(self.factory) as s:
                work(s)  # type: ignore[operator]
        except TrustflowError:
            pass  # a refusal is an answer; the invariants say whether it was right

    def _pick(self, model: type[Checkout] | type[Order], pick: int) -> int | None:
        with self.factory() as s:
            ids = s.scalars(select(model.id).order_by(model.id)).all()
        return ids[pick % len(ids)] if ids else None

    @rule(
        buyer=st.integers(0, BUYERS - 1),
        shops=st.sampled_from([(0,), (1,), (0, 1), (1, 0)]),
        units=st.integers(1, 3),
        claim=st.none() | st.integers(0, 8),
    )
    def checkout(self, buyer: int, shops: tuple[int, ...], units: int, claim: int | None) -> None:
        self.keys += 1
        claim_ids = [] if claim is None else [self.claims[claim]]

        def work(s: Session) -> None:
            campaign_checkout.place_with_coupons(
                s,
                buyer_id=self.buyers[buyer],
                items=[orders_checkout.CheckoutItem(self.sellers[i].sku_id, units) for i in shops],
                claim_ids=claim_ids,
                idempotency_key=f"k{self.keys}",
                at=self.now,
            )

        self._attempt(work)

    @rule(pick=st.integers(0, 50))
    def pay(self, pick: int) -> None:
        checkout = self._pick(Checkout, pick)
        if checkout is not None:
            self._attempt(
                lambda s: campaign_checkout.pay_with_coupons(
                    s, checkout_id=checkout, idempotency_key=f"pay{checkout}", at=self.now
                )
            )

    @rule(pick=st.integers(0, 50))
    def cancel(self, pick: int) -> None:
        order = self._pick(Order, pick)
        if order is not None:
            self._attempt(lambda s: orders_service.cancel_order(s, order_id=order, at=self.now))

    @rule(pick=st.integers(0, 50))
    def refund_in_full(self, pick: int) -> None:
        order = self._pick(Order, pick)
        if order is None:
            return

        def work(s: Session) -> None:
            orders_service.ship_order(s, order_id=order, at=self.now)
            for line in orders_service.order_lines(s, order):
                request = aftersales_service.request_after_sales(
                    s,
                    order_id=order,
                    line_id=line.id,
                    kind=AfterSalesKind.REFUND_ONLY,
                    reason=AfterSalesReason.QUALITY,
                    actor=Actor(ActorRole.BUYER),
                    at=self.now,
                )
                aftersales_service.approve(
                    s, request_id=request.id, actor=Actor(ActorRole.MERCHANT), at=self.now
                )

        self._attempt(work)

    @rule(hours=st.integers(1, 6))
    def time_passes_and_jobs_run(self, hours: int) -> None:
        self.now += timedelta(hours=hours)
        with transaction(self.factory) as s:
            orders_checkout.expire_unpaid(s, older_than=timedelta(hours=2), at=self.now)
        with transaction(self.factory) as s:
            campaign_checkout.settle_claims(s, at=self.now)

    @rule(shop=st.integers(0, 1), cap=st.none() | st.integers(0, BUDGET_FEN))
    def operator_moves_a_cap(self, shop: int, cap: int | None) -> None:
        self._attempt(
            lambda s: subsidies.set_shop_cap(
                s,
                campaign_id=self.campaign,
                shop_id=self.sellers[shop].shop_id,
                cap_fen=cap,
                reason="rebalance",
                actor="op",
                at=self.now,
            )
        )

    @invariant()
    def the_subsidy_budget_holds_exactly_what_claims_and_sales_hold(self) -> None:
        with self.factory() as s:
            claims = s.scalar(
                select(func.coalesce(func.sum(CouponClaim.amount_fen), 0)).where(
                    CouponClaim.status.in_([ClaimStatus.RESERVED, ClaimStatus.REDEEMED])
                )
            )
            held = dict(
                s.execute(
                    select(
                        CampaignRegistration.shop_id,
                        func.sum(CampaignSale.unit_subsidy_fen * CampaignSale.quantity),
                    )
                    .join(CampaignRegistration)
                    .where(CampaignSale.status == SaleStatus.HELD)
                    .group_by(CampaignRegistration.shop_id)
                ).all()
            )
            committed = s.get_one(Campaign, self.campaign).subsidy_committed_fen
            shops = s.scalars(select(CampaignShopSubsidy)).all()
        assert committed == claims + sum(held.values()) <= BUDGET_FEN
        for row in shops:
            assert row.committed_fen == held.get(row.shop_id, 0)
            assert row.cap_fen is None or row.committed_fen <= row.cap_fen

    @invariant()
    def no_registration_sells_past_its_quantity(self) -> None:
        with self.factory() as s:
            rows = s.execute(
                select(
                    CampaignRegistration.sold,
                    select(func.coalesce(func.sum(CampaignSale.quantity), 0))
                    .where(
                        CampaignSale.registration_id == CampaignRegistration.id,
                        CampaignSale.status != SaleStatus.RETURNED,
                    )
                    .scalar_subquery(),
                )
            ).all()
        assert all(sold == sales <= QUANTITY for sold, sales in rows)


def test_subsidies_add_up_over_any_sequence(sqlite_template: Path, tmp_path: Path) -> None:
    SubsidyMachine.template, SubsidyMachine.workdir = sqlite_template, tmp_path
    run_state_machine_as_test(
        SubsidyMachine,
        settings=settings(
            max_examples=40,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
