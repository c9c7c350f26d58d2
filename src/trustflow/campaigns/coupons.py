"""Coupons: issued with a budget, claimed by buyers, reserved at checkout, redeemed by the
payment, released on cancel or timeout, returned by a refund.

Every limit is one guarded update, never a read, a check and a write:

- a claim counts against the buyer's holding row (``claims < per_buyer_limit``);
- a reservation takes its value from the coupon's row
  (``committed_fen + amount <= budget_fen AND committed_count < budget_count``);
- a claim moves between states only from the state the action expects
  (``WHERE status = 'reserved'``), and the budget moves only when that update took, so a
  retry, or fifty refunds of the same order at once, return the budget once.

Each action writes a :class:`CouponEvent` with its actor, in the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from trustflow.accounts.models import Buyer
from trustflow.bulk import insert_unless_present, rowcount, table
from trustflow.campaigns import once, rules
from trustflow.campaigns.models import (
    Campaign,
    ClaimStatus,
    Coupon,
    CouponClaim,
    CouponEvent,
    CouponHolding,
    CouponIssuer,
    CouponKind,
)
from trustflow.catalog.models import Shop
from trustflow.db import get_or_raise, utcnow
from trustflow.errors import Conflict, ErrorCode, IllegalTransition, InvalidInput, NotFound
from trustflow.types import utc_instant
from trustflow.units import yuan

__all__ = [
    "CouponSpec",
    "claim_coupon",
    "create_coupon",
    "expire_claims",
    "redeem_claim",
    "refund_claim",
    "release_claim",
    "reserve_claim",
]

_coupons = table(Coupon)
_campaigns = table(Campaign)
_claims = table(CouponClaim)
_holdings = table(CouponHolding)
_NEW_HOLDING = insert_unless_present(_holdings, ["coupon_id", "buyer_id"])
_NEW_CLAIM = insert_unless_present(_claims, ["buyer_id", "idempotency_key"])


@dataclass(frozen=True)
class CouponSpec:
    """A coupon as its issuer asks for it (validated by :func:`create_coupon`)."""

    name: str
    issuer: CouponIssuer
    kind: CouponKind
    budget_fen: int
    budget_count: int
    valid_from: datetime
    valid_to: datetime
    shop_id: int | None = None
    threshold_fen: int = 0
    amount_fen: int = 0
    discount_bps: int = 0
    per_buyer_limit: int = 1
    #: the campaign whose subsidy budget pays for this platform coupon, if any
    campaign_id: int | None = None


def _validate(spec: CouponSpec) -> None:
    problems = []
    if not spec.name.strip():
        problems.append("name is empty")
    if spec.budget_fen < 0 or spec.budget_count < 0:
        problems.append("a budget is negative")
    if spec.threshold_fen < 0 or spec.amount_fen < 0:
        problems.append("an amount is negative")
    if spec.per_buyer_limit < 1:
        problems.append("per_buyer_limit is below 1")
    if spec.kind is CouponKind.DISCOUNT:
        if not 0 < spec.discount_bps < rules.BPS:
            problems.append(f"discount_bps {spec.discount_bps} is not within 1..{rules.BPS - 1}")
    else:
        if spec.discount_bps:
            problems.append(f"a {spec.kind.value} coupon takes amount_fen, not discount_bps")
        if spec.amount_fen <= 0:
            problems.append(f"a {spec.kind.value} coupon needs amount_fen above 0")
    if spec.kind is CouponKind.FULL_REDUCTION and spec.threshold_fen <= spec.amount_fen:
        problems.append(
            f"a full-reduction coupon's threshold {spec.threshold_fen} must exceed its"
            f" amount {spec.amount_fen}"
        )
    if (spec.issuer is CouponIssuer.MERCHANT) != (spec.shop_id is not None):
        problems.append("a merchant coupon names its shop; a platform coupon names none")
    if spec.campaign_id is not None and spec.issuer is not CouponIssuer.PLATFORM:
        problems.append("only a platform coupon is paid from a campaign's subsidy budget")
    utc_instant(spec.valid_from, "valid_from")
    utc_instant(spec.valid_to, "valid_to")
    if spec.valid_to <= spec.valid_from:
        problems.append("valid_to is not after valid_from")
    if problems:
        raise InvalidInput("; ".join(problems), problems=problems)


def create_coupon(
    session: Session,
    spec: CouponSpec,
    *,
    actor: str,
    at: datetime | None = None,
    idempotency_key: str | None = None,
) -> Coupon:
    """Issue a coupon with its budget (validated; the event names who issued it). With an
    ``idempotency_key``, the issuer's retry gets the first coupon back (:mod:`.once`)."""
    _validate(spec)
    if spec.shop_id is not None:
        get_or_raise(session, Shop, spec.shop_id, "shop")
    if spec.campaign_id is not None:
        get_or_raise(session, Campaign, spec.campaign_id, "campaign")
    now = at or utcnow()
    digest = once.fingerprint(spec)

    def create() -> Coupon:
        coupon = Coupon(
            **{k: getattr(spec, k) for k in spec.__dataclass_fields__},
            committed_fen=0,
            committed_count=0,
            created_by=actor,
            idempotency_key=idempotency_key,
            request_hash=digest,
            created_at=now,
            updated_at=now,
        )
        session.add(coupon)
        session.flush()
        _event(session, coupon.id, None, "create", 0, actor, now)
        return coupon

    coupon, _ = once.create_once(
        session, Coupon, actor=actor, key=idempotency_key, digest=digest, create=create
    )
    return coupon


