"""The distribution library: goods owners publish offers, creators select them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, ScalarSelect, Select, or_, select
from sqlalchemy.orm import Session

from trustflow.catalog import service as catalog_service
from trustflow.catalog.models import ListingStatus, Product
from trustflow.db import get_or_raise, utcnow
from trustflow.distribution.gate import OfferGate
from trustflow.distribution.models import CreatorSelection, DistributionOffer
from trustflow.errors import Conflict, ErrorCode, InvalidInput

__all__ = [
    "MAX_COMMISSION_BPS",
    "create_offer",
    "end_offer",
    "get_offer",
    "library_query",
    "offer_terms_subquery",
    "select_offer",
]

MAX_COMMISSION_BPS = 9000


def create_offer(
    session: Session,
    *,
    product_id: int,
    commission_bps: int,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
) -> DistributionOffer:
    """Put a product in the distribution library at a commission rate (in 1/10,000)."""
    catalog_service.get_product(session, product_id)
    if not 0 <= commission_bps <= MAX_COMMISSION_BPS:
        raise InvalidInput(f"commission_bps must be in 0..{MAX_COMMISSION_BPS}")
    valid_from = valid_from or utcnow()
    if valid_until is not None and valid_until <= valid_from:
        raise InvalidInput("valid_until must be after valid_from")
    offer = DistributionOffer(
        product_id=product_id,
        commission_bps=commission_bps,
        valid_from=valid_from,
        valid_until=valid_until,
        created_at=valid_from,
    )
    session.add(offer)
    session.flush()
    return offer


def get_offer(session: Session, offer_id: int) -> DistributionOffer:
    return get_or_raise(session, DistributionOffer, offer_id, "offer")


def end_offer(session: Session, *, offer_id: int, at: datetime | None = None) -> DistributionOffer:
    offer = get_offer(session, offer_id)
    at = at or utcnow()
    if offer.valid_until is not None and offer.valid_until <= at:
        return offer
    offer.valid_until = max(at, offer.valid_from)
    session.flush()
    return offer


def _valid_at(at: datetime) -> list[object]:
    return [
        DistributionOffer.valid_from <= at,
        or_(DistributionOffer.valid_until.is_(None), DistributionOffer.valid_until > at),
    ]


def library_query(
    *, at: datetime, category_id: int | None = None, min_commission_bps: int = 0
) -> Select[Any]:
    """Offers a creator can pick now: valid, on listed products, best commission first."""
    stmt = (
        select(DistributionOffer)
        .join(Product, Product.id == DistributionOffer.product_id)
        .where(
            *_valid_at(at),  # type: ignore[arg-type]
            Product.status == ListingStatus.LISTED,
            DistributionOffer.commission_bps >= min_commission_bps,
        )
        .order_by(DistributionOffer.commission_bps.desc(), DistributionOffer.id)
    )
    if category_id is not None:
        stmt = stmt.where(Product.category_id == category_id)
    return stmt


def select_offer(
    session: Session,
    *,
    creator_id: int,
    offer_id: int,
    gate: OfferGate,
    at: datetime | None = None,
) -> CreatorSelection:
    """A creator picks an offer (选品), if ``gate`` lets it take on the offer's product.
    Picking the same offer again returns the first pick."""
    from trustflow.accounts import service as accounts_service

    accounts_service.get_creator(session, creator_id)
    offer = get_offer(session, offer_id)
    at = at or utcnow()
    if offer.valid_from > at or (offer.valid_until is not None and offer.valid_until <= at):
        raise Conflict(f"offer {offer_id} is not valid now", code=ErrorCode.NO_DISTRIBUTION_OFFER)
    existing = session.scalar(
        select(CreatorSelection).where(
            CreatorSelection.creator_id == creator_id, CreatorSelection.offer_id == offer_id
        )
    )
    if existing is not None:
        return existing
    refusal = gate.refusal(session, creator_id=creator_id, product_id=offer.product_id)
    if refusal is not None:
        raise Conflict(refusal, code=ErrorCode.SCORE_RESTRICTED)
    selection = CreatorSelection(creator_id=creator_id, offer_id=offer_id, created_at=at)
    session.add(selection)
    session.flush()
    return selection


def offer_in_force(
    session: Session, *, creator_id: int, product_id: int, at: datetime
) -> DistributionOffer | None:
    """The offer under which this creator sells this product now: the best-paying valid pick."""
    return session.scalar(
        select(DistributionOffer)
        .join(CreatorSelection, CreatorSelection.offer_id == DistributionOffer.id)
        .where(
            CreatorSelection.creator_id == creator_id,
            DistributionOffer.product_id == product_id,
            *_valid_at(at),  # type: ignore[arg-type]
        )
        .order_by(DistributionOffer.commission_bps.desc())
        .limit(1)
    )


def offer_terms_subquery(
    creator_id: ColumnElement[Any], product_id: ColumnElement[Any], at: ColumnElement[Any]
) -> tuple[ScalarSelect[Any], ScalarSelect[Any]]:
    """The id and commission of :func:`offer_in_force`, as two scalar subqueries that a
    caller's statement can embed (order placement reads them in the same round trip)."""
    offers, selections = DistributionOffer.__table__, CreatorSelection.__table__
    best = (
        select(offers.c.id, offers.c.commission_bps)
        .join(selections, selections.c.offer_id == offers.c.id)
        .where(
            selections.c.creator_id == creator_id,
            offers.c.product_id == product_id,
            offers.c.valid_from <= at,
            or_(offers.c.valid_until.is_(None), offers.c.valid_until > at),
        )
        .order_by(offers.c.commission_bps.desc(), offers.c.id)
        .limit(1)
    )
    return (
        best.with_only_columns(offers.c.id).scalar_subquery(),
        best.with_only_columns(offers.c.commission_bps).scalar_subquery(),
    )
