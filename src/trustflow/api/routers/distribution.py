"""The distribution library: offers and creators' selections."""

from __future__ import annotations

from fastapi import APIRouter, status
from sqlalchemy import select

from trustflow.accounts import access
from trustflow.accounts.models import Role
from trustflow.api.deps import PrincipalDep, SessionDep
from trustflow.api.error_responses import ERROR_RESPONSES
from trustflow.api.params import IdPath, IdQuery, Limit, Offset
from trustflow.catalog import access as catalog_access
from trustflow.catalog import service as catalog_service
from trustflow.db import utcnow
from trustflow.distribution import service as distribution_service
from trustflow.distribution.models import CreatorSelection, DistributionOffer
from trustflow.distribution.schemas import OfferIn, OfferOut, SelectionIn, SelectionOut
from trustflow.errors import NotFound
from trustflow.pagination import paginate
from trustflow.schemas_base import PageOut
from trustflow.scoring.gates import OFFER_GATE

router = APIRouter(tags=["distribution"], responses=ERROR_RESPONSES)


@router.post("/offers", response_model=OfferOut, status_code=status.HTTP_201_CREATED)
def create_offer(body: OfferIn, session: SessionDep, principal: PrincipalDep) -> DistributionOffer:
    """A goods owner puts one of its products in the distribution library (分销库)."""
    catalog_access.require_product_manager(
        session, principal, catalog_service.get_product(session, body.product_id)
    )
    offer = distribution_service.create_offer(
        session,
        product_id=body.product_id,
        commission_bps=body.commission_bps,
        valid_from=body.valid_from,
        valid_until=body.valid_until,
    )
    session.commit()
    return offer


@router.get("/offers", response_model=PageOut[OfferOut])
def list_offers(
    session: SessionDep,
    principal: PrincipalDep,
    category_id: IdQuery = None,
    min_commission_bps: int = 0,
    limit: Limit = 50,
    offset: Offset = 0,
) -> object:
    """The library as a creator sees it now: valid offers on listed products, best paid first."""
    stmt = distribution_service.library_query(
        at=utcnow(),
        category_id=category_id,
        min_commission_bps=min(max(min_commission_bps, 0), 10_000),
    )
    return paginate(session, stmt, limit=limit, offset=offset)


@router.post("/offers/{offer_id}/end", response_model=OfferOut)
def end_offer(offer_id: IdPath, session: SessionDep, principal: PrincipalDep) -> DistributionOffer:
    offer = distribution_service.get_offer(session, offer_id)
    product = catalog_service.get_product(session, offer.product_id)
    if not catalog_access.can_see_product(session, principal, product):  # another shop's draft
        raise NotFound(f"offer {offer_id} not found")
    catalog_access.require_product_manager(session, principal, product)
    offer = distribution_service.end_offer(session, offer_id=offer_id)
    session.commit()
    return offer


@router.post(
    "/offers/{offer_id}/selections",
    response_model=SelectionOut,
    status_code=status.HTTP_201_CREATED,
)
def select_offer(
    offer_id: IdPath, body: SelectionIn, session: SessionDep, principal: PrincipalDep
) -> CreatorSelection:
    """A creator picks an offer (选品) to sell in its rooms and videos."""
    creator_id = access.acting_subject(principal, Role.CREATOR, body.creator_id)
    selection = distribution_service.select_offer(
        session, creator_id=creator_id, offer_id=offer_id, gate=OFFER_GATE
    )
    session.commit()
    return selection


@router.get("/selections", response_model=PageOut[SelectionOut])
def list_selections(
    session: SessionDep,
    principal: PrincipalDep,
    creator_id: IdQuery = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> object:
    """A creator's own selections (operators may name any creator)."""
    creator = access.acting_subject(principal, Role.CREATOR, creator_id)
    stmt = (
        select(CreatorSelection)
        .where(CreatorSelection.creator_id == creator)
        .order_by(CreatorSelection.id)
    )
    return paginate(session, stmt, limit=limit, offset=offset)
