"""Campaign prices and coupons at checkout: the server decides what comes off each line and
who pays for it; the buyer only names the coupon claims to use.

Campaign prices come first: during a campaign's main window, a SKU with an approved
registration sells at its campaign price while the registration's quantity lasts, the
difference recorded as the merchant's discount (a :class:`CampaignSale` per line). Where an
operator granted the registration a product subsidy, the platform pays that much of each
unit too, recorded as the platform's discount, while the campaign's subsidy budget and the
shop's cap cover it (:mod:`trustflow.campaigns.subsidies`).

Stacking policy (docs/campaigns.md): at most one merchant coupon per shop and one platform
coupon per checkout. Merchant coupons apply first, each to its own shop's lines; the
platform coupon then applies to every line, on what is left to pay. A coupon's discount is
split over its lines in proportion to what each has left to pay, in whole fen (largest
remainder, ties to the earlier line), and recorded on each line as the merchant's or the
platform's share.

Whatever happens to the checkout later, :func:`settle_claims` brings the claims in line:
paid → redeemed; expired or every order cancelled before payment → released (the coupon
back to the buyer); every discounted order refunded in full → refunded (the value back to
the budget, once); the campaign units and subsidies of cancelled orders go back to their
registrations and budgets, once; and a subsidised line refunded in full gives its subsidy
back, once. Paying through :func:`pay_with_coupons` settles at once; the job
catches everything else.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np
from sqlalchemy import ColumnElement, Row, Select, and_, func, or_, select, union, update
from sqlalchemy.orm import Session

from trustflow.aftersales.models import AfterSalesRequest, AfterSalesStatus
from trustflow.bulk import rowcount, table
from trustflow.campaigns import coupons, rules, subsidies
from trustflow.campaigns.models import (
    Campaign,
    CampaignRegistration,
    CampaignSale,
    ClaimStatus,
    Coupon,
    CouponClaim,
    CouponIssuer,
    RegistrationStatus,
    SaleStatus,
)
from trustflow.errors import Conflict, ErrorCode, InvalidInput, NotFound
from trustflow.orders import checkout as orders_checkout
from trustflow.orders import service as orders_service
from trustflow.orders.models import Checkout, CheckoutStatus, Order, OrderLine, OrderStatus

__all__ = ["MAX_CLAIMS", "pay_with_coupons", "place_with_coupons", "settle_claims"]

_registrations = table(CampaignRegistration)
_sales = table(CampaignSale)

#: The most claims one checkout may use.
MAX_CLAIMS = orders_checkout.MAX_COUPON_CLAIMS


def place_with_coupons(
    session: Session,
    *,
    buyer_id: int,
    items: Sequence[orders_checkout.CheckoutItem],
    claim_ids: Sequence[int],
    idempotency_key: str,
    at: datetime,
    actor: str = "buyer",
) -> Checkout:
    """Place the cart as :func:`trustflow.orders.checkout.place_checkout` does, at campaign
    prices where a campaign's main window is on, and apply the buyer's claims to it, all in
    the caller's transaction: one claim refused (not the buyer's, used, below its threshold,
    budget spent, against the stacking policy) refuses the checkout. A retry with the same
    key returns the first checkout as it was."""
    if len(claim_ids) > MAX_CLAIMS or len(set(claim_ids)) != len(claim_ids):
        raise InvalidInput(f"a checkout uses up to {MAX_CLAIMS} different coupon claims")
    checkout, new = orders_checkout.place_checkout_once(
        session, buyer_id=buyer_id, items=items, idempotency_key=idempotency_key, at=at, actor=actor
    )
    if not new:
        # a retry: the first call's coupons stand; naming others is another checkout
        applied = set(
            session.scalars(select(CouponClaim.id).where(CouponClaim.checkout_id == checkout.id))
        )
        if applied != set(claim_ids):
            raise Conflict(
                "this idempotency key was used for a checkout with other coupons",
                code=ErrorCode.IDEMPOTENCY_KEY_REUSED,
                checkout_id=checkout.id,
            )
        return checkout
    offers = campaign_offers(session, {item.sku_id for item in items}, at, buyer_id=buyer_id)
    if not claim_ids and not offers:
        return checkout  # nothing comes off: the checkout as placed
    claims = _buyers_claims(session, buyer_id, claim_ids) if claim_ids else []
    # lock order (campaigns/subsidies.py): the campaigns whose subsidy budget this checkout
    # may take from, first
    subsidies.lock_campaigns(
        session,
        {o.campaign_id for o in offers.values() if o.unit_subsidy_fen}
        | {c.campaign_id for _, c in claims if c.campaign_id is not None},
    )
    orders = orders_checkout.checkout_orders(session, checkout.id)
    lines = [line for o in orders for line in orders_service.order_lines(session, o.id)]
    shop_of = {o.id: o.shop_id for o in orders}
    # what is left to pay, per (order, line)
    left = {(line.order_id, line.id): line.paid_amount_fen for line in lines}
    given: dict[int, dict[int, tuple[int, int]]] = {}
    for order_id, line_id, off, subsidy in _campaign_prices(session, lines, offers, at):
        left[(order_id, line_id)] -= off + subsidy
        given.setdefault(order_id, {})[line_id] = (off, subsidy)
    for claim, coupon in claims:
        eligible = [
            key for key in left if coupon.shop_id is None or shop_of[key[0]] == coupon.shop_id
        ]
        if not eligible:
            raise Conflict(
                f"coupon {coupon.id} is for shop {coupon.shop_id}, which has no goods in this cart",
                code=ErrorCode.COUPON_NOT_APPLICABLE,
                coupon_id=coupon.id,
            )
        goods = sum(left[key] for key in eligible)
        reserved = coupons.reserve_claim(
            session,
            claim_id=claim.id,
            buyer_id=buyer_id,
            goods_fen=goods,
            checkout_id=checkout.id,
            at=at,
            actor=actor,
        )
        shares = rules.split(reserved.amount_fen, [left[key] for key in eligible])
        merchant = coupon.issuer is CouponIssuer.MERCHANT
        for (order_id, line_id), share in zip(eligible, shares, strict=True):
            left[(order_id, line_id)] -= share
            m, p = given.setdefault(order_id, {}).get(line_id, (0, 0))
            given[order_id][line_id] = (m + share, p) if merchant else (m, p + share)
    if given:
        orders_checkout.discount_checkout(
            session, checkout_id=checkout.id, discounts=given, at=at, actor=actor
        )
    return checkout


def offers_by_sku(
    session: Session, skus: set[int], at: datetime
) -> dict[int, list[tuple[CampaignRegistration, int]]]:
    """Per SKU, the approved registrations whose campaign's main window holds ``at``, with
    their campaign's ``holdout_bps``, the lowest campaign price first (ties: the earlier)."""
    rows = session.execute(
        select(CampaignRegistration, Campaign.holdout_bps)
        .join(Campaign, Campaign.id == CampaignRegistration.campaign_id)
        .where(
            CampaignRegistration.sku_id.in_(skus),
            CampaignRegistration.status == RegistrationStatus.APPROVED,
            Campaign.main_from <= at,
            Campaign.main_to > at,
        )
        .order_by(CampaignRegistration.campaign_price_fen, CampaignRegistration.id)
    ).all()
    out: dict[int, list[tuple[CampaignRegistration, int]]] = {}
    for offer, holdout_bps in rows:
        out.setdefault(offer.sku_id, []).append((offer, int(holdout_bps)))
    return out


