"""A 116-style festival as the subsidy, venue and concurrency tests set it up: its windows,
a shop listing at 99.00 since long before it, and an approved (optionally subsidised) offer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from tests import factories
from trustflow.campaigns import festivals, subsidies

REGISTERED = datetime(2026, 9, 10, tzinfo=UTC)
WARMUP = datetime(2026, 10, 21, tzinfo=UTC)
MAIN = datetime(2026, 11, 1, tzinfo=UTC)


def festival(s: Session, **spec: Any) -> int:
    """Registration Sept 1–28, warm-up from Oct 20, the main window Oct 28 – Nov 12."""
    return festivals.create_campaign(
        s,
        festivals.CampaignSpec(
            **{
                "name": "116",
                "registration_from": datetime(2026, 9, 1, tzinfo=UTC),
                "registration_to": datetime(2026, 9, 28, tzinfo=UTC),
                "warmup_from": datetime(2026, 10, 20, tzinfo=UTC),
                "main_from": datetime(2026, 10, 28, tzinfo=UTC),
                "main_to": datetime(2026, 11, 12, tzinfo=UTC),
                **spec,
            }
        ),
        actor="operator:1",
        at=REGISTERED,
    ).id


def listed_seller(
    s: Session, name: str = "Shop", *, category: int | None = None, stock: int = 100
) -> factories.Seller:
    """A shop selling one SKU at 99.00 since 60 days before registration."""
    return factories.seller(
        s,
        category_id=category if category is not None else factories.category(s, name),
        name=name,
        stock=stock,
        at=REGISTERED - timedelta(days=60),
    )


def approved_offer(
    s: Session,
    campaign: int,
    seller: factories.Seller,
    *,
    price: int = 7_900,
    quantity: int = 100,
    subsidy: int = 0,
    **request: Any,
) -> int:
    """The seller's SKU registered at ``price`` and approved, with ``subsidy`` per unit
    granted when above 0. Returns the registration."""
    registration = festivals.register(
        s,
        campaign_id=campaign,
        request=festivals.RegistrationRequest(
            sku_id=seller.sku_id, campaign_price_fen=price, quantity=quantity, **request
        ),
        at=REGISTERED,
        actor="merchant",
    ).id
    festivals.review(
        s, registration_id=registration, approve=True, reason="ok", actor="op", at=REGISTERED
    )
    if subsidy:
        grant(s, registration, subsidy)
    return registration


def grant(s: Session, registration: int, fen: int, at: datetime = REGISTERED) -> None:
    subsidies.grant_subsidy(
        s,
        registration_id=registration,
        unit_subsidy_fen=fen,
        reason="C-position brand",
        actor="operator:1",
        at=at,
    )
