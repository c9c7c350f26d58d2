"""Campaigns: festivals an operator opens and shops register for, and coupons, issued by a
merchant for its shop or by an operator for the platform and claimed by buyers (used at
checkout: ``coupon_claim_ids`` on ``POST /checkouts``)."""

from __future__ import annotations

from fastapi import APIRouter, status
from sqlalchemy import select

from trustflow.accounts import access
from trustflow.accounts.models import Role
from trustflow.analytics.campaign_lift import campaign_report
from trustflow.api.deps import PrincipalDep, SessionDep
from trustflow.api.error_responses import ERROR_RESPONSES
from trustflow.api.params import (
    IdempotencyHeader,
    IdPath,
    IdQuery,
    Limit,
    Offset,
    OptionalIdempotencyHeader,
)
from trustflow.campaigns import coupons, fast_brands, festivals, subsidies, venue
from trustflow.campaigns.models import (
    Campaign,
    CampaignRegistration,
    CampaignShopSubsidy,
    Coupon,
    CouponClaim,
    CouponIssuer,
)
from trustflow.campaigns.rules import FAST_BRAND_STAGES
from trustflow.campaigns.schemas import (
    CampaignIn,
    CampaignOut,
    CampaignResultsOut,
    ClaimIn,
    ClaimOut,
    CouponIn,
    CouponOut,
    FastBrandOut,
    FastBrandsOut,
    RegistrationIn,
    RegistrationOut,
    ReviewIn,
    ShopSubsidyCapIn,
    ShopSubsidyOut,
    SubsidyIn,
    VenueItemOut,
)
from trustflow.catalog import access as catalog_access
from trustflow.catalog import service as catalog_service
from trustflow.db import get_or_raise, utcnow
from trustflow.pagination import paginate
from trustflow.schemas_base import PageOut

router = APIRouter(tags=["campaigns"], responses=ERROR_RESPONSES)


@router.post("/coupons", response_model=CouponOut, status_code=status.HTTP_201_CREATED)
def create_coupon(
    body: CouponIn,
    session: SessionDep,
    principal: PrincipalDep,
    idempotency_key: OptionalIdempotencyHeader = None,
) -> Coupon:
    """Issue a coupon. A shop's coupon (``shop_id``) is its merchant's to issue and pay for;
    a platform coupon (no ``shop_id``) is the operators', paid from a campaign's subsidy
    budget when it names one (``campaign_id``). A retry with the same ``Idempotency-Key``
    returns the first coupon (the key with another coupon: ``idempotency_key_reused``)."""
    if body.shop_id is None or body.campaign_id is not None:
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
            campaign_id=body.campaign_id,
        ),
        actor=principal.actor,
        at=utcnow(),
        idempotency_key=idempotency_key,
    )
    session.commit()
    return coupon


@router.get("/coupons/{coupon_id}", response_model=CouponOut)
def get_coupon(coupon_id: IdPath, session: SessionDep, principal: PrincipalDep) -> CouponOut:
    """A coupon's terms, which anyone may read before claiming it; its budget and how much
    of it is committed only to the issuer's managers and operators."""
    coupon = get_or_raise(session, Coupon, coupon_id, "coupon")
    out = CouponOut.model_validate(coupon, from_attributes=True)
    issuer_side = principal.is_operator or (
        coupon.shop_id is not None
        and catalog_access.can_manage_shop(
            session, principal, catalog_service.get_shop(session, coupon.shop_id)
        )
    )
    if issuer_side:
        return out
    hidden = dict.fromkeys(("budget_fen", "budget_count", "committed_fen", "committed_count"))
    return out.model_copy(update=hidden)


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


@router.post("/campaigns", response_model=CampaignOut, status_code=status.HTTP_201_CREATED)
def create_campaign(
    body: CampaignIn,
    session: SessionDep,
    principal: PrincipalDep,
    idempotency_key: OptionalIdempotencyHeader = None,
) -> Campaign:
    """An operator opens a festival: registration, warm-up and main windows, in that order.
    A retry with the same ``Idempotency-Key`` returns the first campaign."""
    access.require_operator(principal)
    campaign = festivals.create_campaign(
        session,
        festivals.CampaignSpec(**body.model_dump()),
        actor=principal.actor,
        at=utcnow(),
        idempotency_key=idempotency_key,
    )
    session.commit()
    return campaign


