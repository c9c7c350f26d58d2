"""The hidden truth of a simulated marketplace: what each shop, product and creator is really
like, and what each order was likely to bring its buyer. Behaviour is drawn from it; the
engine never sees it. It is written beside the results (``truth.parquet``,
``order_truth.parquet``) so scores and estimators can be checked against it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import polars as pl

from trustflow.simulate.logistics import (
    BUYER_SHARE,
    PROMISE_MAX_HOURS,
    REGION_CODES,
    ShopLogistics,
    journeys,
)

Float = npt.NDArray[np.float64]
Int = npt.NDArray[np.int64]

#: A shop late on this share of its parcels (or more) gives a buyer nothing on logistics.
LATE_NOTHING = 0.3
#: Shadow journeys per shop and region behind a shop's long-run late rate.
SHOP_REPLICATES = 400


def long_run_late_rate(rng: np.random.Generator, logistics: ShopLogistics) -> Float:
    """Each shop's share of parcels arriving after ``deliver_by``, with its traits as they
    are in the long run (no drift) and buyers spread over the regions as they live: shadow
    journeys drawn exactly as the real ones."""
    n, k = len(logistics.home), SHOP_REPLICATES
    handover, carrier, stuck = logistics.stationary()
    late = np.zeros(n)
    for r in range(len(REGION_CODES)):
        shop = np.repeat(np.arange(n), k)
        region = np.full(n * k, r, dtype=np.int64)
        trip = journeys(
            rng, handover[shop], carrier[shop], stuck[shop], logistics.home[shop], region
        )
        due = logistics.handling_hours[shop] + PROMISE_MAX_HOURS[logistics.home[shop], r]
        late += BUYER_SHARE[r] * (trip.arrival > due).reshape(n, k).mean(axis=1)
    return late


@dataclass
class HiddenTruth:
    shop_id: Int
    shop_quality: Float  # 0..1: how good the goods are, on average
    shop_logistics_hours: Float  # mean hours from payment to hand-over, in the long run
    shop_service: Float  # 0..1: diligence in chat and after-sales
    shop_honesty: Float  # 0..1: 1 = never misdescribes goods
    product_id: Int
    product_quality: Float
    creator_id: Int
    creator_content: Float  # 0..1: how well the creator's content sells and informs
    creator_honesty: Float  # 0..1: 1 = never oversells what it distributes
    shop_region: npt.NDArray[np.str_]  # where the shop ships from
    shop_handling_hours: Int  # the hand-over time it promises
    shop_carrier: Float  # carrier speed factor in the long run (1: typical; lower is faster)
    shop_stuck: Float  # share of parcels stuck for days, in the long run
    shop_late_rate: Float  # share of parcels arriving after deliver_by, in the long run

    def shop_experience(self) -> Float:
        """True shop quality as a buyer lives it (0..1): half the goods, a quarter whether
        the parcel arrives by its promised ``deliver_by`` (the shop's long-run on-time share;
        late on 30% of parcels or more counts as nothing), a quarter service. This is what
        the store experience score sets out to measure; it never sees it."""
        logistics = np.clip(1 - self.shop_late_rate / LATE_NOTHING, 0.0, 1.0)
        return 0.5 * self.shop_quality + 0.25 * logistics + 0.25 * self.shop_service

    def frame(self) -> pl.DataFrame:
        """One row per entity; columns that do not apply to an entity are null."""
        shops = pl.DataFrame(
            {
                "entity": "shop",
                "id": self.shop_id,
                "quality": self.shop_quality,
                "logistics_hours": self.shop_logistics_hours,
                "service": self.shop_service,
                "honesty": self.shop_honesty,
                "experience": self.shop_experience(),
                "region": self.shop_region,
                "handling_hours": self.shop_handling_hours,
                "carrier": self.shop_carrier,
                "stuck_rate": self.shop_stuck,
                "late_rate": self.shop_late_rate,
            }
        )
        products = pl.DataFrame(
            {
                "entity": "product",
                "id": self.product_id,
                "quality": self.product_quality,
            }
        )
        creators = pl.DataFrame(
            {
                "entity": "creator",
                "id": self.creator_id,
                "quality": self.creator_content,
                "honesty": self.creator_honesty,
            }
        )
        return pl.concat([shops, products, creators], how="diagonal_relaxed")

    def write(self, path: Path) -> Path:
        self.frame().write_parquet(path)
        return path


@dataclass
class OrderTruth:
    """What each paid order was likely to bring its buyer, as of its payment (one row per
    order, by its store id): ``p_late``, the probability its parcel misses ``deliver_by``
    under its shop's traits that week and its region; ``p_bad_review``, the probability its
    first line's review, if written by a buyer who is not abusive, has 1–2 stars; and
    whether its buyer is abusive. Both are averages over shadow replicates of the real draw
    (``trustflow.simulate.outcomes.order_truth``)."""

    order_id: Int
    p_late: Float
    p_bad_review: Float
    abusive: npt.NDArray[np.bool_]

    def write(self, path: Path) -> Path:
        pl.DataFrame(
            {
                "order_id": self.order_id,
                "p_late": self.p_late,
                "p_bad_review": self.p_bad_review,
                "abusive": self.abusive,
            }
        ).sort("order_id").write_parquet(path)
        return path