def campaign_offers(
    session: Session, skus: set[int], at: datetime, *, buyer_id: int
) -> dict[int, CampaignRegistration]:
    """Per SKU, the offer the buyer gets: the lowest campaign price among the campaigns in
    their main window that do not hold the buyer out (:func:`~trustflow.campaigns.rules.
    in_holdout`). The bulk path picks by the same rule, row by row."""
    buyer = np.array([buyer_id], dtype=np.int64)
    best: dict[int, CampaignRegistration] = {}
    for sku, offers in offers_by_sku(session, skus, at).items():
        for offer, holdout_bps in offers:
            if not rules.in_holdout(offer.campaign_id, buyer, holdout_bps)[0]:
                best[sku] = offer
                break
    return best


def _campaign_prices(
    session: Session,
    lines: Sequence[OrderLine],
    best: dict[int, CampaignRegistration],
    at: datetime,
) -> list[tuple[int, int, int, int]]:
    """``(order, line, merchant's discount, platform's subsidy)`` for each line whose SKU has
    a campaign offer (:func:`campaign_offers`), while the registration's quantity lasts: its
    units are taken by one guarded update, and a line they cannot cover pays the list price.
    A subsidised offer's line takes its subsidy too while the campaign's budget and the
    shop's cap cover it (:func:`~trustflow.campaigns.subsidies.take_subsidies`), else sells
    at the campaign price alone. Registrations are taken in id order (the lock order)."""
    out = []
    offered = [line for line in lines if line.sku_id in best]
    for line in sorted(offered, key=lambda line: (best[line.sku_id].id, line.id)):
        offer = best[line.sku_id]
        if line.unit_price_fen <= offer.campaign_price_fen:
            continue
        took = session.execute(
            update(_registrations)
            .where(
                _registrations.c.id == offer.id,
                _registrations.c.sold + line.quantity <= _registrations.c.quantity,
            )
            .values(sold=_registrations.c.sold + line.quantity)
        )
        if rowcount(took) != 1:
            continue  # sold out at the campaign price
        unit = line.unit_price_fen - offer.campaign_price_fen
        subsidy = offer.unit_subsidy_fen
        if subsidy and not subsidies.take_subsidies(
            session, offer.campaign_id, offer.shop_id, np.array([subsidy * line.quantity]), at
        ):
            subsidy = 0  # the budget or the shop's cap is spent: the campaign price alone
        session.add(
            CampaignSale(
                registration_id=offer.id,
                order_id=line.order_id,
                line_id=line.id,
                quantity=line.quantity,
                unit_discount_fen=unit,
                unit_subsidy_fen=subsidy,
                created_at=at,
                updated_at=at,
            )
        )
        out.append((line.order_id, line.id, unit * line.quantity, subsidy * line.quantity))
    return out


