"""Governance: the brand registry and shops' brand authorisations, listings the screening
intercepted and their appeals (docs/governance.md). Merchant bans and the identity blocklist
are on the merchant routes (``POST /merchants``, ``POST /merchants/{id}/ban``)."""

from __future__ import annotations

from datetime import date, timedelta

from fastapi import APIRouter, status
from sqlalchemy import select

from trustflow.accounts import access
from trustflow.accounts.models import Role
from trustflow.api.deps import PrincipalDep, SessionDep
from trustflow.api.error_responses import ERROR_RESPONSES
from trustflow.api.params import IdPath, Limit, Offset
from trustflow.catalog import access as catalog_access
from trustflow.catalog import service as catalog_service
from trustflow.content import service as content_service
from trustflow.db import get_or_raise, utcnow
from trustflow.governance import listings, penalties, reports
from trustflow.governance.models import (
    AuthorisationStatus,
    Brand,
    BrandAuthorisation,
    InterceptionStatus,
    ListingInterception,
    LiveReport,
    ReportStatus,
    Violation,
)
from trustflow.governance.schemas import (
    AppealIn,
    AuthorisationIn,
    AuthorisationOut,
    BrandIn,
    BrandOut,
    DailyStatsOut,
    InterceptionOut,
    ReasonIn,
    ReportIn,
    ReportOut,
    ShopViolationsOut,
    StandingOut,
    UpholdReportIn,
    ViolationIn,
    ViolationOut,
)
from trustflow.pagination import paginate
from trustflow.schemas_base import PageOut
from trustflow.types import check_day

router = APIRouter(tags=["governance"], responses=ERROR_RESPONSES)


@router.post("/brands", response_model=BrandOut, status_code=status.HTTP_201_CREATED)
def register_brand(body: BrandIn, session: SessionDep, principal: PrincipalDep) -> Brand:
    """An operator adds a brand to the registry (品牌库): listings naming it, in the brand
    field or the title, need the shop's verified authorisation."""
    access.require_operator(principal)
    brand = listings.register_brand(
        session,
        name=body.name,
        aliases=body.aliases,
        reference_price_fen=body.reference_price_fen,
        actor=principal.actor,
    )
    session.commit()
    return brand


@router.get("/brands", response_model=PageOut[BrandOut])
def list_brands(
    session: SessionDep, principal: PrincipalDep, limit: Limit = 50, offset: Offset = 0
) -> object:
    """The brand registry, in the order brands were added."""
    return paginate(session, select(Brand).order_by(Brand.id), limit=limit, offset=offset)


@router.post(
    "/shops/{shop_id}/brand-authorisations",
    response_model=AuthorisationOut,
    status_code=status.HTTP_201_CREATED,
)
def submit_authorisation(
    shop_id: IdPath, body: AuthorisationIn, session: SessionDep, principal: PrincipalDep
) -> BrandAuthorisation:
    """A merchant submits a shop's brand authorisation document (品牌授权): it counts once an
    operator verified it."""
    catalog_access.require_shop_manager(
        session, principal, catalog_service.get_shop(session, shop_id)
    )
    row = listings.submit_authorisation(
        session,
        shop_id=shop_id,
        brand_id=body.brand_id,
        document=body.document,
        actor=principal.actor,
        at=utcnow(),
    )
    session.commit()
    return row


def _decide_authorisation(
    session: SessionDep,
    principal: PrincipalDep,
    authorisation_id: int,
    to: AuthorisationStatus,
    reason: str,
) -> BrandAuthorisation:
    access.require_operator(principal)
    row = catalog_service.decide_authorisation(
        session,
        authorisation_id=authorisation_id,
        to=to,
        reason=reason,
        actor=principal.actor,
        at=utcnow(),
    )
    session.commit()
    return row


@router.post("/brand-authorisations/{authorisation_id}/verify", response_model=AuthorisationOut)
def verify_authorisation(
    authorisation_id: IdPath, body: ReasonIn, session: SessionDep, principal: PrincipalDep
) -> BrandAuthorisation:
    """An operator verifies a pending authorisation from its document."""
    return _decide_authorisation(
        session, principal, authorisation_id, AuthorisationStatus.VERIFIED, body.reason
    )


