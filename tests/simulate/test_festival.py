"""A festival inside the simulated month: it runs through the engine's own actions, and what
the summary says of it is what the store holds."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from tests.conftest import CliEnvironment
from trustflow.campaigns import rules
from trustflow.campaigns.models import (
    Campaign,
    CampaignBoost,
    CampaignRegistration,
    CampaignSale,
    CampaignShopSubsidy,
    ClaimStatus,
    Coupon,
    CouponClaim,
    RegistrationStatus,
)
from trustflow.cli import app
from trustflow.db import session_factory
from trustflow.orders.models import Checkout, CheckoutStatus, Order, OrderLine
from trustflow.simulate import SimulationRun, config_for, run_simulation, write_summary
from trustflow.traffic.models import Impression

SMALL = replace(config_for("small", seed=5, days=14), shops=30, creators=60, buyers=2500)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> SimulationRun:
    return run_simulation(SMALL, tmp_path_factory.mktemp("festival"), festival="116")


def test_the_summary_reports_the_festival(run: SimulationRun) -> None:
    (campaign,) = run.summary["campaigns"]

    assert campaign["name"] == "116 shopping festival"
    assert campaign["orders"] > 0 and campaign["gmv_yuan"] > 0
    assert 0 < campaign["subsidy_spent_yuan"] <= campaign["subsidy_budget_yuan"]
    assert campaign["boost_promised"] > 0 and campaign["boost_delivered"] > 0
    assert campaign["registrations_refused"] > 0
    assert campaign["registrations"]["approved"] > 0


def test_the_summary_is_what_the_store_holds(run: SimulationRun) -> None:
    (campaign,) = run.summary["campaigns"]
    with session_factory(run.engine)() as session:
        row = session.get_one(Campaign, campaign["campaign_id"])
        redeemed = session.scalar(
            select(func.sum(CouponClaim.amount_fen)).where(
                CouponClaim.status == ClaimStatus.REDEEMED
            )
        )
        reserved = session.scalar(
            select(func.coalesce(func.sum(CouponClaim.amount_fen), 0)).where(
                CouponClaim.status == ClaimStatus.RESERVED
            )
        )
        subsidy = CampaignSale.unit_subsidy_fen * CampaignSale.quantity
        subsidised = dict(
            session.execute(
                select(Order.paid_at.is_not(None), func.sum(subsidy))
                .join(Order, Order.id == CampaignSale.order_id)
                .where(CampaignSale.status == "held")
                .group_by(Order.paid_at.is_not(None))
            ).all()
        )
        shops = session.execute(
            select(CampaignShopSubsidy.cap_fen, CampaignShopSubsidy.committed_fen)
        ).all()
        promised, delivered = session.execute(
            select(
                func.sum(CampaignBoost.promised_impressions),
                func.sum(CampaignBoost.delivered_impressions),
            )
        ).one()
        logged = session.scalar(
            select(func.sum(Impression.count)).where(Impression.reward_plan == f"festival:{row.id}")
        )
    # the subsidy spent: coupons redeemed and the product subsidies of paid orders, and
    # what the campaign's row holds is exactly what its claims and sales hold
    assert subsidised.get(True, 0) > 0
    assert campaign["subsidy_spent_yuan"] * 100 == pytest.approx(redeemed + subsidised[True])
    held = redeemed + reserved + sum(subsidised.values())
    assert row.subsidy_committed_fen == held <= row.subsidy_budget_fen
    assert shops and all(cap is not None and held <= cap for cap, held in shops)
    assert (campaign["boost_promised"], campaign["boost_delivered"]) == (promised, delivered)
    # every boost impression logged went to a shop the festival promised it to that day
    assert delivered == logged
    assert promised <= row.traffic_budget


def test_every_refusal_names_its_rule_and_numbers(run: SimulationRun) -> None:
    with session_factory(run.engine)() as session:
        refused = session.scalars(
            select(CampaignRegistration).where(
                CampaignRegistration.status == RegistrationStatus.REFUSED
            )
        ).all()
    assert refused
    codes = {r["code"] for reg in refused for r in reg.reasons}
    # merchants who raised the list price before registering are caught by the 30-day low
    assert "price_above_30d_low" in codes
    for reg in refused:
        for reason in reg.reasons:
            assert reason["message"] and reason["message_zh"]
        if reg.reasons[0]["code"] == "price_above_30d_low":
            price = f"{reg.campaign_price_fen // 100}.{reg.campaign_price_fen % 100:02d}"
            assert f"campaign price {price} > 30-day low" in reg.reasons[0]["message"]


def test_campaign_prices_never_sell_past_a_registration(run: SimulationRun) -> None:
    with session_factory(run.engine)() as session:
        rows = session.execute(
            select(
                CampaignRegistration.id,
                CampaignRegistration.quantity,
                CampaignRegistration.sold,
                func.coalesce(func.sum(CampaignSale.quantity), 0),
            )
            .outerjoin(
                CampaignSale,
                (CampaignSale.registration_id == CampaignRegistration.id)
                & (CampaignSale.status == "held"),
            )
            .group_by(CampaignRegistration.id)
        ).all()
        discounted = session.scalar(
            select(func.count())
            .select_from(CampaignSale)
            .join(OrderLine, OrderLine.id == CampaignSale.line_id)
            .where(
                OrderLine.merchant_discount_fen
                != CampaignSale.unit_discount_fen * CampaignSale.quantity
            )
        )
    assert any(sold > 0 for _, _, sold, _ in rows)
    for _, quantity, sold, held in rows:
        assert sold <= quantity and sold == held
    assert discounted == 0  # each sale's line carries exactly the campaign price's discount


def test_a_couponed_order_is_paid_through_its_checkout(run: SimulationRun) -> None:
    with session_factory(run.engine)() as session:
        coupon = session.scalars(select(Coupon)).one()
        # the platform pays the coupon, and on its subsidised lines the product subsidy
        subsidies = (
            select(
                CampaignSale.order_id,
                func.sum(CampaignSale.unit_subsidy_fen * CampaignSale.quantity).label("fen"),
            )
            .group_by(CampaignSale.order_id)
            .subquery()
        )
        claims = session.execute(
            select(
                CouponClaim.status,
                Order.platform_discount_fen - func.coalesce(subsidies.c.fen, 0),
                CouponClaim.amount_fen,
            )
            .join(Checkout, Checkout.id == CouponClaim.checkout_id)
            .join(Order, Order.checkout_id == Checkout.id)
            .outerjoin(subsidies, subsidies.c.order_id == Order.id)
            .where(CouponClaim.coupon_id == coupon.id)
        ).all()
        paid_unredeemed = session.scalar(
            select(func.count())
            .select_from(CouponClaim)
            .join(Checkout, Checkout.id == CouponClaim.checkout_id)
            .where(
                Checkout.status == CheckoutStatus.PAID,
                CouponClaim.status == ClaimStatus.RESERVED,
            )
        )
    assert claims
    for _, platform_fen, amount in claims:
        assert platform_fen == amount == coupon.amount_fen
    assert paid_unredeemed == 0


def test_the_same_seed_gives_the_same_festival(run: SimulationRun, tmp_path: Path) -> None:
    again = run_simulation(SMALL, tmp_path / "again", festival="116")

    assert (
        write_summary(again.summary, tmp_path / "a.json").read_text()
        == write_summary(run.summary, tmp_path / "b.json").read_text()
    )


def test_a_run_without_a_festival_has_no_campaigns(tmp_path: Path) -> None:
    plain = run_simulation(replace(SMALL, days=2), tmp_path / "plain")

    assert plain.summary["campaigns"] == []


def test_demo_refuses_a_festival_that_does_not_fit(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["demo", "--days", "5", "--festival", "116", "--out", str(tmp_path / "o")]
    )

    assert result.exit_code == 2
    assert "invalid_input" in result.output and "at least 10 days" in result.output
    assert not (tmp_path / "o" / "marketplace.db").exists()


def test_demo_festival_report_shows_the_results(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["demo", "--days", "10", "--seed", "3", "--festival", "116", "--out", str(out)]
    )

    assert result.exit_code == 0, result.output
    (campaign,) = json.loads((out / "summary.json").read_text())["campaigns"]
    report = (out / "report.html").read_text()
    assert f'id="campaign-{campaign["campaign_id"]}"' in report
    assert "chart-boost" in report
    assert "116 shopping festival" in result.output


def test_the_festival_keeps_a_holdout_and_measures_what_it_added(run: SimulationRun) -> None:
    (campaign,) = run.summary["campaigns"]
    lift = campaign["incremental_gmv"]
    with session_factory(run.engine)() as session:
        row = session.get_one(Campaign, campaign["campaign_id"])
        claimants = np.array(session.scalars(select(CouponClaim.buyer_id)).all(), dtype=np.int64)
        sale_buyers = np.array(
            session.scalars(
                select(Order.buyer_id).join(CampaignSale, CampaignSale.order_id == Order.id)
            ).all(),
            dtype=np.int64,
        )
    assert row.holdout_bps == lift["holdout_bps"] > 0
    # the held-out buyers were offered neither the coupon nor the campaign prices
    assert not rules.in_holdout(row.id, claimants, row.holdout_bps).any()
    assert len(sale_buyers) and not rules.in_holdout(row.id, sale_buyers, row.holdout_bps).any()
    assert lift["treated_buyers"] + lift["holdout_buyers"] == SMALL.buyers
    assert lift["ci_low_yuan"] <= lift["incremental_gmv_yuan"] <= lift["ci_high_yuan"]


def test_the_nightly_reconcile_job_reads_the_log_again_and_refuses_bad_days(
    run: SimulationRun, cli_env: CliEnvironment
) -> None:
    with session_factory(run.engine)() as session:
        day, promised, delivered = session.execute(
            select(
                CampaignBoost.day,
                func.sum(CampaignBoost.promised_impressions),
                func.sum(CampaignBoost.delivered_impressions),
            )
            .group_by(CampaignBoost.day)
            .order_by(func.sum(CampaignBoost.delivered_impressions).desc())
            .limit(1)
        ).one()
    cli_env(run.engine.url.render_as_string(hide_password=False))
    runner = CliRunner()

    again = runner.invoke(app, ["campaigns", "reconcile", "--day", day.isoformat()])
    future = runner.invoke(app, ["campaigns", "reconcile", "--day", "2099-01-01"])
    far = runner.invoke(app, ["campaigns", "reconcile", "--day", "9999-01-01"])
    garbled = runner.invoke(app, ["campaigns", "reconcile", "--day", "yesterday"])

    # the simulator reconciled every night: the job finds the same figures in the log
    assert again.exit_code == 0, again.output
    assert f"{promised:,}" in again.output and f"{delivered:,}" in again.output
    assert delivered > 0
    for refused in (future, garbled):
        assert refused.exit_code == 2 and "invalid_input" in refused.output
    assert far.exit_code == 2 and "time_out_of_range" in far.output
