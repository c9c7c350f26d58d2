"""Product subsidies (商品补贴): the platform pays part of an approved registration's campaign
price from the campaign's subsidy budget, within a cap an operator may set per shop.

- An operator grants a registration a unit subsidy (:func:`grant_subsidy`), with a reason on
  the record, until the main window opens; the buyer then pays the campaign price less it.
- An operator caps what one shop's sales may take of the budget (:func:`set_shop_cap`), and
  may move the cap while the festival runs, never below what the shop's sales already hold.
- A sale takes its subsidy by two guarded updates, the campaign's row first
  (``subsidy_committed_fen + amount <= subsidy_budget_fen``), then the shop's
  (``committed_fen + amount <= cap_fen``), in a savepoint: when either cannot cover it, the
  line sells at the campaign price without the subsidy (:func:`take_subsidies`).
- A cancelled sale gives its subsidy back with its units; a line refunded in full gives its
  subsidy back, once (:func:`give_back`, driven by ``checkout.settle_claims``).

Lock order: a checkout that may take a subsidy or a campaign-paid coupon locks those
campaigns' rows first, in id order (:func:`lock_campaigns`), then its registrations in id
order; a shop's subsidy row and a campaign's coupons are only written under their campaign's
lock. So no two checkouts wait on each other in a circle.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

import numpy as np
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from trustflow.bulk import IntArray, insert_unless_present, rowcount, table
from trustflow.campaigns import rules
from trustflow.campaigns.models import (
    Campaign,
    CampaignEvent,
    CampaignRegistration,
    CampaignShopSubsidy,
    RegistrationStatus,
)
from trustflow.catalog.models import Shop
from trustflow.db import get_or_raise
from trustflow.errors import Conflict, ErrorCode, IllegalTransition, InvalidInput
from trustflow.types import stated_reason
from trustflow.units import yuan

__all__ = [
    "MAX_REASON",
    "give_back",
    "grant_subsidy",
    "lock_campaigns",
    "set_shop_cap",
    "take_subsidies",
]

_campaigns = table(Campaign)
_registrations = table(CampaignRegistration)
_shops = table(CampaignShopSubsidy)
_NEW_SHOP = insert_unless_present(_shops, ["campaign_id", "shop_id"])
#: What an operator writes when granting a subsidy or setting a cap.
MAX_REASON = 500
_SUBSIDISABLE = (RegistrationStatus.PENDING.value, RegistrationStatus.APPROVED.value)


def _reason(reason: str, action: str, most: int = MAX_REASON) -> str:
    return stated_reason(reason, f"an operator's {action}", most=most)


def _ensure_shop_row(session: Session, campaign_id: int, shop_id: int, at: datetime) -> None:
    session.execute(
        _NEW_SHOP[session.get_bind().dialect.name],
        {
            "campaign_id": campaign_id,
            "shop_id": shop_id,
            "cap_fen": None,
            "committed_fen": 0,
            "updated_at": at,
        },
    )


def grant_subsidy(
    session: Session,
    *,
    registration_id: int,
    unit_subsidy_fen: int,
    reason: str,
    actor: str,
    at: datetime,
) -> CampaignRegistration:
    """An operator sets what the platform pays of each unit of a pending or approved
    registration (0 withdraws it), before the main window opens: the subsidy must leave the
    buyer something to pay, and the campaign must have a subsidy budget to pay it from."""
    reason = _reason(reason, "subsidy")
    registration = get_or_raise(session, CampaignRegistration, registration_id, "registration")
    campaign = get_or_raise(session, Campaign, registration.campaign_id, "campaign")
    rules.require_window("subsidy", campaign.registration_from, campaign.main_from, at)
    if unit_subsidy_fen < 0:
        raise InvalidInput(f"unit_subsidy_fen {unit_subsidy_fen} is negative")
    if unit_subsidy_fen >= registration.campaign_price_fen:
        raise InvalidInput(
            f"subsidy {yuan(unit_subsidy_fen)} is not below campaign price"
            f" {yuan(registration.campaign_price_fen)}",
            unit_subsidy_fen=unit_subsidy_fen,
            campaign_price_fen=registration.campaign_price_fen,
        )
    if unit_subsidy_fen and campaign.subsidy_budget_fen == 0:
        raise InvalidInput(f"campaign {campaign.id} has no subsidy budget to pay a subsidy from")
    moved = session.execute(
        update(_registrations)
        .where(
            _registrations.c.id == registration_id,
            _registrations.c.status.in_(_SUBSIDISABLE),
            # the price it was granted against (a concurrent re-registration moves it)
            _registrations.c.campaign_price_fen == registration.campaign_price_fen,
        )
        .values(unit_subsidy_fen=unit_subsidy_fen, updated_at=at)
    )
    if rowcount(moved) != 1:
        session.refresh(registration)
        raise IllegalTransition("registration", registration.status.value, "be subsidised")
    _ensure_shop_row(session, campaign.id, registration.shop_id, at)
    session.add(
        CampaignEvent(
            campaign_id=campaign.id,
            registration_id=registration_id,
            action="subsidise",
            from_status=None,
            to_status=None,
            reason=reason,
            amount_fen=unit_subsidy_fen,
            actor=actor,
            at=at,
        )
    )
    session.flush()
    session.refresh(registration)
    return registration


def set_shop_cap(
    session: Session,
    *,
    campaign_id: int,
    shop_id: int,
    cap_fen: int | None,
    reason: str,
    actor: str,
    at: datetime,
) -> CampaignShopSubsidy:
    """An operator caps what the shop's subsidised sales may take of the campaign's subsidy
    budget (None lifts the cap), any time until the main window closes; a cap below what
    the shop's sales already hold is refused with both numbers."""
    reason = _reason(reason, "subsidy cap", MAX_REASON - 40)
    campaign = get_or_raise(session, Campaign, campaign_id, "campaign")
    get_or_raise(session, Shop, shop_id, "shop")
    rules.require_window("subsidy cap", campaign.registration_from, campaign.main_to, at)
    if cap_fen is not None and cap_fen < 0:
        raise InvalidInput(f"cap_fen {cap_fen} is negative")
    _ensure_shop_row(session, campaign_id, shop_id, at)
    guard = [_shops.c.campaign_id == campaign_id, _shops.c.shop_id == shop_id]
    if cap_fen is not None:
        guard.append(_shops.c.committed_fen <= cap_fen)
    moved = session.execute(update(_shops).where(*guard).values(cap_fen=cap_fen, updated_at=at))
    row = session.scalar(
        select(CampaignShopSubsidy)
        .where(
            CampaignShopSubsidy.campaign_id == campaign_id, CampaignShopSubsidy.shop_id == shop_id
        )
        .execution_options(populate_existing=True)
    )
    assert row is not None
    if rowcount(moved) != 1:
        raise Conflict(
            f"cap {yuan(cap_fen or 0)} is below the {yuan(row.committed_fen)} shop {shop_id}'s"
            " sales already hold",
            code=ErrorCode.SUBSIDY_CAP_BELOW_COMMITTED,
            cap_fen=cap_fen,
            committed_fen=row.committed_fen,
        )
    session.add(
        CampaignEvent(
            campaign_id=campaign_id,
            registration_id=None,
            action="shop_subsidy_cap",
            from_status=None,
            to_status=None,
            reason=f"shop {shop_id}: {reason}",
            amount_fen=cap_fen,
            actor=actor,
            at=at,
        )
    )
    session.flush()
    return row