def _event(
    session: Session,
    coupon_id: int,
    claim_id: int | None,
    action: str,
    amount_fen: int,
    actor: str,
    at: datetime,
) -> None:
    session.add(
        CouponEvent(
            coupon_id=coupon_id,
            claim_id=claim_id,
            action=action,
            amount_fen=amount_fen,
            actor=actor,
            at=at,
        )
    )


def claim_coupon(
    session: Session,
    *,
    coupon_id: int,
    buyer_id: int,
    idempotency_key: str,
    at: datetime,
    actor: str = "buyer",
) -> CouponClaim:
    """The buyer claims the coupon, within its validity and its per-buyer limit. A retry
    with the same key returns the first claim; the key used for another coupon is refused."""
    coupon = get_or_raise(session, Coupon, coupon_id, "coupon")
    get_or_raise(session, Buyer, buyer_id, "buyer")
    existing = session.scalar(
        select(CouponClaim).where(
            CouponClaim.buyer_id == buyer_id, CouponClaim.idempotency_key == idempotency_key
        )
    )
    if existing is not None:
        return _same_claim(existing, coupon_id)
    rules.require_valid(coupon.valid_from, coupon.valid_to, at)
    _require_not_held_out(session, coupon, buyer_id)
    dialect = session.get_bind().dialect.name
    session.execute(
        _NEW_HOLDING[dialect], {"coupon_id": coupon_id, "buyer_id": buyer_id, "claims": 0}
    )
    took = session.execute(
        update(_holdings)
        .where(
            _holdings.c.coupon_id == coupon_id,
            _holdings.c.buyer_id == buyer_id,
            _holdings.c.claims < coupon.per_buyer_limit,
        )
        .values(claims=_holdings.c.claims + 1)
    )
    if rowcount(took) == 0:
        raise Conflict(
            f"buyer {buyer_id} already holds {coupon.per_buyer_limit} of coupon {coupon_id},"
            f" its limit per buyer",
            code=ErrorCode.COUPON_LIMIT_REACHED,
            per_buyer_limit=coupon.per_buyer_limit,
        )
    inserted = session.execute(
        _NEW_CLAIM[dialect].returning(_claims.c.id),
        {
            "coupon_id": coupon_id,
            "buyer_id": buyer_id,
            "status": ClaimStatus.CLAIMED.value,
            "amount_fen": 0,
            "checkout_id": None,
            "idempotency_key": idempotency_key,
            "claimed_at": at,
            "updated_at": at,
        },
    ).scalar()
    if inserted is None:
        # the same key won a race on another connection: this holding's count goes back
        raise Conflict(
            "a claim with this key is being made on another connection; retry",
            code=ErrorCode.CONFLICT,
        )
    claim = session.get_one(CouponClaim, inserted)
    _event(session, coupon_id, claim.id, "claim", 0, actor, at)
    return claim