def _buyers_claims(
    session: Session, buyer_id: int, claim_ids: Sequence[int]
) -> list[tuple[CouponClaim, Coupon]]:
    """The claims, merchant coupons first, checked against the stacking policy."""
    rows = session.execute(
        select(CouponClaim, Coupon)
        .join(Coupon, Coupon.id == CouponClaim.coupon_id)
        .where(CouponClaim.id.in_(claim_ids), CouponClaim.buyer_id == buyer_id)
    ).all()
    found = {claim.id: (claim, coupon) for claim, coupon in rows}
    missing = [i for i in claim_ids if i not in found]
    if missing:  # another buyer's claim is not theirs to learn of
        raise NotFound(f"coupon claim {missing[0]} not found")
    chosen = [found[i] for i in claim_ids]
    seen: set[int | None] = set()
    for _, coupon in chosen:
        if coupon.shop_id in seen:
            who = "the platform" if coupon.shop_id is None else f"shop {coupon.shop_id}"
            raise InvalidInput(
                f"one coupon from {who} per checkout: coupons of one issuer do not stack",
                code=ErrorCode.COUPON_NOT_STACKABLE,
            )
        seen.add(coupon.shop_id)
    # merchant coupons first, each coupon's row taken in id order (the lock order)
    return sorted(chosen, key=lambda pair: (pair[1].issuer is CouponIssuer.PLATFORM, pair[1].id))


def pay_with_coupons(
    session: Session,
    *,
    checkout_id: int,
    idempotency_key: str,
    at: datetime,
    actor: str = "buyer",
) -> Checkout:
    """Pay the checkout (:func:`trustflow.orders.checkout.pay_checkout`) and redeem its
    coupons in the same transaction."""
    checkout = orders_checkout.pay_checkout(
        session, checkout_id=checkout_id, idempotency_key=idempotency_key, at=at, actor=actor
    )
    settle_claims(session, at=at, checkout_id=checkout_id)
    return checkout


