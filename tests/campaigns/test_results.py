"""A campaign's results: its orders (campaign-priced or with its coupons), GMV, buyers new to
the shop, subsidy spent and GMV per yuan of it, registrations by answer."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from tests import factories
from trustflow.campaigns import checkout as campaign_checkout
from trustflow.campaigns import coupons, festivals
from trustflow.campaigns.models import Campaign, CampaignRegistration, CouponKind
from trustflow.campaigns.results import campaign_results
from trustflow.cli import app
from trustflow.db import transaction
from trustflow.orders import checkout as orders_checkout
from trustflow.orders import service as orders_service

from .test_campaign_prices import MAIN, REGISTERED, _festival
from .test_coupons import spec


def _pay(s: Session, buyer: int, sku: int, key: str, claims: list[int] | None = None) -> int:
    checkout = campaign_checkout.place_with_coupons(
        s,
        buyer_id=buyer,
        items=[orders_checkout.CheckoutItem(sku, 1)],
        claim_ids=claims or [],
        idempotency_key=key,
        at=MAIN,
    )
    campaign_checkout.pay_with_coupons(s, checkout_id=checkout.id, idempotency_key=key, at=MAIN)
    return checkout.id


def test_the_results_count_the_campaigns_orders_and_what_its_subsidy_bought(
    factory: sessionmaker[Session], engine: Engine, cli_env: Any
) -> None:
    with transaction(factory) as s:
        category = factories.category(s)
        a = factories.seller(s, category_id=category, name="A", at=REGISTERED - timedelta(days=60))
        b = factories.seller(s, category_id=category, name="B", at=REGISTERED - timedelta(days=60))
        regular, newcomer = factories.buyer(s, "regular"), factories.buyer(s, "newcomer")
        registration = _festival(s, a, quantity=10)
        campaign = s.get_one(CampaignRegistration, registration).campaign_id
        s.get_one(Campaign, campaign).subsidy_budget_fen = 50_000
        festivals.register(  # refused: stock 100 < campaign quantity 1000
            s,
            campaign_id=campaign,
            request=festivals.RegistrationRequest(
                sku_id=b.sku_id, campaign_price_fen=8_000, quantity=1_000
            ),
            at=REGISTERED,
            actor="merchant:2",
        )
        coupon = coupons.create_coupon(
            s,
            spec(
                valid_from=MAIN - timedelta(days=1),
                kind=CouponKind.FIXED,
                threshold_fen=0,
                campaign_id=campaign,
            ),
            actor="operator:1",
        )
        claim = coupons.claim_coupon(
            s, coupon_id=coupon.id, buyer_id=newcomer, idempotency_key="k", at=MAIN
        ).id
        # the regular bought from A before the festival
        factories.paid_order(
            s, buyer_id=regular, sku_id=a.sku_id, key="before", at=MAIN - timedelta(days=30)
        )
    with transaction(factory) as s:
        _pay(s, regular, a.sku_id, "festival")  # 79.00, campaign price
        _pay(s, newcomer, b.sku_id, "coupon", [claim])  # 99.00 − 10.00 from the subsidy
        _pay(s, newcomer, b.sku_id, "plain")  # neither: not the campaign's
        cancelled = _pay(s, newcomer, a.sku_id, "cancelled")
        for order in orders_checkout.checkout_orders(s, cancelled):
            orders_service.cancel_order(s, order_id=order.id, at=MAIN + timedelta(minutes=1))

    with factory() as s:
        figures = campaign_results(s, campaign).as_dict()

    assert figures["orders"] == 2
    assert figures["gmv_yuan"] == Decimal("79.00") + Decimal("89.00")
    assert (figures["buyers"], figures["buyers_new_to_shop"]) == (2, 1)
    assert figures["subsidy_spent_yuan"] == Decimal("10.00")
    assert figures["gmv_per_subsidy_yuan"] == Decimal("16.80")
    assert figures["registrations_refused"] == 1
    assert figures["registrations"]["approved"] == 1

    cli_env(str(engine.url.render_as_string(hide_password=False)))
    printed = CliRunner().invoke(
        app, ["campaigns", "report", "--campaign", str(campaign), "--json"]
    )
    assert printed.exit_code == 0, printed.output
    assert json.loads(printed.output)["gmv_yuan"] == "168.00"
    missing = CliRunner().invoke(app, ["campaigns", "report", "--campaign", "999"])
    assert missing.exit_code != 0 and "not_found" in missing.output
