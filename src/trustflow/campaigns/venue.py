"""A festival's main venue (主会场): the page on the top navigation that shows a campaign's
approved offers from the start of its warm-up to the end of its main window.

The order is the venue's rule, in one place:

1. the brand C-position plan's offers first (品牌C位: the centre of the venue);
2. then offers with units left before sold-out ones;
3. then by how much the buyer saves on the list price, as a share of it (the deepest cut first);
4. then the earlier registration.

Only offers whose product is listed and whose shop is active appear. What the buyer pays is the
checkout's rule: the campaign price less the platform's subsidy during the main window, for a
buyer the campaign does not hold out, while units are left and the list price is above the
campaign price; else the list price (before the main window the offer is shown as coming).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import case, select
from sqlalchemy.orm import Session

from trustflow.campaigns import rules
from trustflow.campaigns.models import (
    Campaign,
    CampaignRegistration,
    CampaignShopSubsidy,
    RegistrationStatus,
)
from trustflow.catalog.models import ListingStatus, Product, Shop, ShopStatus, Sku
from trustflow.db import get_or_raise
from trustflow.pagination import Page

__all__ = ["VenueItem", "venue"]


@dataclass(frozen=True)
class VenueItem:
    registration_id: int
    sku_id: int
    product_id: int
    shop_id: int
    title: str
    c_position: bool
    list_price_fen: int
    campaign_price_fen: int
    unit_subsidy_fen: int
    #: what this buyer pays for a unit now (the checkout decides: while the units last, and
    #: the subsidy while its budget and the shop's cap do)
    price_fen: int
    units_left: int
    #: the main window holds now (else the offer is coming: warm-up)
    on_sale: bool


def venue(
    session: Session,
    campaign_id: int,
    *,
    at: datetime,
    buyer_id: int | None,
    limit: int,
    offset: int,
) -> Page[VenueItem]:
    """The venue's offers as ``buyer_id`` (None: anyone not a buyer) sees them at ``at``,
    in the venue's order (module text); refused outside warm-up and the main window with
    ``campaign_window_closed`` and the window's times."""
    campaign = get_or_raise(session, Campaign, campaign_id, "campaign")
    rules.require_window("the venue", campaign.warmup_from, campaign.main_to, at)
    on_sale = campaign.main_from <= at
    held_out = buyer_id is not None and bool(
        rules.in_holdout(campaign.id, np.array([buyer_id], dtype=np.int64), campaign.holdout_bps)[0]
    )
    reg = CampaignRegistration
    left = reg.quantity - reg.sold
    # the subsidy as the checkout would give it now: while the campaign's budget and the
    # shop's cap cover a unit of it
    budget_left = campaign.subsidy_budget_fen - campaign.subsidy_committed_fen
    cap_left = case(
        (CampaignShopSubsidy.cap_fen.is_(None), budget_left),
        else_=CampaignShopSubsidy.cap_fen - CampaignShopSubsidy.committed_fen,
    )
    subsidy = case(
        (
            (reg.unit_subsidy_fen <= budget_left) & (reg.unit_subsidy_fen <= cap_left),
            reg.unit_subsidy_fen,
        ),
        else_=0,
    )
    buyer_pays = reg.campaign_price_fen - subsidy
    rows = session.execute(
        select(
            reg.id,
            reg.sku_id,
            Product.id,
            reg.shop_id,
            Product.title,
            reg.c_position,
            Sku.price_fen,
            reg.campaign_price_fen,
            subsidy,
            left,
        )
        .join(Sku, Sku.id == reg.sku_id)
        .outerjoin(
            CampaignShopSubsidy,
            (CampaignShopSubsidy.campaign_id == reg.campaign_id)
            & (CampaignShopSubsidy.shop_id == reg.shop_id),
        )
        .join(Product, Product.id == Sku.product_id)
        .join(Shop, Shop.id == reg.shop_id)
        .where(
            reg.campaign_id == campaign_id,
            reg.status == RegistrationStatus.APPROVED,
            Product.status == ListingStatus.LISTED,
            Shop.status == ShopStatus.ACTIVE,
        )
        .order_by(
            reg.c_position.desc(),
            case((left > 0, 0), else_=1),
            # the saving as a share of the list price, deepest first
            ((Sku.price_fen - buyer_pays) * 1.0 / Sku.price_fen).desc(),
            reg.id,
        )
        .limit(limit + 1)
        .offset(offset)
    ).all()
    items = []
    for row in rows[:limit]:
        rid, sku, product, shop, title, c_position, list_price, campaign_price, subsidy = row[:9]
        units = row[9]
        cut = on_sale and not held_out and units > 0 and list_price > campaign_price
        items.append(
            VenueItem(
                registration_id=rid,
                sku_id=sku,
                product_id=product,
                shop_id=shop,
                title=title,
                c_position=bool(c_position),
                list_price_fen=list_price,
                campaign_price_fen=campaign_price,
                unit_subsidy_fen=subsidy,
                price_fen=campaign_price - subsidy if cut else list_price,
                units_left=max(int(units), 0),
                on_sale=on_sale,
            )
        )
    return Page(
        items=items,
        offset=offset,
        limit=limit,
        next_offset=offset + limit if len(rows) > limit else None,
    )