def settle_claims(session: Session, *, at: datetime, checkout_id: int | None = None) -> int:
    """Bring reserved and redeemed claims in line with their checkouts (one checkout, or
    every one: a job). Each move is the claim's own guarded action, so running this twice,
    or beside a payment, moves nothing twice. Returns how many claims moved."""
    moved = 0
    scope: list[ColumnElement[bool]] = (
        [] if checkout_id is None else [CouponClaim.checkout_id == checkout_id]
    )
    _lock_settling(session, scope, checkout_id)
    live = select(Order.id).where(
        Order.checkout_id == CouponClaim.checkout_id,
        Order.status != OrderStatus.CANCELLED,
    )
    unpaid_ends = session.scalars(
        select(CouponClaim.id)
        .join(Checkout, Checkout.id == CouponClaim.checkout_id)
        .where(
            CouponClaim.status == ClaimStatus.RESERVED,
            or_(Checkout.status == CheckoutStatus.EXPIRED, ~live.exists()),
            Checkout.status != CheckoutStatus.PAID,
            *scope,
        )
        .order_by(CouponClaim.coupon_id, CouponClaim.id)  # coupons in id order: the lock order
    ).all()
    for claim_id in unpaid_ends:
        coupons.release_claim(session, claim_id=claim_id, at=at)
        moved += 1
    paid = session.scalars(
        select(CouponClaim.id)
        .join(Checkout, Checkout.id == CouponClaim.checkout_id)
        .where(
            CouponClaim.status == ClaimStatus.RESERVED,
            Checkout.status == CheckoutStatus.PAID,
            *scope,
        )
    ).all()
    for claim_id in paid:
        coupons.redeem_claim(session, claim_id=claim_id, at=at)
        moved += 1
    for claim_id in _refunded_in_full(session, scope):
        coupons.refund_claim(session, claim_id=claim_id, at=at)
        moved += 1
    return moved + _return_cancelled_sales(session, at, checkout_id)


def _lock_settling(
    session: Session, scope: Sequence[ColumnElement[bool]], checkout_id: int | None
) -> None:
    """The lock order (``campaigns/subsidies.py``): the campaigns whose coupons' claims or
    whose held sales this settling may give back to, first, in id order; then the coupons and
    registrations, each in id order (the queries below sort them so)."""
    claims = (
        select(Coupon.campaign_id)
        .join(CouponClaim, CouponClaim.coupon_id == Coupon.id)
        .where(
            Coupon.campaign_id.is_not(None),
            CouponClaim.status.in_([ClaimStatus.RESERVED, ClaimStatus.REDEEMED]),
            *scope,
        )
    )
    sales = (
        select(CampaignRegistration.campaign_id)
        .join(CampaignSale, CampaignSale.registration_id == CampaignRegistration.id)
        .join(Order, Order.id == CampaignSale.order_id)
        .where(CampaignSale.status == SaleStatus.HELD)
    )
    if checkout_id is not None:
        sales = sales.where(Order.checkout_id == checkout_id)
    touched = union(claims, sales).subquery()
    subsidies.lock_campaigns(session, {int(c) for c in session.scalars(select(touched.c[0]))})


def _return_cancelled_sales(session: Session, at: datetime, checkout_id: int | None) -> int:
    """Units sold at a campaign price on orders since cancelled go back to their
    registrations, and their subsidy to the budgets, each sale once (a guarded update of its
    status first)."""
    cancelled = _held_sales().where(Order.status == OrderStatus.CANCELLED)
    if checkout_id is not None:
        cancelled = cancelled.where(Order.checkout_id == checkout_id)
    cancelled = cancelled.order_by(CampaignSale.registration_id, CampaignSale.id)
    returned = 0
    for sale in session.execute(cancelled).all():
        if _leave_held(session, sale.id, SaleStatus.RETURNED, at):
            session.execute(
                update(_registrations)
                .where(_registrations.c.id == sale.registration_id)
                .values(sold=_registrations.c.sold - sale.quantity)
            )
            _give_back_subsidy(session, sale, at)
            returned += 1
    return returned + _return_refunded_subsidies(session, at, checkout_id)


