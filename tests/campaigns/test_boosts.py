"""Festival boost: from warm-up to the end of the main window, an approved shop's room and its
registered products' cards weigh double in the daily traffic plan."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
from sqlalchemy.orm import Session

from tests import factories
from trustflow.campaigns import boosts, festivals
from trustflow.campaigns.models import CampaignRegistration
from trustflow.traffic.plan import service as plan_service
from trustflow.traffic.plan.models import CandidateKind

from .test_campaign_prices import REGISTERED, _festival


def test_an_approved_shop_and_its_products_are_boosted_while_the_festival_runs(
    session: Session,
) -> None:
    category = factories.category(session)
    a = factories.seller(
        session, category_id=category, name="A", at=REGISTERED - timedelta(days=60)
    )
    b = factories.seller(
        session, category_id=category, name="B", at=REGISTERED - timedelta(days=60)
    )
    campaign = session.get_one(CampaignRegistration, _festival(session, a)).campaign_id
    refused = festivals.register(  # stock 100 < 1000: refused, so never boosted
        session,
        campaign_id=campaign,
        request=festivals.RegistrationRequest(
            sku_id=b.sku_id, campaign_price_fen=7_900, quantity=1_000
        ),
        at=REGISTERED,
        actor="merchant:2",
    )
    assert refused.status.value == "refused"

    assert boosts.festival_boosts(session, date(2026, 10, 19)) == (set(), set())  # before warm-up
    assert boosts.festival_boosts(session, date(2026, 10, 20)) == ({a.shop_id}, {a.product_id})
    assert boosts.festival_boosts(session, date(2026, 11, 12)) == (set(), set())  # after

    room, card = (
        plan_service.KINDS.index(k) for k in (CandidateKind.SHOP_ROOM, CandidateKind.PRODUCT_CARD)
    )
    multiplier = plan_service._multipliers(
        session,
        np.array([room, room, card, card]),
        np.array([a.shop_id, b.shop_id, a.product_id, b.product_id]),
        np.array([0, 0, a.shop_id, b.shop_id]),
        date(2026, 11, 1),
    )
    assert multiplier.tolist() == [boosts.FESTIVAL_BOOST, 1.0, boosts.FESTIVAL_BOOST, 1.0]
