"""Participants, API keys and follows."""

from __future__ import annotations

from fastapi import APIRouter, status
from sqlalchemy import select

from trustflow.accounts import access
from trustflow.accounts import service as accounts_service
from trustflow.accounts.models import (
    ApiKey,
    Buyer,
    Creator,
    Follow,
    Merchant,
    Role,
    ServiceProvider,
)
from trustflow.accounts.schemas import (
    ApiKeyCreated,
    ApiKeyIn,
    ApiKeyOut,
    BuyerIn,
    BuyerOut,
    BuyerPatch,
    CreatorIn,
    CreatorOut,
    FollowIn,
    FollowOut,
    MeOut,
    MerchantOut,
    NameIn,
    ProviderShopIn,
    ProviderShopOut,
    ServiceProviderOut,
)
from trustflow.api.deps import PrincipalDep, SessionDep
from trustflow.api.error_responses import ERROR_RESPONSES
from trustflow.api.params import IdPath, Limit, Offset
from trustflow.catalog import service as catalog_service
from trustflow.db import utcnow
from trustflow.errors import Forbidden, InvalidInput, NotFound
from trustflow.governance import identity as governance_identity
from trustflow.governance.models import MerchantBan
from trustflow.governance.schemas import BanIn, BanOut, MerchantApplicationIn
from trustflow.pagination import paginate
from trustflow.schemas_base import PageOut

router = APIRouter(tags=["accounts"], responses=ERROR_RESPONSES)


@router.get("/me", response_model=MeOut)
def who_am_i(principal: PrincipalDep) -> MeOut:
    return MeOut(role=principal.role, subject_id=principal.subject_id)


@router.post("/merchants", response_model=MerchantOut, status_code=status.HTTP_201_CREATED)
def create_merchant(
    body: MerchantApplicationIn, session: SessionDep, principal: PrincipalDep
) -> Merchant:
    """An operator admits a merchant's application (入驻): the applicant's ID number and phone
    are checked against the identity blocklist (a banned person is refused with
    ``identity_blocked``, and the refusal logged) and stored only as keyed hashes."""
    access.require_operator(principal)
    admitted = governance_identity.apply_merchant(
        session,
        name=body.name,
        id_number=body.id_number,
        phone=body.phone,
        actor=principal.actor,
        at=utcnow(),
    )
    session.commit()  # the merchant, or the refusal's log
    if isinstance(admitted, governance_identity.Refusal):
        raise admitted.error()
    return admitted


@router.post("/merchants/{merchant_id}/ban", response_model=BanOut)
def ban_merchant(
    merchant_id: IdPath, body: BanIn, session: SessionDep, principal: PrincipalDep
) -> BanOut:
    """An operator bans a merchant: every shop it has is closed, and the ID number and phone
    it applied with go on the blocklist, so the same person can open neither a new shop nor
    a new account. Banning again keeps the first ban."""
    access.require_operator(principal)
    closed = catalog_service.ban_merchant(
        session, merchant_id=merchant_id, reason=body.reason, actor=principal.actor
    )
    session.commit()
    ban = session.get_one(MerchantBan, merchant_id)
    return BanOut(
        merchant_id=merchant_id,
        reason=ban.reason,
        banned_by=ban.banned_by,
        banned_at=ban.banned_at,
        shops_closed=closed,
    )


@router.get("/merchants/{merchant_id}", response_model=MerchantOut)
def get_merchant(merchant_id: IdPath, session: SessionDep, principal: PrincipalDep) -> Merchant:
    if not (principal.is_operator or principal.is_(Role.MERCHANT, merchant_id)):
        raise NotFound(f"merchant {merchant_id} not found")
    return accounts_service.get_merchant(session, merchant_id)


@router.post("/creators", response_model=CreatorOut, status_code=status.HTTP_201_CREATED)
def create_creator(body: CreatorIn, session: SessionDep, principal: PrincipalDep) -> Creator:
    access.require_operator(principal)
    creator = accounts_service.create_creator(session, name=body.name, fans=body.fans)
    session.commit()
    return creator


@router.get("/creators/{creator_id}", response_model=CreatorOut)
def get_creator(creator_id: IdPath, session: SessionDep, principal: PrincipalDep) -> Creator:
    """Creators are public figures: any caller may read a creator's profile."""
    return accounts_service.get_creator(session, creator_id)


@router.post("/buyers", response_model=BuyerOut, status_code=status.HTTP_201_CREATED)
def create_buyer(body: BuyerIn, session: SessionDep, principal: PrincipalDep) -> Buyer:
    access.require_operator(principal)
    buyer = accounts_service.create_buyer(session, name=body.name, region=body.region)
    session.commit()
    return buyer


