"""Build the synthetic marketplace: participants, catalog, library, follows and their truth."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import update
from sqlalchemy.orm import Session

from trustflow.accounts import bulk as accounts_bulk
from trustflow.accounts import service as accounts_service
from trustflow.accounts.models import Buyer
from trustflow.bulk import IntArray, chunks, table
from trustflow.catalog import bulk as catalog_bulk
from trustflow.catalog import service as catalog_service
from trustflow.catalog.models import ShopKind
from trustflow.distribution import bulk as distribution_bulk
from trustflow.scoring.gates import OFFER_GATE
from trustflow.simulate.config import CATEGORIES, KIND_SHARE, SimConfig
from trustflow.simulate.logistics import BUYER_SHARE, REGION_CODES, ShopLogistics
from trustflow.simulate.truth import HiddenTruth, long_run_late_rate

#: Mean goods quality and its spread by shop kind (Beta distribution, mean / concentration).
KIND_QUALITY = {
    "brand": (0.86, 30.0),
    "fast_brand": (0.8, 14.0),
    "source": (0.74, 9.0),
    "other": (0.66, 6.0),
}
KIND_COMMISSION_SHIFT = {"brand": -300, "fast_brand": 0, "source": 600, "other": 300}


def beta(
    rng: np.random.Generator, mean: float | np.ndarray, concentration: float, n: int
) -> np.ndarray:
    return rng.beta(mean * concentration, (1 - mean) * concentration, n)


@dataclass
class Population:
    category_ids: IntArray
    price_range: np.ndarray  # (n_categories, 2) in yuan
    shop_ids: IntArray
    shop_kind: np.ndarray
    shop_category: IntArray  # index into category_ids
    product_ids: IntArray
    sku_ids: IntArray
    product_shop: IntArray  # index into shop_ids
    product_category: IntArray
    product_price_fen: IntArray
    creator_ids: IntArray
    creator_fans: IntArray
    buyer_ids: IntArray
    buyer_activity: np.ndarray
    buyer_category: IntArray  # the category a buyer mostly searches
    buyer_abusive: np.ndarray
    buyer_region: IntArray  # index into logistics.REGION_CODES
    offer_ids: IntArray
    offer_product: IntArray  # index into product_ids
    offer_bps: IntArray
    selection_creator: IntArray  # index into creator_ids
    selection_offer: IntArray  # index into offer_ids
    follow_buyer: IntArray  # index into buyer_ids
    follow_creator: IntArray  # index into creator_ids
    shop_follow_buyer: IntArray  # index into buyer_ids
    shop_follow_shop: IntArray  # index into shop_ids
    logistics: ShopLogistics  # promises and true logistics, drifting week by week
    truth: HiddenTruth


def build(
    session: Session, config: SimConfig, rng: np.random.Generator, at: datetime
) -> Population:
    codes = list(CATEGORIES)
    category_ids = np.array(
        [catalog_service.create_category(session, code=c, name=CATEGORIES[c][0]).id for c in codes],
        dtype=np.int64,
    )
    price_range = np.array([[CATEGORIES[c][1], CATEGORIES[c][2]] for c in codes])

    n_shops = config.shops
    kinds = np.array(list(KIND_SHARE))
    shop_kind = rng.choice(kinds, size=n_shops, p=list(KIND_SHARE.values()))
    shop_category = rng.integers(0, len(codes), n_shops)
    merchant_ids = accounts_bulk.create_merchants(
        session, [f"Merchant {i + 1}" for i in range(n_shops)], at=at
    )
    shop_ids = catalog_bulk.create_shops(
        session,
        merchant_ids,
        [f"Shop {i + 1}" for i in range(n_shops)],
        [ShopKind(k) for k in shop_kind],
        category_ids[shop_category],
        at=at,
    )
    shop_quality = np.array([beta(rng, *KIND_QUALITY[k], 1)[0] for k in shop_kind])
    # How well each shop is run: it leans on the goods (their quality within the kind's
    # spread) and the logistics lean on it, each with plenty of room of its own, so a shop
    # of good goods can still ship badly.
    kind_mean = np.array([KIND_QUALITY[k][0] for k in shop_kind])
    kind_sd = np.sqrt(
        kind_mean * (1 - kind_mean) / (1 + np.array([KIND_QUALITY[k][1] for k in shop_kind]))
    )
    run_well = 0.6 * (shop_quality - kind_mean) / kind_sd + 0.8 * rng.normal(size=n_shops)
    logistics = ShopLogistics.draw(rng, shop_kind, run_well)
    for s, shop_id in enumerate(shop_ids.tolist()):
        catalog_service.set_fulfilment(
            session,
            shop_id=shop_id,
            handling_hours=int(logistics.handling_hours[s]),
            transit=logistics.transit_windows(s),
        )
    shop_service = beta(rng, np.clip(0.35 + 0.6 * shop_quality, 0.05, 0.95), 8.0, n_shops)
    shop_honesty = beta(rng, 0.9, 12.0, n_shops)

    per_shop = np.maximum(1, rng.poisson(config.products_per_shop, n_shops))
    product_shop = np.repeat(np.arange(n_shops), per_shop)
    n_products = len(product_shop)
    product_category = shop_category[product_shop]
    low, high = price_range[product_category, 0], price_range[product_category, 1]
    # log-uniform within the category's range; brands sit higher in it
    brand_shift = np.where(shop_kind[product_shop] == "brand", 0.25, 0.0)
    u = np.clip(rng.random(n_products) + brand_shift, 0, 1)
    price_yuan = np.exp(np.log(low) + u * (np.log(high) - np.log(low)))
    price_fen = (np.round(price_yuan, 1) * 100).astype(np.int64)
    stock = rng.integers(200, 2000, n_products) * max(1, config.buyers // 6000)
    product_ids, sku_ids = catalog_bulk.list_products_with_skus(
        session,
        shop_ids[product_shop],
        [f"Product {i + 1}" for i in range(n_products)],
        category_ids[product_category],
        price_fen,
        stock,
        at=at,
    )
    product_quality = np.clip(
        shop_quality[product_shop] + rng.normal(0, 0.07, n_products), 0.02, 0.99
    )

    n_creators = config.creators
    fans = config.creator_fans_min * (1 + rng.pareto(config.creator_fans_pareto_alpha, n_creators))
    creator_fans = np.minimum(fans, 5e7).astype(np.int64)
    creator_ids = accounts_bulk.create_creators(
        session, [f"Creator {i + 1}" for i in range(n_creators)], creator_fans, at=at
    )
    creator_content = beta(rng, 0.7, 6.0, n_creators)
    creator_honesty = beta(rng, 0.85, 8.0, n_creators)

    n_buyers = config.buyers
    buyer_ids = accounts_bulk.create_buyers(
        session, [f"Buyer {i + 1}" for i in range(n_buyers)], at=at
    )
    buyer_activity = rng.lognormal(0, 0.6, n_buyers)
    buyer_activity /= buyer_activity.mean()
    buyer_category = rng.integers(0, len(codes), n_buyers)
    buyer_abusive = rng.random(n_buyers) < config.abusive_buyer_share
    buyer_region = rng.choice(len(REGION_CODES), size=n_buyers, p=BUYER_SHARE).astype(np.int64)
    _set_regions(session, buyer_ids, buyer_region)

    # follows: buyers follow a few creators, popular ones more often (preferential attachment)
    n_follows = rng.poisson(config.follows_per_buyer, n_buyers)
    follow_buyer = np.repeat(np.arange(n_buyers), n_follows)
    pop = creator_fans / creator_fans.sum()
    follow_creator = rng.choice(n_creators, size=len(follow_buyer), p=pop)
    accounts_bulk.follow_creators(
        session, buyer_ids[follow_buyer], creator_ids[follow_creator], at=at
    )
    pairs = np.unique(follow_buyer * n_creators + follow_creator)
    follow_buyer, follow_creator = pairs // n_creators, pairs % n_creators

    # some buyers already follow shops (brands and fast brands draw more fans)
    n_shop_follows = rng.poisson(config.shop_follows_per_buyer, n_buyers)
    shop_pull = np.where(np.isin(shop_kind, ["brand", "fast_brand"]), 3.0, 1.0)
    shop_follow_buyer = np.repeat(np.arange(n_buyers), n_shop_follows)
    shop_follow_shop = rng.choice(
        n_shops, size=len(shop_follow_buyer), p=shop_pull / shop_pull.sum()
    )
    keys = np.unique(shop_follow_buyer * n_shops + shop_follow_shop)
    shop_follow_buyer, shop_follow_shop = keys // n_shops, keys % n_shops
    catalog_bulk.follow_shops(
        session, buyer_ids[shop_follow_buyer], shop_ids[shop_follow_shop], at=at
    )

    # distribution library: goods owners offer part of their range at a commission
    offered = np.flatnonzero(rng.random(n_products) < config.offer_share)
    lo, hi = config.commission_bps_range
    shift = np.array([KIND_COMMISSION_SHIFT[k] for k in shop_kind[product_shop[offered]]])
    offer_bps = np.clip(rng.integers(lo, hi, len(offered)) + shift, 0, 9000).astype(np.int64)
    offer_ids = distribution_bulk.publish_offers(session, product_ids[offered], offer_bps, at=at)

    # creators pick offers: attractive commission and goods that look good to them (better
    # judges of goods see quality more clearly)
    picks_per_creator = np.minimum(
        len(offered),
        1
        + rng.poisson(
            config.selections_per_creator * (creator_fans / np.median(creator_fans)) ** 0.2
        ),
    )
    sel_creator, sel_offer = [], []
    for c in range(n_creators):
        perceived = product_quality[offered] + rng.normal(
            0, 0.25 * (1 - creator_honesty[c]) + 0.05, len(offered)
        )
        score = np.exp(6 * perceived) * (offer_bps / 1000.0)
        chosen = rng.choice(
            len(offered), size=int(picks_per_creator[c]), replace=False, p=score / score.sum()
        )
        sel_creator.extend([c] * len(chosen))
        sel_offer.extend(chosen.tolist())
    selection_creator = np.array(sel_creator, dtype=np.int64)
    selection_offer = np.array(sel_offer, dtype=np.int64)
    distribution_bulk.select_offers(
        session,
        creator_ids[selection_creator],
        offer_ids[selection_offer],
        gate=OFFER_GATE,
        at=at,
    )

    provider_ids = [
        accounts_service.create_service_provider(session, name=f"Agency {i + 1}").id
        for i in range(config.service_providers)
    ]
    operated = np.flatnonzero(rng.random(n_shops) < config.provider_share)
    for s in operated.tolist():
        catalog_service.assign_shop_to_provider(
            session, provider_id=int(rng.choice(provider_ids)), shop_id=int(shop_ids[s]), at=at
        )

    truth = HiddenTruth(
        shop_id=shop_ids,
        shop_quality=shop_quality,
        shop_logistics_hours=logistics.handover_hours,
        shop_service=shop_service,
        shop_honesty=shop_honesty,
        product_id=product_ids,
        product_quality=product_quality,
        creator_id=creator_ids,
        creator_content=creator_content,
        creator_honesty=creator_honesty,
        shop_region=np.array(REGION_CODES)[logistics.home],
        shop_handling_hours=logistics.handling_hours,
        shop_carrier=logistics.carrier,
        shop_stuck=logistics.stationary()[2],
        shop_late_rate=long_run_late_rate(np.random.default_rng([config.seed, 1]), logistics),
    )
    return Population(
        category_ids=category_ids,
        price_range=price_range,
        shop_ids=shop_ids,
        shop_kind=shop_kind,
        shop_category=shop_category,
        product_ids=product_ids,
        sku_ids=sku_ids,
        product_shop=product_shop,
        product_category=product_category,
        product_price_fen=price_fen,
        creator_ids=creator_ids,
        creator_fans=creator_fans,
        buyer_ids=buyer_ids,
        buyer_activity=buyer_activity,
        buyer_category=buyer_category,
        buyer_abusive=buyer_abusive,
        buyer_region=buyer_region,
        offer_ids=offer_ids,
        offer_product=offered.astype(np.int64),
        offer_bps=offer_bps,
        selection_creator=selection_creator,
        selection_offer=selection_offer,
        follow_buyer=follow_buyer,
        follow_creator=follow_creator,
        shop_follow_buyer=shop_follow_buyer,
        shop_follow_shop=shop_follow_shop,
        logistics=logistics,
        truth=truth,
    )


def _set_regions(session: Session, buyer_ids: IntArray, region: IntArray) -> None:
    """Where each buyer's parcels go (``Buyer.region``): a few statements, one per region,
    where ``accounts_service.set_buyer_region`` would take one per buyer (the accounts bulk
    path creates buyers without a region)."""
    buyers = table(Buyer)
    for r, code in enumerate(REGION_CODES):
        for ids in chunks(buyer_ids[region == r]):
            session.execute(update(buyers).where(buyers.c.id.in_(ids)).values(region=code))
