"""A festival's main venue: C-position brands first, then offers with units left by the
saving, each at what the asking buyer would pay; held-out buyers see list prices; nothing
delisted; open from warm-up to the end of the main window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy.orm import Session

from tests import factories
from trustflow.campaigns import festivals, rules, subsidies, venue
from trustflow.campaigns.models import CampaignRegistration
from trustflow.campaigns.rules import OutsideWindow
from trustflow.catalog import service as catalog_service
from trustflow.catalog.models import ListingStatus

REGISTERED = datetime(2026, 9, 10, tzinfo=UTC)
WARMUP = datetime(2026, 10, 21, tzinfo=UTC)
MAIN = datetime(2026, 11, 1, tzinfo=UTC)


def _offer(
    s: Session, campaign: int, name: str, price: int, quantity: int = 10, **c_position: int
) -> tuple[factories.Seller, int]:
    """A shop listing at 99.00 since well before, its SKU registered at ``price`` and
    approved (a C-position offer when ``c_position`` declares its benchmark)."""
    seller = factories.seller(
        s, category_id=factories.category(s, name), name=name, at=REGISTERED - timedelta(days=60)
    )
    registration = festivals.register(
        s,
        campaign_id=campaign,
        request=festivals.RegistrationRequest(
            sku_id=seller.sku_id,
            campaign_price_fen=price,
            quantity=quantity,
            c_position=bool(c_position),
            benchmark_price_fen=c_position.get("benchmark"),
            commission_floor_bps=c_position.get("floor"),
            commission_bps=c_position.get("commission", 0),
        ),
        at=REGISTERED,
        actor="merchant",
    ).id
    festivals.review(
        s, registration_id=registration, approve=True, reason="ok", actor="op", at=REGISTERED
    )
    return seller, registration


def test_the_venue_puts_c_position_brands_first_then_the_deepest_savings(
    session: Session,
) -> None:
    campaign = festivals.create_campaign(
        session,
        festivals.CampaignSpec(
            name="116",
            registration_from=datetime(2026, 9, 1, tzinfo=UTC),
            registration_to=datetime(2026, 9, 28, tzinfo=UTC),
            warmup_from=datetime(2026, 10, 20, tzinfo=UTC),
            main_from=datetime(2026, 10, 28, tzinfo=UTC),
            main_to=datetime(2026, 11, 12, tzinfo=UTC),
            subsidy_budget_fen=100_000,
            holdout_bps=5_000,
        ),
        actor="op",
        at=REGISTERED,
    ).id
    _, brand = _offer(
        session, campaign, "brand", 9_500, benchmark=9_600, floor=1_000, commission=1_500
    )
    _, deep = _offer(session, campaign, "deep", 6_900)
    _, shallow = _offer(session, campaign, "shallow", 8_900)
    _, gone = _offer(session, campaign, "gone", 5_000, quantity=1)
    hidden, _ = _offer(session, campaign, "hidden", 5_000)
    session.get_one(CampaignRegistration, gone).sold = 1  # sold out
    catalog_service.set_listing_status(
        session, product_id=hidden.product_id, status=ListingStatus.DELISTED
    )
    subsidies.grant_subsidy(
        session,
        registration_id=shallow,
        unit_subsidy_fen=2_500,
        reason="deepen it",
        actor="op",
        at=REGISTERED,
    )
    buyers = np.array([factories.buyer(session, f"b{i}") for i in range(8)], dtype=np.int64)
    held = rules.in_holdout(campaign, buyers, 5_000)
    inside, outside = int(buyers[~held][0]), int(buyers[held][0])

    def look(at: datetime, buyer: int | None) -> list[tuple[int, int, bool]]:
        page = venue.venue(session, campaign, at=at, buyer_id=buyer, limit=10, offset=0)
        return [(i.registration_id, i.price_fen, i.on_sale) for i in page.items]

    # the brand first; then shallow (89.00 less 25.00 of subsidy: 64.00) before deep (69.00);
    # the sold-out offer last; the delisted one nowhere
    assert look(MAIN, inside) == [
        (brand, 9_500, True),
        (shallow, 6_400, True),
        (deep, 6_900, True),
        (gone, 9_900, True),
    ]
    # a buyer the campaign holds out sees list prices, in the same order
    assert look(MAIN, outside) == [
        (brand, 9_900, True),
        (shallow, 9_900, True),
        (deep, 9_900, True),
        (gone, 9_900, True),
    ]
    # in warm-up the offers are coming, at list price
    assert look(WARMUP, inside)[0] == (brand, 9_900, False)
    page = venue.venue(session, campaign, at=MAIN, buyer_id=inside, limit=2, offset=2)
    assert ([i.registration_id for i in page.items], page.next_offset) == ([deep, gone], None)
    with pytest.raises(OutsideWindow) as early:
        venue.venue(session, campaign, at=REGISTERED, buyer_id=inside, limit=10, offset=0)
    assert early.value.details["opens"] == "2026-10-20T00:00:00+00:00"