def lock_campaigns(session: Session, campaign_ids: Collection[int]) -> None:
    """Lock the campaigns' rows, in id order, before anything under them (module docstring:
    lock order). A no-op on SQLite, whose writers take turns."""
    if campaign_ids:
        session.execute(
            select(_campaigns.c.id)
            .where(_campaigns.c.id.in_(sorted(campaign_ids)))
            .order_by(_campaigns.c.id)
            .with_for_update()
        ).all()


def take_subsidies(
    session: Session, campaign_id: int, shop_id: int, amounts: IntArray, at: datetime
) -> int:
    """Take the sales' subsidies ``amounts`` (fen, in order) from the campaign's budget and
    the shop's cap: as many of them, from the first, as both cover, by one guarded update of
    each row. Returns how many; 0 takes nothing (another connection spent it meanwhile)."""
    amounts = np.asarray(amounts, dtype=np.int64)
    if len(amounts) == 0:
        return 0
    budget, committed = session.execute(
        select(_campaigns.c.subsidy_budget_fen, _campaigns.c.subsidy_committed_fen).where(
            _campaigns.c.id == campaign_id
        )
    ).one()
    room = int(budget - committed)
    # the shop's row was made when the subsidy was granted (grant_subsidy)
    cap, held = session.execute(
        select(_shops.c.cap_fen, _shops.c.committed_fen).where(
            _shops.c.campaign_id == campaign_id, _shops.c.shop_id == shop_id
        )
    ).one()
    if cap is not None:
        room = min(room, int(cap - held))
    admitted = int(np.searchsorted(np.cumsum(amounts), room, side="right"))
    if admitted == 0:
        return 0
    total = int(amounts[:admitted].sum())
    with session.begin_nested() as savepoint:
        took = rowcount(
            session.execute(
                update(_campaigns)
                .where(
                    _campaigns.c.id == campaign_id,
                    _campaigns.c.subsidy_committed_fen + total <= _campaigns.c.subsidy_budget_fen,
                )
                .values(subsidy_committed_fen=_campaigns.c.subsidy_committed_fen + total)
            )
        )
        if took == 1:
            took = rowcount(
                session.execute(
                    update(_shops)
                    .where(
                        _shops.c.campaign_id == campaign_id,
                        _shops.c.shop_id == shop_id,
                        (_shops.c.cap_fen.is_(None))
                        | (_shops.c.committed_fen + total <= _shops.c.cap_fen),
                    )
                    .values(committed_fen=_shops.c.committed_fen + total, updated_at=at)
                )
            )
        if took != 1:
            savepoint.rollback()
            return 0
    return admitted


def give_back(
    session: Session, campaign_id: int, shop_id: int, amount_fen: int, at: datetime
) -> None:
    """Return a sale's subsidy to the campaign's budget and the shop's cap (the caller moved
    the sale out of ``held`` by a guarded update first, so this runs once per sale)."""
    if amount_fen <= 0:
        return
    session.execute(
        update(_campaigns)
        .where(_campaigns.c.id == campaign_id)
        .values(subsidy_committed_fen=_campaigns.c.subsidy_committed_fen - amount_fen)
    )
    session.execute(
        update(_shops)
        .where(_shops.c.campaign_id == campaign_id, _shops.c.shop_id == shop_id)
        .values(committed_fen=_shops.c.committed_fen - amount_fen, updated_at=at)
    )
