"""Festivals and registration (招商报名): an operator opens a campaign with its windows and
budgets; a merchant registers a SKU with a campaign price and quantity; the rules answer at
once, each refusal with its numbers; what passes waits for an operator, who approves or
rejects it, or overrides a refusal, always with a reason on the record.

Every action is refused outside its window with ``campaign_window_closed`` and the window's
times; every state change is one guarded update (``WHERE status = <expected>``) with an event
naming its actor.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from itertools import pairwise

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from trustflow.bulk import rowcount, table
from trustflow.campaigns import once, rules
from trustflow.campaigns.models import (
    Campaign,
    CampaignEvent,
    CampaignRegistration,
    RegistrationStatus,
)
from trustflow.catalog import service as catalog_service
from trustflow.catalog.models import Product, Shop
from trustflow.db import get_or_raise
from trustflow.errors import Conflict, ErrorCode, IllegalTransition, InvalidInput
from trustflow.governance import penalties
from trustflow.scoring import gates
from trustflow.scoring.models import Tier
from trustflow.types import stated_reason, utc_instant

__all__ = [
    "CampaignSpec",
    "RegistrationRequest",
    "create_campaign",
    "override",
    "register",
    "review",
    "shop_of_sku",
]

_registrations = table(CampaignRegistration)
#: What an operator writes when reviewing or overriding.
MAX_REASON = 500


@dataclass(frozen=True)
class CampaignSpec:
    name: str
    registration_from: datetime
    registration_to: datetime
    warmup_from: datetime
    main_from: datetime
    main_to: datetime
    min_tier: Tier = Tier.GOOD
    traffic_budget: int = 0
    subsidy_budget_fen: int = 0
    holdout_bps: int = 0


def create_campaign(
    session: Session,
    spec: CampaignSpec,
    *,
    actor: str,
    at: datetime,
    idempotency_key: str | None = None,
) -> Campaign:
    """Open a campaign: its windows must follow one another (registration, then warm-up,
    then the main window) and its budgets not be negative. With an ``idempotency_key``, the
    operator's retry gets the first campaign back (:mod:`.once`)."""
    windows = [
        ("registration_from", spec.registration_from),
        ("registration_to", spec.registration_to),
        ("warmup_from", spec.warmup_from),
        ("main_from", spec.main_from),
        ("main_to", spec.main_to),
    ]
    for what, value in windows:
        utc_instant(value, what)
    problems = [
        f"{a} {va.isoformat()} is after {b} {vb.isoformat()}"
        for (a, va), (b, vb) in pairwise(windows)
        if va > vb
    ]
    if spec.registration_from == spec.registration_to or spec.main_from == spec.main_to:
        problems.append("a window opens and closes at the same moment")
    if spec.traffic_budget < 0 or spec.subsidy_budget_fen < 0:
        problems.append("a budget is negative")
    if not 0 <= spec.holdout_bps <= rules.MAX_HOLDOUT_BPS:
        problems.append(f"holdout_bps {spec.holdout_bps} is not within 0..{rules.MAX_HOLDOUT_BPS}")
    if problems:
        raise InvalidInput("; ".join(problems), problems=problems)
    digest = once.fingerprint(spec)

    def create() -> Campaign:
        campaign = Campaign(
            **asdict(spec),
            created_by=actor,
            idempotency_key=idempotency_key,
            request_hash=digest,
            created_at=at,
        )
        session.add(campaign)
        session.flush()
        _event(session, campaign.id, None, "create", None, None, None, actor, at)
        return campaign

    campaign, _ = once.create_once(
        session, Campaign, actor=actor, key=idempotency_key, digest=digest, create=create
    )
    return campaign


def _event(
    session: Session,
    campaign_id: int,
    registration_id: int | None,
    action: str,
    from_status: str | None,
    to_status: str | None,
    reason: str | None,
    actor: str,
    at: datetime,
) -> None:
    session.add(
        CampaignEvent(
            campaign_id=campaign_id,
            registration_id=registration_id,
            action=action,
            from_status=from_status,
            to_status=to_status,
            reason=reason,
            actor=actor,
            at=at,
        )
    )


@dataclass(frozen=True)
class RegistrationRequest:
    """What a merchant offers: one SKU at a campaign price and quantity; for the brand
    C-position plan, the benchmark platform's promotion price and commission floor it
    declares, and the commission it offers creators."""

    sku_id: int
    campaign_price_fen: int
    quantity: int
    c_position: bool = False
    benchmark_price_fen: int | None = None
    commission_floor_bps: int | None = None
    commission_bps: int = 0


def shop_of_sku(session: Session, sku_id: int) -> Shop:
    sku = catalog_service.get_sku(session, sku_id)
    product = get_or_raise(session, Product, sku.product_id, "product")
    return get_or_raise(session, Shop, product.shop_id, "shop")


