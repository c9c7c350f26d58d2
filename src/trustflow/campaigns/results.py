"""What a campaign brought: its orders, GMV, buyers new to the shop, the subsidy it spent and
the GMV per yuan of it, and how its registrations were answered.

A campaign's orders are the paid, uncancelled orders that sold at least one line at its
campaign price, or used a coupon its subsidy budget pays for. Each figure is one aggregate
query over those orders (indexed joins from the campaign's sales and claims), never a scan
of the order table row by row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, exists, func, select, union
from sqlalchemy.orm import Session, aliased

from trustflow.campaigns.models import (
    Campaign,
    CampaignBoost,
    CampaignRegistration,
    CampaignSale,
    ClaimStatus,
    Coupon,
    CouponClaim,
    RegistrationStatus,
    SaleStatus,
)
from trustflow.db import get_or_raise
from trustflow.orders.models import Order, OrderStatus
from trustflow.units import yuan

__all__ = ["CampaignResults", "boost_by_day", "campaign_results"]


@dataclass(frozen=True)
class CampaignResults:
    campaign_id: int
    name: str
    orders: int
    gmv_fen: int
    buyers: int
    #: buyers with no earlier paid order from the shop they bought from in the campaign
    buyers_new_to_shop: int
    subsidy_budget_fen: int
    #: redeemed coupons the campaign pays for and product subsidies of paid orders (what
    #: unpaid checkouts reserve not counted: that is ``subsidy_reserved_fen``)
    subsidy_spent_fen: int
    subsidy_reserved_fen: int
    #: of what was spent: coupons, product subsidies
    subsidy_spent_by_kind: dict[str, int]
    registrations: dict[str, int]
    #: refused registrations by the rule that refused them (one may break several)
    refusals_by_rule: dict[str, int]
    #: boost traffic: reward impressions promised to boosted shops, and delivered
    boost_promised: int
    boost_delivered: int
    #: of what was promised: the rewards earned (registration, going live, fan growth) and
    #: the boost itself
    promised_by_kind: dict[str, int]
    #: units sold at campaign prices (less those of cancelled orders)
    campaign_units: int

    @property
    def gmv_per_subsidy_yuan(self) -> Decimal | None:
        """GMV per yuan of subsidy spent (None before any was spent)."""
        if self.subsidy_spent_fen == 0:
            return None
        return (Decimal(self.gmv_fen) / Decimal(self.subsidy_spent_fen)).quantize(Decimal("0.01"))

    def as_dict(self) -> dict[str, Any]:
        """The figures as people read them: money in yuan (exact decimals)."""
        return {
            "campaign_id": self.campaign_id,
            "name": self.name,
            "orders": self.orders,
            "gmv_yuan": yuan(self.gmv_fen),
            "buyers": self.buyers,
            "buyers_new_to_shop": self.buyers_new_to_shop,
            "subsidy_budget_yuan": yuan(self.subsidy_budget_fen),
            "subsidy_spent_yuan": yuan(self.subsidy_spent_fen),
            "subsidy_reserved_yuan": yuan(self.subsidy_reserved_fen),
            "subsidy_spent_by_kind_yuan": {
                kind: yuan(fen) for kind, fen in self.subsidy_spent_by_kind.items()
            },
            "gmv_per_subsidy_yuan": self.gmv_per_subsidy_yuan,
            "registrations": self.registrations,
            "registrations_refused": self.registrations.get(RegistrationStatus.REFUSED.value, 0),
            "refusals_by_rule": self.refusals_by_rule,
            "boost_promised": self.boost_promised,
            "boost_delivered": self.boost_delivered,
            "promised_by_kind": self.promised_by_kind,
            "campaign_units": self.campaign_units,
        }


def campaign_results(session: Session, campaign_id: int) -> CampaignResults:
    campaign = get_or_raise(session, Campaign, campaign_id, "campaign")
    sold = (
        select(CampaignSale.order_id.label("order_id"))
        .join(CampaignRegistration, CampaignRegistration.id == CampaignSale.registration_id)
        .where(
            CampaignRegistration.campaign_id == campaign_id,
            CampaignSale.status != SaleStatus.RETURNED,
        )
    )
    couponed = (
        select(Order.id.label("order_id"))
        .join(CouponClaim, CouponClaim.checkout_id == Order.checkout_id)
        .join(Coupon, Coupon.id == CouponClaim.coupon_id)
        .where(Coupon.campaign_id == campaign_id, CouponClaim.status == ClaimStatus.REDEEMED)
    )
    ids = union(sold, couponed).subquery()
    ours = (
        select(Order.id, Order.buyer_id, Order.shop_id, Order.paid_at, Order.paid_amount_fen)
        .join(ids, ids.c.order_id == Order.id)
        .where(Order.paid_at.is_not(None), Order.status != OrderStatus.CANCELLED)
        .subquery()
    )
    earlier = aliased(Order)
    orders, gmv, buyers = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(ours.c.paid_amount_fen), 0),
            func.count(func.distinct(ours.c.buyer_id)),
        )
    ).one()
    new_buyers = session.scalar(
        select(func.count(func.distinct(ours.c.buyer_id))).where(
            ~exists().where(
                and_(
                    earlier.buyer_id == ours.c.buyer_id,
                    earlier.shop_id == ours.c.shop_id,
                    earlier.paid_at < ours.c.paid_at,
                    earlier.id != ours.c.id,
                )
            )
        )
    )
    by_status = dict(
        session.execute(
            select(CampaignRegistration.status, func.count())
            .where(CampaignRegistration.campaign_id == campaign_id)
            .group_by(CampaignRegistration.status)
        ).all()
    )
    spent = dict(
        session.execute(
            select(CouponClaim.status, func.coalesce(func.sum(CouponClaim.amount_fen), 0))
            .join(Coupon, Coupon.id == CouponClaim.coupon_id)
            .where(
                Coupon.campaign_id == campaign_id,
                CouponClaim.status.in_([ClaimStatus.RESERVED, ClaimStatus.REDEEMED]),
            )
            .group_by(CouponClaim.status)
        ).all()
    )
    refusals: dict[str, int] = {}
    for reasons in session.scalars(
        select(CampaignRegistration.reasons).where(
            CampaignRegistration.campaign_id == campaign_id,
            CampaignRegistration.status == RegistrationStatus.REFUSED,
        )
    ):
        for reason in reasons:
            refusals[reason["code"]] = refusals.get(reason["code"], 0) + 1
    promised, delivered, registration, live, fans = session.execute(
        select(
            func.coalesce(func.sum(CampaignBoost.promised_impressions), 0),
            func.coalesce(func.sum(CampaignBoost.delivered_impressions), 0),
            func.coalesce(func.sum(CampaignBoost.registration_impressions), 0),
            func.coalesce(func.sum(CampaignBoost.live_impressions), 0),
            func.coalesce(func.sum(CampaignBoost.fan_impressions), 0),
        ).where(CampaignBoost.campaign_id == campaign_id)
    ).one()
    units = session.scalar(
        select(func.coalesce(func.sum(CampaignSale.quantity), 0))
        .join(CampaignRegistration, CampaignRegistration.id == CampaignSale.registration_id)
        .where(
            CampaignRegistration.campaign_id == campaign_id,
            CampaignSale.status != SaleStatus.RETURNED,
        )
    )
    # product subsidies the campaign's held sales took: paid orders' spent, others' reserved
    subsidised = dict(
        session.execute(
            select(
                Order.paid_at.is_not(None),
                func.coalesce(func.sum(CampaignSale.unit_subsidy_fen * CampaignSale.quantity), 0),
            )
            .join(CampaignRegistration, CampaignRegistration.id == CampaignSale.registration_id)
            .join(Order, Order.id == CampaignSale.order_id)
            .where(
                CampaignRegistration.campaign_id == campaign_id,
                CampaignSale.status == SaleStatus.HELD,
            )
            .group_by(Order.paid_at.is_not(None))
        ).all()
    )
    coupon_spent = int(spent.get(ClaimStatus.REDEEMED, 0))
    product_spent = int(subsidised.get(True, 0))
    return CampaignResults(
        campaign_id=campaign.id,
        name=campaign.name,
        orders=int(orders),
        gmv_fen=int(gmv),
        buyers=int(buyers),
        buyers_new_to_shop=int(new_buyers or 0),
        subsidy_budget_fen=campaign.subsidy_budget_fen,
        subsidy_spent_fen=coupon_spent + product_spent,
        subsidy_reserved_fen=int(spent.get(ClaimStatus.RESERVED, 0))
        + int(subsidised.get(False, 0)),
        subsidy_spent_by_kind={"coupons": coupon_spent, "products": product_spent},
        registrations={s.value: int(by_status.get(s, 0)) for s in RegistrationStatus},
        refusals_by_rule=dict(sorted(refusals.items())),
        boost_promised=int(promised),
        boost_delivered=int(delivered),
        promised_by_kind={
            "registration": int(registration),
            "going_live": int(live),
            "fan_growth": int(fans),
            "boost": int(promised) - int(registration) - int(live) - int(fans),
        },
        campaign_units=int(units or 0),
    )


def boost_by_day(session: Session) -> list[tuple[date, int, int]]:
    """Boost traffic per day over every campaign: (day, promised, delivered)."""
    return [
        (day, int(promised), int(delivered))
        for day, promised, delivered in session.execute(
            select(
                CampaignBoost.day,
                func.sum(CampaignBoost.promised_impressions),
                func.sum(CampaignBoost.delivered_impressions),
            )
            .group_by(CampaignBoost.day)
            .order_by(CampaignBoost.day)
        )
    ]