def _require_not_held_out(session: Session, coupon: Coupon, buyer_id: int) -> None:
    """A campaign's coupons are not offered to the buyers it keeps out (its holdout)."""
    if coupon.campaign_id is None:
        return
    campaign = session.get_one(Campaign, coupon.campaign_id)
    if rules.in_holdout(campaign.id, np.array([buyer_id], dtype=np.int64), campaign.holdout_bps)[0]:
        raise Conflict(
            f"buyer {buyer_id} is in campaign {campaign.id}'s holdout: its coupons are not"
            " offered to them",
            code=ErrorCode.CAMPAIGN_HOLDOUT,
            campaign_id=campaign.id,
        )


def _same_claim(claim: CouponClaim, coupon_id: int) -> CouponClaim:
    if claim.coupon_id != coupon_id:
        raise Conflict(
            "this idempotency key was used to claim another coupon",
            code=ErrorCode.IDEMPOTENCY_KEY_REUSED,
        )
    return claim


def _move(
    session: Session,
    claim_id: int,
    expected: ClaimStatus,
    to: ClaimStatus,
    **values: Any,
) -> bool:
    """Move the claim from ``expected`` to ``to``: True when this call did it."""
    moved = session.execute(
        update(_claims)
        .where(_claims.c.id == claim_id, _claims.c.status == expected.value)
        .values(status=to.value, **values)
    )
    return rowcount(moved) == 1


def _reload(session: Session, claim_id: int) -> CouponClaim:
    claim = session.scalar(
        select(CouponClaim)
        .where(CouponClaim.id == claim_id)
        .execution_options(populate_existing=True)
    )
    assert claim is not None
    return claim


def reserve_claim(
    session: Session,
    *,
    claim_id: int,
    buyer_id: int,
    goods_fen: int,
    checkout_id: int | None,
    at: datetime,
    actor: str = "buyer",
) -> CouponClaim:
    """Apply the buyer's claim to ``goods_fen`` of goods it covers: its discount is taken
    from the coupon's budget at once, or the reservation is refused (budget spent, threshold
    not met, outside the coupon's validity)."""
    claim = get_or_raise(session, CouponClaim, claim_id, "coupon claim")
    if claim.buyer_id != buyer_id:
        # another buyer's claim is not theirs to spend, and not theirs to learn of
        raise NotFound(f"coupon claim {claim_id} not found")
    coupon = get_or_raise(session, Coupon, claim.coupon_id, "coupon")
    if claim.status is not ClaimStatus.CLAIMED:
        raise IllegalTransition("coupon claim", claim.status.value, "be reserved")
    if goods_fen < 0:
        raise InvalidInput("goods_fen is negative")
    rules.require_valid(coupon.valid_from, coupon.valid_to, at)
    off = rules.discount_fen(
        rules.CouponTerms(
            coupon.kind, coupon.threshold_fen, coupon.amount_fen, coupon.discount_bps
        ),
        goods_fen,
    )
    if off == 0:
        raise Conflict(
            f"coupon {coupon.id} takes nothing off goods {yuan(goods_fen)}",
            code=ErrorCode.COUPON_NOT_APPLICABLE,
            goods_fen=goods_fen,
        )
    if not _move(
        session,
        claim_id,
        ClaimStatus.CLAIMED,
        ClaimStatus.RESERVED,
        amount_fen=off,
        checkout_id=checkout_id,
        updated_at=at,
    ):
        raise IllegalTransition(
            "coupon claim", _reload(session, claim_id).status.value, "be reserved"
        )
    took = session.execute(
        update(_coupons)
        .where(
            _coupons.c.id == coupon.id,
            _coupons.c.committed_fen + off <= _coupons.c.budget_fen,
            _coupons.c.committed_count < _coupons.c.budget_count,
        )
        .values(
            committed_fen=_coupons.c.committed_fen + off,
            committed_count=_coupons.c.committed_count + 1,
            updated_at=at,
        )
    )
    if rowcount(took) == 0:
        # the caller's transaction rolls back: the claim stays claimed
        raise Conflict(
            f"coupon {coupon.id}'s budget cannot cover {off} fen more",
            code=ErrorCode.COUPON_BUDGET_EXHAUSTED,
            amount_fen=off,
        )
    if coupon.campaign_id is not None and off:
        subsidised = session.execute(
            update(_campaigns)
            .where(
                _campaigns.c.id == coupon.campaign_id,
                _campaigns.c.subsidy_committed_fen + off <= _campaigns.c.subsidy_budget_fen,
            )
            .values(subsidy_committed_fen=_campaigns.c.subsidy_committed_fen + off)
        )
        if rowcount(subsidised) == 0:
            raise Conflict(
                f"campaign {coupon.campaign_id}'s subsidy budget cannot cover {off} fen more",
                code=ErrorCode.CAMPAIGN_SUBSIDY_EXHAUSTED,
                amount_fen=off,
            )
    _event(session, coupon.id, claim_id, "reserve", off, actor, at)
    return _reload(session, claim_id)


