"""Scores: definitions and tiers (public), each entity's score, breakdown, interval, history
and hints (its owner and operators), eligibility, and appeals against defects."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from sqlalchemy.orm import Session

from trustflow.accounts import access
from trustflow.accounts.models import Creator, Role
from trustflow.accounts.principal import Principal
from trustflow.api.deps import PrincipalDep, SessionDep
from trustflow.api.error_responses import ERROR_RESPONSES
from trustflow.api.params import IdPath, IdQuery, Limit, Offset
from trustflow.catalog import access as catalog_access
from trustflow.catalog import service as catalog_service
from trustflow.catalog.models import Product
from trustflow.errors import Forbidden, NotFound
from trustflow.pagination import paginate
from trustflow.schemas_base import PageOut
from trustflow.scoring import access as scoring_access
from trustflow.scoring import gates, rules
from trustflow.scoring import service as scoring_service
from trustflow.scoring.models import AppealStatus, ReviewBurst, ScoreAppeal, ScoreKind, Tier
from trustflow.scoring.schemas import (
    AppealDecisionIn,
    AppealIn,
    AppealOut,
    BurstDecisionIn,
    BurstDecisionOut,
    BurstOut,
    DefinitionOut,
    DefinitionsOut,
    EligibilityOut,
    HistoryPointOut,
    MetricDefinitionOut,
    ScoreOut,
    TierOut,
)

router = APIRouter(tags=["scores"], responses=ERROR_RESPONSES)
EPOCH = date(1970, 1, 1)


class Scored(StrEnum):
    SHOPS = "shops"
    PRODUCTS = "products"
    CREATORS = "creators"


KIND = {
    Scored.SHOPS: ScoreKind.STORE,
    Scored.PRODUCTS: ScoreKind.PRODUCT,
    Scored.CREATORS: ScoreKind.CREATOR,
}


@router.get("/scores/definitions", response_model=DefinitionsOut)
def definitions(principal: PrincipalDep) -> DefinitionsOut:
    """How every score is computed and what each tier needs: the published rules."""
    return DefinitionsOut(
        definitions=[
            DefinitionOut(
                kind=d.kind,
                title=d.title,
                window_days=d.window_days,
                extended_windows=list(d.extended_windows),
                min_sample=d.min_sample,
                half_life_days=d.half_life_days,
                by_category=d.by_category,
                metrics=[
                    MetricDefinitionOut(
                        name=m.name,
                        label=m.label,
                        label_zh=m.label_zh,
                        dimension=m.dimension,
                        weight=m.weight,
                        floor=m.floor,
                    )
                    for m in d.metrics
                ],
            )
            for d in rules.DEFINITIONS.values()
        ],
        tiers=[TierOut(tier=t, lowest_score=s) for t, s in rules.TIERS],
        points_per_benchmark=rules.POINTS_PER_BENCHMARK,
        penalty_rate_multiple=rules.PENALTY_RATE_MULTIPLE,
        penalty_min_defects=rules.PENALTY_MIN_DEFECTS,
    )


def _exists_and_owned(
    session: Session, principal: Principal, scored: Scored, entity_id: int
) -> bool:
    """Raises 404 for an unknown entity; answers whether the caller may see its detail."""
    if scored is Scored.SHOPS:
        shop = catalog_service.get_shop(session, entity_id)
        return catalog_access.can_manage_shop(session, principal, shop)
    if scored is Scored.PRODUCTS:
        product = session.get(Product, entity_id)
        if product is None:
            raise NotFound(f"product {entity_id} not found")
        shop = catalog_service.get_shop(session, product.shop_id)
        return catalog_access.can_manage_shop(session, principal, shop)
    if session.get(Creator, entity_id) is None:
        raise NotFound(f"creator {entity_id} not found")
    return principal.is_operator or principal.is_(Role.CREATOR, entity_id)


def _require_owner(session: Session, principal: Principal, scored: Scored, entity_id: int) -> None:
    if not _exists_and_owned(session, principal, scored, entity_id):
        raise Forbidden(f"only the owner of {scored.value[:-1]} {entity_id} sees its detail")


@router.get("/scores/{scored}/{entity_id:int}", response_model=ScoreOut)
def get_score(
    scored: Scored, entity_id: IdPath, session: SessionDep, principal: PrincipalDep
) -> ScoreOut:
    """The score in force. Tiers are public; the numbers, breakdown and hints are the owner's."""
    owner = _exists_and_owned(session, principal, scored, entity_id)
    kind = KIND[scored]
    definition = rules.DEFINITIONS[kind]
    version = scoring_service.active_version(session)
    row = scoring_service.get_score(session, kind, entity_id)
    if row is None:
        return ScoreOut(
            kind=kind,
            entity_id=entity_id,
            status="no_score",
            tier=None,
            as_of=version.as_of if version else None,
            min_sample=definition.min_sample,
        )
    assert version is not None
    public: dict[str, Any] = {
        "kind": kind,
        "entity_id": entity_id,
        "status": row.status.value,
        "tier": row.tier,
        "as_of": version.as_of,
        "min_sample": definition.min_sample,
    }
    if not owner:
        return ScoreOut.model_validate(public)
    detail: dict[str, Any] = row.detail
    return ScoreOut.model_validate(
        {
            **public,
            "score": row.score,
            "lower": row.lower,
            "upper": row.upper,
            "sample": row.sample,
            "restricted": row.restricted,
            "held_reviews": detail.get("held_reviews", 0),
            "breakdown": detail.get("metrics", []),
            "hints": detail.get("hints", []),
            "dimensions": detail.get("dimensions", []),
            "window_days": detail.get("window_days"),
            "known_share": detail.get("known_share"),
        }
    )