@router.post("/brand-authorisations/{authorisation_id}/reject", response_model=AuthorisationOut)
def reject_authorisation(
    authorisation_id: IdPath, body: ReasonIn, session: SessionDep, principal: PrincipalDep
) -> BrandAuthorisation:
    """An operator rejects a pending authorisation, with the reason the merchant sees."""
    return _decide_authorisation(
        session, principal, authorisation_id, AuthorisationStatus.REJECTED, body.reason
    )


@router.post("/brand-authorisations/{authorisation_id}/revoke", response_model=AuthorisationOut)
def revoke_authorisation(
    authorisation_id: IdPath, body: ReasonIn, session: SessionDep, principal: PrincipalDep
) -> BrandAuthorisation:
    """An operator withdraws a verified authorisation (listing the brand is screened again)."""
    return _decide_authorisation(
        session, principal, authorisation_id, AuthorisationStatus.REVOKED, body.reason
    )


@router.get("/products/{product_id}/interceptions", response_model=list[InterceptionOut])
def product_interceptions(
    product_id: IdPath, session: SessionDep, principal: PrincipalDep
) -> list[ListingInterception]:
    """Why a product was intercepted, and where each appeal stands: its shop's managers and
    operators."""
    product = catalog_service.get_product(session, product_id)
    catalog_access.require_product_manager(session, principal, product)
    return list(
        session.scalars(
            select(ListingInterception)
            .where(ListingInterception.product_id == product_id)
            .order_by(ListingInterception.id)
        )
    )