def register(
    session: Session,
    *,
    campaign_id: int,
    request: RegistrationRequest,
    at: datetime,
    actor: str,
) -> CampaignRegistration:
    """Register the SKU (its shop's, as the caller checked). The rules answer at once: a
    registration that breaks any is ``refused`` with every reason; one that breaks none is
    ``pending`` an operator's review. A refused or rejected SKU may register again (the same
    row, judged anew); a pending or approved one may not."""
    campaign = get_or_raise(session, Campaign, campaign_id, "campaign")
    rules.require_window("registration", campaign.registration_from, campaign.registration_to, at)
    if request.campaign_price_fen <= 0 or request.quantity <= 0:
        raise InvalidInput("campaign_price_fen and quantity must be above 0")
    sku = catalog_service.get_sku(session, request.sku_id)
    product = get_or_raise(session, Product, sku.product_id, "product")
    shop = shop_of_sku(session, request.sku_id)
    gate = gates.campaign_registration(session, shop.id, min_tier=campaign.min_tier)
    standing = penalties.standing(session, shop.id, at)
    refusals = rules.registration_refusals(
        rules.RegistrationFacts(
            gate_allowed=gate.allowed,
            gate_code=gate.code,
            gate_reason=gate.reason,
            gate_reason_zh=gate.reason_zh,
            shop_status=shop.status.value,
            listing_status=product.status.value,
            stock=sku.stock,
            quantity=request.quantity,
            campaign_price_fen=request.campaign_price_fen,
            low_30d_fen=catalog_service.lowest_price_30d(session, sku.id, at=at),
            c_position=request.c_position,
            benchmark_price_fen=request.benchmark_price_fen,
            commission_floor_bps=request.commission_floor_bps,
            commission_bps=request.commission_bps,
            penalty_points=standing.points,
            campaign_banned=standing.at_least(penalties.PenaltyLevel.CAMPAIGN_BAN),
            ban_points=penalties.points_of(penalties.PenaltyLevel.CAMPAIGN_BAN),
        )
    )
    status = RegistrationStatus.REFUSED if refusals else RegistrationStatus.PENDING
    values = {
        **asdict(request),
        "shop_id": shop.id,
        "status": status,
        "reasons": [asdict(r) for r in refusals],
        "review_reason": None,
        # a subsidy was granted against the offer judged before, not this one
        "unit_subsidy_fen": 0,
        "updated_at": at,
    }
    existing = session.scalar(
        select(CampaignRegistration)
        .where(
            CampaignRegistration.campaign_id == campaign_id,
            CampaignRegistration.sku_id == request.sku_id,
        )
        .with_for_update()
    )
    if existing is None:
        registration = CampaignRegistration(campaign_id=campaign_id, created_at=at, **values)
        try:
            # a concurrent registration of the same SKU may insert first: the unique key
            # decides, and the loser is told so rather than failing
            with session.begin_nested():
                session.add(registration)
                session.flush()
        except IntegrityError:
            raise Conflict(
                f"sku {request.sku_id} is already registered for campaign {campaign_id}",
                code=ErrorCode.DUPLICATE,
            ) from None
        previous = None
    elif existing.status in (RegistrationStatus.REFUSED, RegistrationStatus.REJECTED):
        previous = existing.status.value
        for key, value in values.items():
            setattr(existing, key, value)
        registration = existing
    else:
        raise Conflict(
            f"sku {request.sku_id} is already registered for campaign {campaign_id}"
            f" ({existing.status.value})",
            code=ErrorCode.DUPLICATE,
            registration_id=existing.id,
        )
    session.flush()
    _event(
        session, campaign_id, registration.id, "register", previous, status.value, None, actor, at
    )
    return registration


def _move(
    session: Session,
    registration_id: int,
    expected: RegistrationStatus,
    to: RegistrationStatus,
    action: str,
    reason: str,
    actor: str,
    at: datetime,
) -> CampaignRegistration:
    reason = stated_reason(reason, f"an operator's {action}")
    registration = get_or_raise(session, CampaignRegistration, registration_id, "registration")
    campaign = get_or_raise(session, Campaign, registration.campaign_id, "campaign")
    # reviews run until the main window opens: after it, the venue is set
    rules.require_window("review", campaign.registration_from, campaign.main_from, at)
    moved = session.execute(
        update(_registrations)
        .where(
            _registrations.c.id == registration_id,
            _registrations.c.status == expected.value,
        )
        .values(status=to.value, review_reason=reason, updated_at=at)
    )
    if rowcount(moved) != 1:
        session.refresh(registration)
        raise IllegalTransition("registration", registration.status.value, action)
    _event(
        session,
        registration.campaign_id,
        registration_id,
        action,
        expected.value,
        to.value,
        reason,
        actor,
        at,
    )
    session.refresh(registration)
    return registration


def review(
    session: Session,
    *,
    registration_id: int,
    approve: bool,
    reason: str,
    actor: str,
    at: datetime,
) -> CampaignRegistration:
    """An operator approves or rejects a pending registration, with a reason."""
    to = RegistrationStatus.APPROVED if approve else RegistrationStatus.REJECTED
    action = "approve" if approve else "reject"
    return _move(
        session, registration_id, RegistrationStatus.PENDING, to, action, reason, actor, at
    )


def override(
    session: Session, *, registration_id: int, reason: str, actor: str, at: datetime
) -> CampaignRegistration:
    """An operator approves a registration the rules refused: the refusal's reasons stay on
    the record beside the operator's reason."""
    return _move(
        session,
        registration_id,
        RegistrationStatus.REFUSED,
        RegistrationStatus.APPROVED,
        "override",
        reason,
        actor,
        at,
    )