@router.get("/scores/{scored}/{entity_id:int}/history", response_model=list[HistoryPointOut])
def score_history(
    scored: Scored,
    entity_id: IdPath,
    session: SessionDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=365)] = 30,
) -> list[HistoryPointOut]:
    """The trend: this entity's published scores, newest first."""
    _require_owner(session, principal, scored, entity_id)
    return [
        HistoryPointOut(
            as_of=as_of,
            score=row.score,
            lower=row.lower,
            upper=row.upper,
            tier=row.tier,
            status=row.status.value,
        )
        for as_of, row in scoring_service.history(session, KIND[scored], entity_id, limit=limit)
    ]


@router.get("/scores/shops/{shop_id}/eligibility", response_model=EligibilityOut)
def eligibility(shop_id: IdPath, session: SessionDep, principal: PrincipalDep) -> EligibilityOut:
    """What the store experience score allows this shop today, and why."""
    _require_owner(session, principal, Scored.SHOPS, shop_id)
    return EligibilityOut.model_validate(
        {
            "shop_id": shop_id,
            "campaign_good": gates.campaign_registration(session, shop_id, min_tier=Tier.GOOD),
            "campaign_excellent": gates.campaign_registration(
                session, shop_id, min_tier=Tier.EXCELLENT
            ),
            "rewards": gates.reward_eligibility(session, shop_id),
        },
        from_attributes=True,
    )


@router.post("/scores/appeals", response_model=AppealOut, status_code=status.HTTP_201_CREATED)
def file_appeal(body: AppealIn, session: SessionDep, principal: PrincipalDep) -> ScoreAppeal:
    """A merchant contests a review or after-sales request counted against its shop."""
    shop = catalog_service.get_shop(session, body.shop_id)
    catalog_access.require_shop_manager(session, principal, shop)
    appeal = scoring_service.file_appeal(
        session,
        shop_id=body.shop_id,
        defect_kind=body.defect_kind,
        defect_id=body.defect_id,
        reason=body.reason,
    )
    session.commit()
    return appeal


@router.get("/scores/appeals", response_model=PageOut[AppealOut])
def list_appeals(
    session: SessionDep,
    principal: PrincipalDep,
    appeal_status: AppealStatus | None = None,
    shop_id: IdQuery = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> object:
    stmt = scoring_access.visible_appeals(session, principal).order_by(ScoreAppeal.id.desc())
    if shop_id is not None:
        stmt = stmt.where(ScoreAppeal.shop_id == shop_id)
    if appeal_status is not None:
        stmt = stmt.where(ScoreAppeal.status == appeal_status)
    return paginate(session, stmt, limit=limit, offset=offset)


@router.post("/scores/appeals/{appeal_id}/decision", response_model=AppealOut)
def decide_appeal(
    appeal_id: IdPath, body: AppealDecisionIn, session: SessionDep, principal: PrincipalDep
) -> ScoreAppeal:
    """The platform upholds or rejects an appeal; upheld defects leave the next computation."""
    access.require_operator(principal)
    appeal = scoring_service.decide_appeal(
        session, appeal_id=appeal_id, upheld=body.upheld, note=body.note
    )
    session.commit()
    return appeal


def _day(epoch_day: int) -> date:
    return EPOCH + timedelta(days=epoch_day)


@router.get("/scores/bursts", response_model=PageOut[BurstOut])
def list_bursts(
    session: SessionDep,
    principal: PrincipalDep,
    shop_id: IdQuery = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> object:
    """Bursts of bad reviews held back and awaiting the platform's verdict. A merchant sees
    its own shops' bursts; operators see all."""
    stmt = scoring_access.visible_pending_bursts(session, principal)
    if shop_id is not None:
        stmt = stmt.where(ReviewBurst.shop_id == shop_id)
    page = paginate(session, stmt, limit=limit, offset=offset)
    return replace(
        page,
        items=[
            BurstOut(shop_id=b.shop_id, day=_day(b.epoch_day), bad_reviews=b.bad_reviews)
            for b in page.items
        ],
    )


@router.post("/scores/bursts/decision", response_model=BurstDecisionOut)
def decide_burst(
    body: BurstDecisionIn, session: SessionDep, principal: PrincipalDep
) -> BurstDecisionOut:
    """Confirm a held burst (its reviews are scored from the next computation) or dismiss it
    as an attack (they never count)."""
    access.require_operator(principal)
    decision = scoring_service.decide_burst(
        session,
        shop_id=body.shop_id,
        epoch_day=(body.day - EPOCH).days,
        verdict=body.verdict,
        note=body.note,
    )
    session.commit()
    return BurstDecisionOut(
        shop_id=decision.shop_id,
        day=_day(decision.epoch_day),
        verdict=decision.verdict,
        note=decision.note,
        decided_at=decision.decided_at,
    )