@router.get("/interceptions", response_model=PageOut[InterceptionOut])
def list_interceptions(
    session: SessionDep,
    principal: PrincipalDep,
    status: InterceptionStatus | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> object:
    """Interceptions, oldest first (``status=appealed``: the operators' review queue)."""
    access.require_operator(principal)
    stmt = select(ListingInterception).order_by(ListingInterception.id)
    if status is not None:
        stmt = stmt.where(ListingInterception.status == status)
    return paginate(session, stmt, limit=limit, offset=offset)


@router.post("/interceptions/{interception_id}/appeal", response_model=InterceptionOut)
def appeal(
    interception_id: IdPath, body: AppealIn, session: SessionDep, principal: PrincipalDep
) -> ListingInterception:
    """The shop's merchant appeals an open interception, saying why the listing is sound."""
    row = get_or_raise(session, ListingInterception, interception_id, "interception")
    catalog_access.require_shop_manager(
        session, principal, catalog_service.get_shop(session, row.shop_id)
    )
    done = listings.appeal(session, interception_id=interception_id, text=body.text, at=utcnow())
    session.commit()
    return done


def _decide(
    session: SessionDep, principal: PrincipalDep, interception_id: int, uphold: bool, reason: str
) -> ListingInterception:
    access.require_operator(principal)
    done = catalog_service.decide_interception(
        session,
        interception_id=interception_id,
        uphold=uphold,
        reason=reason,
        actor=principal.actor,
    )
    session.commit()
    return done


@router.post("/interceptions/{interception_id}/uphold", response_model=InterceptionOut)
def uphold(
    interception_id: IdPath, body: ReasonIn, session: SessionDep, principal: PrincipalDep
) -> ListingInterception:
    """An operator upholds an appealed interception: the product stays blocked."""
    return _decide(session, principal, interception_id, True, body.reason)


@router.post("/interceptions/{interception_id}/overturn", response_model=InterceptionOut)
def overturn(
    interception_id: IdPath, body: ReasonIn, session: SessionDep, principal: PrincipalDep
) -> ListingInterception:
    """An operator overturns an appealed interception; with none left standing the product is
    released, delisted, for the merchant to list again."""
    return _decide(session, principal, interception_id, False, body.reason)


@router.post(
    "/shops/{shop_id}/violations", response_model=ViolationOut, status_code=status.HTTP_201_CREATED
)
def record_violation(
    shop_id: IdPath, body: ViolationIn, session: SessionDep, principal: PrincipalDep
) -> Violation:
    """An operator records a violation against a shop (违规记录): its rule's points count for
    a year; at 12 the shop's traffic is limited, at 24 it may not join campaigns or earn
    Chuanliu reward traffic, at 48 it is closed."""
    access.require_operator(principal)
    violation, _ = catalog_service.record_violation(
        session, shop_id=shop_id, rule=body.rule, reason=body.reason, actor=principal.actor
    )
    session.commit()
    return violation


@router.get("/shops/{shop_id}/violations", response_model=ShopViolationsOut)
def shop_violations(
    shop_id: IdPath, session: SessionDep, principal: PrincipalDep
) -> ShopViolationsOut:
    """The shop's violations, newest first, and its standing now: its managers and operators."""
    catalog_access.require_shop_manager(
        session, principal, catalog_service.get_shop(session, shop_id)
    )
    now = penalties.standing(session, shop_id, utcnow())
    rows = session.scalars(
        select(Violation).where(Violation.shop_id == shop_id).order_by(Violation.id.desc())
    )
    return ShopViolationsOut(
        standing=StandingOut(shop_id=shop_id, points=now.points, level=now.level),
        violations=[ViolationOut.model_validate(v, from_attributes=True) for v in rows],
    )


@router.post("/violations/{violation_id}/revoke", response_model=ViolationOut)
def revoke_violation(
    violation_id: IdPath, body: ReasonIn, session: SessionDep, principal: PrincipalDep
) -> Violation:
    """An operator revokes a violation found wrong on appeal, with a reason: its points no
    longer count."""
    access.require_operator(principal)
    row = penalties.revoke_violation(
        session,
        violation_id=violation_id,
        reason=body.reason,
        actor=principal.actor,
        at=utcnow(),
    )
    session.commit()
    return row


@router.post(
    "/live-sessions/{live_id}/reports",
    response_model=ReportOut,
    status_code=status.HTTP_201_CREATED,
)
def report_live(
    live_id: IdPath, body: ReportIn, session: SessionDep, principal: PrincipalDep
) -> LiveReport:
    """A buyer reports a live room (直播间举报): into the operators' review queue. One open
    report per buyer and room."""
    buyer_id = access.acting_subject(principal, Role.BUYER, body.buyer_id)
    report = content_service.report_live(
        session, buyer_id=buyer_id, live_id=live_id, reason=body.reason, text=body.text
    )
    session.commit()
    return report


@router.get("/reports", response_model=PageOut[ReportOut])
def list_reports(
    session: SessionDep,
    principal: PrincipalDep,
    status: ReportStatus | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> object:
    """Live-room reports, oldest first (``status=open``: the operators' review queue)."""
    access.require_operator(principal)
    stmt = select(LiveReport).order_by(LiveReport.id)
    if status is not None:
        stmt = stmt.where(LiveReport.status == status)
    return paginate(session, stmt, limit=limit, offset=offset)


@router.post("/reports/{report_id}/uphold", response_model=ReportOut)
def uphold_report(
    report_id: IdPath, body: UpholdReportIn, session: SessionDep, principal: PrincipalDep
) -> LiveReport:
    """An operator upholds an open report: the room's shop gets the violation ``rule`` names
    (``live_room_misconduct`` unless told)."""
    access.require_operator(principal)
    done = content_service.decide_live_report(
        session,
        report_id=report_id,
        uphold=True,
        reason=body.reason,
        rule=body.rule,
        actor=principal.actor,
    )
    session.commit()
    return done


@router.post("/reports/{report_id}/dismiss", response_model=ReportOut)
def dismiss_report(
    report_id: IdPath, body: ReasonIn, session: SessionDep, principal: PrincipalDep
) -> LiveReport:
    """An operator dismisses an open report, with a reason."""
    access.require_operator(principal)
    done = content_service.decide_live_report(
        session, report_id=report_id, uphold=False, reason=body.reason, actor=principal.actor
    )
    session.commit()
    return done


@router.get("/governance/stats", response_model=list[DailyStatsOut])
def governance_stats(
    session: SessionDep,
    principal: PrincipalDep,
    first: date | None = None,
    last: date | None = None,
) -> list[reports.DailyStats]:
    """What governance did per UTC day: listings intercepted, violations recorded,
    applications the blocklist refused, reports filed and handled (operators; the last 7
    days unless told, at most 366)."""
    access.require_operator(principal)
    end = check_day(last, "last") if last is not None else utcnow().date()
    start = check_day(first, "first") if first is not None else end - timedelta(days=6)
    return reports.daily_stats(session, start, end)