@router.patch("/buyers/{buyer_id}", response_model=BuyerOut)
def update_buyer(
    buyer_id: IdPath, body: BuyerPatch, session: SessionDep, principal: PrincipalDep
) -> Buyer:
    """A buyer sets where its parcels go (operators for anyone): orders placed from now on are
    promised a delivery window for that region."""
    if not (principal.is_operator or principal.is_(Role.BUYER, buyer_id)):
        raise NotFound(f"buyer {buyer_id} not found")
    buyer = accounts_service.set_buyer_region(session, buyer_id=buyer_id, region=body.region)
    session.commit()
    return buyer


@router.get("/buyers/{buyer_id}", response_model=BuyerOut)
def get_buyer(buyer_id: IdPath, session: SessionDep, principal: PrincipalDep) -> Buyer:
    if not (principal.is_operator or principal.is_(Role.BUYER, buyer_id)):
        raise NotFound(f"buyer {buyer_id} not found")
    return accounts_service.get_buyer(session, buyer_id)


@router.post(
    "/service-providers", response_model=ServiceProviderOut, status_code=status.HTTP_201_CREATED
)
def create_service_provider(
    body: NameIn, session: SessionDep, principal: PrincipalDep
) -> ServiceProvider:
    access.require_operator(principal)
    provider = accounts_service.create_service_provider(session, name=body.name)
    session.commit()
    return provider


@router.post(
    "/service-providers/{provider_id}/shops",
    response_model=ProviderShopOut,
    status_code=status.HTTP_201_CREATED,
)
def assign_shop(
    provider_id: IdPath, body: ProviderShopIn, session: SessionDep, principal: PrincipalDep
) -> object:
    """A merchant hands one of its shops to a service provider to operate (or an operator does)."""
    shop = catalog_service.get_shop(session, body.shop_id)
    if not (principal.is_operator or principal.is_(Role.MERCHANT, shop.merchant_id)):
        raise Forbidden(f"you do not own shop {shop.id}")
    link = catalog_service.assign_shop_to_provider(
        session, provider_id=provider_id, shop_id=body.shop_id
    )
    session.commit()
    return link


@router.post("/keys", response_model=ApiKeyCreated, status_code=status.HTTP_201_CREATED)
def create_key(body: ApiKeyIn, session: SessionDep, principal: PrincipalDep) -> ApiKeyCreated:
    """Issue an API key. The secret is in this answer only; it is stored hashed."""
    access.require_operator(principal)
    key, secret = accounts_service.create_api_key(
        session, role=body.role, subject_id=body.subject_id, label=body.label or ""
    )
    session.commit()
    return ApiKeyCreated(**ApiKeyOut.model_validate(key).model_dump(), key=secret)


@router.get("/keys", response_model=PageOut[ApiKeyOut])
def list_keys(
    session: SessionDep, principal: PrincipalDep, limit: Limit = 50, offset: Offset = 0
) -> object:
    access.require_operator(principal)
    return paginate(session, select(ApiKey).order_by(ApiKey.id), limit=limit, offset=offset)


@router.post("/keys/{key_id}/revoke", response_model=ApiKeyOut)
def revoke_key(key_id: IdPath, session: SessionDep, principal: PrincipalDep) -> ApiKey:
    access.require_operator(principal)
    key = accounts_service.revoke_api_key(session, key_id=key_id)
    session.commit()
    return key


@router.post("/follows", response_model=FollowOut, status_code=status.HTTP_201_CREATED)
def follow(body: FollowIn, session: SessionDep, principal: PrincipalDep) -> Follow:
    buyer_id = access.acting_subject(principal, Role.BUYER, body.buyer_id)
    if body.creator_id is not None and body.shop_id is None:
        row = accounts_service.follow_creator(
            session, buyer_id=buyer_id, creator_id=body.creator_id
        )
    elif body.shop_id is not None and body.creator_id is None:
        row = catalog_service.follow_shop(session, buyer_id=buyer_id, shop_id=body.shop_id)
    else:
        raise InvalidInput("follow exactly one of creator_id or shop_id")
    session.commit()
    return row


@router.get("/follows", response_model=PageOut[FollowOut])
def list_follows(
    session: SessionDep, principal: PrincipalDep, limit: Limit = 50, offset: Offset = 0
) -> object:
    stmt = select(Follow).order_by(Follow.id)
    if not principal.is_operator:
        buyer_id = access.acting_subject(principal, Role.BUYER, None)
        stmt = stmt.where(Follow.buyer_id == buyer_id)
    return paginate(session, stmt, limit=limit, offset=offset)


@router.delete("/follows/{follow_id}", status_code=status.HTTP_204_NO_CONTENT)
def unfollow(follow_id: IdPath, session: SessionDep, principal: PrincipalDep) -> None:
    row = session.get(Follow, follow_id)
    if row is None or not (principal.is_operator or principal.is_(Role.BUYER, row.buyer_id)):
        raise NotFound(f"follow {follow_id} not found")
    accounts_service.unfollow(session, buyer_id=row.buyer_id, follow_id=follow_id)
    session.commit()
