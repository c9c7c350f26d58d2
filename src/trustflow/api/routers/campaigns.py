"""Coupons: issued by a merchant for its shop or by an operator for the platform, claimed by
buyers (used at checkout: ``coupon_claim_ids`` on ``POST /checkouts``)."""

from __future__ import annotations

from fastapi import APIRouter, status
from sqlalchemy import select

from trustflow.accounts import access
from trustflow.accounts.models import Role
from trustflow.api.deps import PrincipalDep, SessionDep
from trustflow.api.error_responses import ERROR_RESPONSES
from trustflow.api.params import IdempotencyHeader, IdPath, Limit, Offset
from trustflow.campaigns import coupons
from trustflow.campaigns.models import Coupon, CouponClaim, CouponIssuer
from trustflow.campaigns.schemas import ClaimIn, ClaimOut, CouponIn, CouponOut
from trustflow.catalog import access as catalog_access
from trustflow.catalog import service as catalog_service
from trustflow.db import get_or_raise, utcnow
from trustflow.pagination import paginate
from trustflow.schemas_base import PageOut

router = APIRouter(tags=["campaigns"], responses=ERROR_RESPONSES)


@router.post("/coupons", response_model=CouponOut, status_code=status.HTTP_201_CREATED)
def create_coupon(body: CouponIn, session: SessionDep, principal: PrincipalDep) -> Coupon:
    """Issue a coupon. A shop's coupon (``shop_id``) is its merchant's to issue and pay for;
    a platform coupon (no ``shop_id``) is the operators'."""
    if body.shop_id is None:
        access.require_operator(principal)
    else:
        catalog_access.require_shop_manager(
            session, principal, catalog_service.get_shop(session, body.shop_id)
        )
    coupon = coupons.create_coupon(
        session,
        coupons.CouponSpec(
            name=body.name,
            issuer=CouponIssuer.PLATFORM if body.shop_id is None else CouponIssuer.MERCHANT,
            kind=body.kind,
            shop_id=body.shop_id,
            threshold_fen=body.threshold_fen,
            amount_fen=body.amount_fen,
            discount_bps=body.discount_bps,
            budget_fen=body.budget_fen,
            budget_count=body.budget_count,
            per_buyer_limit=body.per_buyer_limit,
            valid_from=body.valid_from,
            valid_to=body.valid_to,
        ),
        actor=principal.actor,
        at=utcnow(),
    )
    session.commit()
    return coupon


@router.get("/coupons/{coupon_id}", response_model=CouponOut)
def get_coupon(coupon_id: IdPath, session: SessionDep, principal: PrincipalDep) -> Coupon:
    """A coupon's terms and how much of its budget is committed (public: buyers see what
    they may claim)."""
    return get_or_raise(session, Coupon, coupon_id, "coupon")


@router.post(
    "/coupons/{coupon_id}/claims", response_model=ClaimOut, status_code=status.HTTP_201_CREATED
)
def claim_coupon(
    coupon_id: IdPath,
    body: ClaimIn,
    idempotency_key: IdempotencyHeader,
    session: SessionDep,
    principal: PrincipalDep,
) -> CouponClaim:
    """A buyer claims the coupon (领券), within its validity and its limit per buyer; a retry
    with the same key returns the first claim."""
    buyer_id = access.acting_subject(principal, Role.BUYER, body.buyer_id)
    claim = coupons.claim_coupon(
        session,
        coupon_id=coupon_id,
        buyer_id=buyer_id,
        idempotency_key=idempotency_key,
        at=utcnow(),
        actor=principal.actor,
    )
    session.commit()
    return claim


@router.get("/buyers/{buyer_id}/coupon-claims", response_model=PageOut[ClaimOut])
def list_claims(
    buyer_id: IdPath,
    session: SessionDep,
    principal: PrincipalDep,
    limit: Limit = 50,
    offset: Offset = 0,
) -> object:
    """A buyer's coupon claims, newest first: its own, or any buyer's for an operator."""
    access.acting_subject(principal, Role.BUYER, buyer_id)
    stmt = (
        select(CouponClaim).where(CouponClaim.buyer_id == buyer_id).order_by(CouponClaim.id.desc())
    )
    return paginate(session, stmt, limit=limit, offset=offset)