def redeem_claim(
    session: Session, *, claim_id: int, at: datetime, actor: str = "system"
) -> CouponClaim:
    """The checkout the claim was reserved for was paid: the reservation becomes spend
    (the budget was taken at reservation). A retry changes nothing."""
    claim = get_or_raise(session, CouponClaim, claim_id, "coupon claim")
    if claim.status is ClaimStatus.REDEEMED:
        return claim
    if not _move(session, claim_id, ClaimStatus.RESERVED, ClaimStatus.REDEEMED, updated_at=at):
        raise IllegalTransition(
            "coupon claim", _reload(session, claim_id).status.value, "be redeemed"
        )
    _event(session, claim.coupon_id, claim_id, "redeem", 0, actor, at)
    return _reload(session, claim_id)


def _give_back(
    session: Session,
    claim: CouponClaim,
    expected: ClaimStatus,
    to: ClaimStatus,
    action: str,
    at: datetime,
    actor: str,
) -> bool:
    amount = claim.amount_fen
    values: dict[str, Any] = {"updated_at": at}
    if to is ClaimStatus.CLAIMED:
        values |= {"amount_fen": 0, "checkout_id": None}
    if not _move(session, claim.id, expected, to, **values):
        return False
    session.execute(
        update(_coupons)
        .where(_coupons.c.id == claim.coupon_id)
        .values(
            committed_fen=_coupons.c.committed_fen - amount,
            committed_count=_coupons.c.committed_count - 1,
            updated_at=at,
        )
    )
    campaign_id = session.scalar(select(Coupon.campaign_id).where(Coupon.id == claim.coupon_id))
    if campaign_id is not None and amount:
        session.execute(
            update(_campaigns)
            .where(_campaigns.c.id == campaign_id)
            .values(subsidy_committed_fen=_campaigns.c.subsidy_committed_fen - amount)
        )
    _event(session, claim.coupon_id, claim.id, action, -amount, actor, at)
    return True


def release_claim(
    session: Session, *, claim_id: int, at: datetime, actor: str = "system"
) -> CouponClaim:
    """The checkout was cancelled or timed out unpaid: the reserved value goes back to the
    budget and the coupon back to the buyer. Releasing a claim not reserved changes nothing."""
    claim = get_or_raise(session, CouponClaim, claim_id, "coupon claim")
    _give_back(session, claim, ClaimStatus.RESERVED, ClaimStatus.CLAIMED, "release", at, actor)
    return _reload(session, claim_id)


def refund_claim(
    session: Session, *, claim_id: int, at: datetime, actor: str = "system"
) -> CouponClaim:
    """The paid order was refunded: the coupon's value goes back to the budget, exactly
    once however many refunds of it arrive together."""
    claim = get_or_raise(session, CouponClaim, claim_id, "coupon claim")
    if claim.status in (ClaimStatus.REFUNDED,):
        return claim
    if not _give_back(
        session, claim, ClaimStatus.REDEEMED, ClaimStatus.REFUNDED, "refund", at, actor
    ):
        current = _reload(session, claim_id)
        if current.status is not ClaimStatus.REFUNDED:
            raise IllegalTransition("coupon claim", current.status.value, "be refunded")
        return current
    return _reload(session, claim_id)


def expire_claims(session: Session, *, at: datetime, actor: str = "system") -> int:
    """Claims still unused when their coupon's validity ended expire (a job, not a reader).
    Returns how many did."""
    ended = select(_coupons.c.id).where(_coupons.c.valid_to <= at)
    expired = session.execute(
        update(_claims)
        .where(_claims.c.status == ClaimStatus.CLAIMED.value, _claims.c.coupon_id.in_(ended))
        .values(status=ClaimStatus.EXPIRED.value, updated_at=at)
        .returning(_claims.c.id, _claims.c.coupon_id)
    ).all()
    for claim_id, coupon_id in expired:
        _event(session, coupon_id, claim_id, "expire", 0, actor, at)
    return len(expired)
