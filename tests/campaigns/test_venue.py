"""A festival's main venue: C-position brands first, then offers with units left by the
saving, each at what the asking buyer would pay; held-out buyers see list prices; nothing
delisted; open from warm-up to the end of the main window."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest
from sqlalchemy.orm import Session

from tests import factories
from trustflow.campaigns import rules, subsidies, venue
from trustflow.campaigns.models import CampaignRegistration
from trustflow.campaigns.rules import OutsideWindow
from trustflow.catalog import service as catalog_service
from trustflow.catalog.models import ListingStatus

from .setup import MAIN, REGISTERED, WARMUP, approved_offer, festival, grant, listed_seller


def _offer(
    s: Session, campaign: int, name: str, price: int, quantity: int = 10, **c_position: int
) -> tuple[factories.Seller, int]:
    """A shop listing at 99.00, its SKU registered at ``price`` and approved (a C-position
    offer when ``c_position`` declares its benchmark)."""
    seller = listed_seller(s, name)
    return seller, approved_offer(
        s,
        campaign,
        seller,
        price=price,
        quantity=quantity,
        c_position=bool(c_position),
        benchmark_price_fen=c_position.get("benchmark"),
        commission_floor_bps=c_position.get("floor"),
        commission_bps=c_position.get("commission", 0),
    )


def test_the_venue_puts_c_position_brands_first_then_the_deepest_savings(
    session: Session,
) -> None:
    campaign = festival(session, subsidy_budget_fen=100_000, holdout_bps=5_000)
    _, brand = _offer(
        session, campaign, "brand", 9_500, benchmark=9_600, floor=1_000, commission=1_500
    )
    _, deep = _offer(session, campaign, "deep", 6_900)
    shallow_seller, shallow = _offer(session, campaign, "shallow", 8_900)
    _, gone = _offer(session, campaign, "gone", 5_000, quantity=1)
    hidden, _ = _offer(session, campaign, "hidden", 5_000)
    session.get_one(CampaignRegistration, gone).sold = 1  # sold out
    catalog_service.set_listing_status(
        session, product_id=hidden.product_id, status=ListingStatus.DELISTED
    )
    grant(session, shallow, 2_500)
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
    # the shop's cap no longer covers a unit of the subsidy: the venue shows the price the
    # checkout gives, and the order follows it
    subsidies.set_shop_cap(
        session,
        campaign_id=campaign,
        shop_id=shallow_seller.shop_id,
        cap_fen=2_000,
        reason="spread the budget",
        actor="op",
        at=MAIN,
    )
    assert look(MAIN, inside)[1:3] == [(deep, 6_900, True), (shallow, 8_900, True)]