@router.get("/campaigns", response_model=PageOut[CampaignOut])
def list_campaigns(
    session: SessionDep, principal: PrincipalDep, limit: Limit = 50, offset: Offset = 0
) -> object:
    """Campaigns, the newest first (merchants read them to decide where to register)."""
    stmt = select(Campaign).order_by(Campaign.id.desc())
    return paginate(session, stmt, limit=limit, offset=offset)


@router.get("/campaigns/{campaign_id}", response_model=CampaignOut)
def get_campaign(campaign_id: IdPath, session: SessionDep, principal: PrincipalDep) -> Campaign:
    """A campaign's windows and budgets (merchants read them before registering)."""
    return get_or_raise(session, Campaign, campaign_id, "campaign")


@router.get("/campaigns/{campaign_id}/venue", response_model=PageOut[VenueItemOut])
def main_venue(
    campaign_id: IdPath,
    session: SessionDep,
    principal: PrincipalDep,
    buyer_id: IdQuery = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> object:
    """The festival's main venue (主会场) from warm-up to the end of the main window: its
    approved offers, C-position brands first, then by the saving; each with what the asking
    buyer pays now (a buyer held out of the campaign sees list prices). An operator may ask
    as a buyer (``buyer_id``); anyone else sees the offers' prices."""
    asking = (
        access.acting_subject(principal, Role.BUYER, buyer_id)
        if principal.role is Role.BUYER or buyer_id is not None
        else None
    )
    return venue.venue(
        session, campaign_id, at=utcnow(), buyer_id=asking, limit=limit, offset=offset
    )


@router.get("/campaigns/{campaign_id}/results", response_model=CampaignResultsOut)
def campaign_results(
    campaign_id: IdPath, session: SessionDep, principal: PrincipalDep
) -> dict[str, object]:
    """What the campaign brought: orders, GMV, buyers new to the shop, subsidy spent and GMV
    per yuan of it, registrations by answer, boost traffic promised and delivered, and the
    incremental GMV with its interval when the campaign keeps a holdout (operators)."""
    access.require_operator(principal)
    return campaign_report(session, campaign_id, as_of=utcnow())


@router.post(
    "/campaigns/{campaign_id}/registrations",
    response_model=RegistrationOut,
    status_code=status.HTTP_201_CREATED,
)
def register(
    campaign_id: IdPath, body: RegistrationIn, session: SessionDep, principal: PrincipalDep
) -> CampaignRegistration:
    """A merchant registers one SKU of a shop it manages. The answer comes at once:
    ``refused`` with every rule's reason and numbers, or ``pending`` an operator's review."""
    catalog_access.require_shop_manager(
        session, principal, festivals.shop_of_sku(session, body.sku_id)
    )
    registration = festivals.register(
        session,
        campaign_id=campaign_id,
        request=festivals.RegistrationRequest(**body.model_dump()),
        at=utcnow(),
        actor=principal.actor,
    )
    session.commit()
    return registration


@router.get("/campaigns/{campaign_id}/registrations", response_model=PageOut[RegistrationOut])
def list_registrations(
    campaign_id: IdPath,
    session: SessionDep,
    principal: PrincipalDep,
    limit: Limit = 50,
    offset: Offset = 0,
) -> object:
    """A campaign's registrations, oldest first: all of them for an operator, a merchant's
    own shops' for a merchant (its rejection reasons included)."""
    get_or_raise(session, Campaign, campaign_id, "campaign")
    shops = catalog_access.managed_shop_ids(session, principal)
    stmt = (
        select(CampaignRegistration)
        .where(CampaignRegistration.campaign_id == campaign_id)
        .order_by(CampaignRegistration.id)
    )
    if shops is not None:
        stmt = stmt.where(CampaignRegistration.shop_id.in_(shops))
    return paginate(session, stmt, limit=limit, offset=offset)


def _decide(
    session: SessionDep, principal: PrincipalDep, registration_id: int, action: str, reason: str
) -> CampaignRegistration:
    access.require_operator(principal)
    at, actor = utcnow(), principal.actor
    if action == "override":
        done = festivals.override(
            session, registration_id=registration_id, reason=reason, actor=actor, at=at
        )
    else:
        done = festivals.review(
            session,
            registration_id=registration_id,
            approve=action == "approve",
            reason=reason,
            actor=actor,
            at=at,
        )
    session.commit()
    return done


@router.post("/registrations/{registration_id}/approve", response_model=RegistrationOut)
def approve(
    registration_id: IdPath, body: ReviewIn, session: SessionDep, principal: PrincipalDep
) -> CampaignRegistration:
    """An operator approves a pending registration, with a reason for the record."""
    return _decide(session, principal, registration_id, "approve", body.reason)


@router.post("/registrations/{registration_id}/reject", response_model=RegistrationOut)
def reject(
    registration_id: IdPath, body: ReviewIn, session: SessionDep, principal: PrincipalDep
) -> CampaignRegistration:
    """An operator turns down a pending registration, with a reason the merchant sees."""
    return _decide(session, principal, registration_id, "reject", body.reason)


@router.post("/registrations/{registration_id}/override", response_model=RegistrationOut)
def override(
    registration_id: IdPath, body: ReviewIn, session: SessionDep, principal: PrincipalDep
) -> CampaignRegistration:
    """An operator approves a registration the rules refused; the refusal stays on record."""
    return _decide(session, principal, registration_id, "override", body.reason)


@router.post("/registrations/{registration_id}/subsidy", response_model=RegistrationOut)
def grant_subsidy(
    registration_id: IdPath, body: SubsidyIn, session: SessionDep, principal: PrincipalDep
) -> CampaignRegistration:
    """An operator grants a pending or approved registration a product subsidy (商品补贴):
    what the platform pays of each unit's campaign price from the campaign's subsidy budget,
    until the main window opens; 0 withdraws it. The buyer pays the campaign price less it
    while the budget and the shop's cap last."""
    access.require_operator(principal)
    done = subsidies.grant_subsidy(
        session,
        registration_id=registration_id,
        unit_subsidy_fen=body.unit_subsidy_fen,
        reason=body.reason,
        actor=principal.actor,
        at=utcnow(),
    )
    session.commit()
    return done


@router.put("/campaigns/{campaign_id}/shops/{shop_id}/subsidy-cap", response_model=ShopSubsidyOut)
def set_shop_subsidy_cap(
    campaign_id: IdPath,
    shop_id: IdPath,
    body: ShopSubsidyCapIn,
    session: SessionDep,
    principal: PrincipalDep,
) -> CampaignShopSubsidy:
    """An operator caps what one shop's subsidised sales may take of the campaign's subsidy
    budget, until the main window closes; never below what they already hold."""
    access.require_operator(principal)
    row = subsidies.set_shop_cap(
        session,
        campaign_id=campaign_id,
        shop_id=shop_id,
        cap_fen=body.cap_fen,
        reason=body.reason,
        actor=principal.actor,
        at=utcnow(),
    )
    session.commit()
    return row


@router.get("/campaigns/{campaign_id}/shops/{shop_id}/subsidy", response_model=ShopSubsidyOut)
def get_shop_subsidy(
    campaign_id: IdPath, shop_id: IdPath, session: SessionDep, principal: PrincipalDep
) -> ShopSubsidyOut:
    """What the shop's subsidised sales hold of the campaign's subsidy budget, and its cap:
    the shop's merchant or an operator."""
    get_or_raise(session, Campaign, campaign_id, "campaign")
    catalog_access.require_shop_manager(
        session, principal, catalog_service.get_shop(session, shop_id)
    )
    row = session.get(CampaignShopSubsidy, (campaign_id, shop_id))
    if row is None:
        return ShopSubsidyOut(
            campaign_id=campaign_id, shop_id=shop_id, cap_fen=None, committed_fen=0
        )
    return ShopSubsidyOut.model_validate(row, from_attributes=True)


@router.get("/fast-brands", response_model=FastBrandsOut)
def list_fast_brands(session: SessionDep, principal: PrincipalDep) -> FastBrandsOut:
    """The fast-brand plan's growth stages by followers (under 100k, 100k–1M, 1M–5M, over
    5M): every active fast brand for operators, a merchant's own for a merchant."""
    shops = catalog_access.managed_shop_ids(session, principal)
    brands = [b for b in fast_brands.fast_brands(session) if shops is None or b.shop_id in shops]
    stages = {name: 0 for name, _ in FAST_BRAND_STAGES}
    for brand in brands:
        stages[brand.stage] += 1
    return FastBrandsOut(
        stages=stages,
        brands=[FastBrandOut(**brand.__dict__) for brand in brands],
    )