def _held_sales() -> Select[int, int, int, int, int, int]:
    return (
        select(
            CampaignSale.id,
            CampaignSale.registration_id,
            CampaignSale.quantity,
            CampaignSale.unit_subsidy_fen,
            CampaignRegistration.campaign_id,
            CampaignRegistration.shop_id,
        )
        .join(Order, Order.id == CampaignSale.order_id)
        .join(CampaignRegistration, CampaignRegistration.id == CampaignSale.registration_id)
        .where(CampaignSale.status == SaleStatus.HELD)
    )


def _leave_held(session: Session, sale_id: int, to: SaleStatus, at: datetime) -> bool:
    moved = session.execute(
        update(_sales)
        .where(_sales.c.id == sale_id, _sales.c.status == SaleStatus.HELD.value)
        .values(status=to.value, updated_at=at)
    )
    return rowcount(moved) == 1


def _give_back_subsidy(
    session: Session, sale: Row[int, int, int, int, int, int], at: datetime
) -> None:
    subsidies.give_back(
        session, sale.campaign_id, sale.shop_id, sale.unit_subsidy_fen * sale.quantity, at
    )


def _return_refunded_subsidies(session: Session, at: datetime, checkout_id: int | None) -> int:
    """A subsidised line refunded in full gives its subsidy back to the budgets, once (its
    units stay sold: the merchant sold them at the campaign price). A partial refund keeps
    it, as a partial refund keeps a coupon (docs/campaigns.md, "Product subsidies")."""
    refunded = (
        select(AfterSalesRequest.line_id, func.sum(AfterSalesRequest.refund_fen).label("fen"))
        .where(AfterSalesRequest.status == AfterSalesStatus.REFUNDED)
        .group_by(AfterSalesRequest.line_id)
        .subquery()
    )
    stmt = (
        _held_sales()
        .join(OrderLine, OrderLine.id == CampaignSale.line_id)
        .join(refunded, refunded.c.line_id == CampaignSale.line_id)
        .where(
            CampaignSale.unit_subsidy_fen > 0,
            Order.status != OrderStatus.CANCELLED,
            refunded.c.fen >= OrderLine.paid_amount_fen,
        )
    )
    if checkout_id is not None:
        stmt = stmt.where(Order.checkout_id == checkout_id)
    stmt = stmt.order_by(CampaignSale.registration_id, CampaignSale.id)
    returned = 0
    for sale in session.execute(stmt).all():
        if _leave_held(session, sale.id, SaleStatus.REFUNDED, at):
            _give_back_subsidy(session, sale, at)
            returned += 1
    return returned


def _refunded_in_full(session: Session, scope: Sequence[ColumnElement[bool]]) -> Sequence[int]:
    """Redeemed claims whose discounted orders (its shop's in the checkout, or all of them
    for a platform coupon) were all paid back in full: a cancellation after payment,
    refunds, or both."""
    refunded = (
        select(
            AfterSalesRequest.order_id,
            func.sum(AfterSalesRequest.refund_fen).label("fen"),
        )
        .where(AfterSalesRequest.status == AfterSalesStatus.REFUNDED)
        .group_by(AfterSalesRequest.order_id)
        .subquery()
    )
    owed = (
        select(Order.id)
        .outerjoin(refunded, refunded.c.order_id == Order.id)
        .where(
            Order.checkout_id == CouponClaim.checkout_id,
            # the orders the coupon discounted: its shop's, or all for a platform coupon
            or_(Coupon.shop_id.is_(None), Order.shop_id == Coupon.shop_id),
            Order.paid_at.is_not(None),
            Order.cancel_refund_fen + func.coalesce(refunded.c.fen, 0) < Order.paid_amount_fen,
        )
    )
    return session.scalars(
        select(CouponClaim.id)
        .join(Coupon, Coupon.id == CouponClaim.coupon_id)
        .where(
            CouponClaim.status == ClaimStatus.REDEEMED,
            and_(CouponClaim.checkout_id.is_not(None), ~owed.exists()),
            *scope,
        )
        .order_by(CouponClaim.coupon_id, CouponClaim.id)
    ).all()
