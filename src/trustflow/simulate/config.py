"""Every knob of the simulated marketplace, with its default and where the number came from.

docs/simulator.md explains each one; the names here and there are the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Literal

Scale = Literal["small", "medium", "large"]

#: Categories with typical price ranges in yuan (low, high): live-commerce staples.
CATEGORIES: dict[str, tuple[str, float, float]] = {
    "apparel": ("Apparel", 39, 399),
    "beauty": ("Beauty", 29, 499),
    "food": ("Food & snacks", 9.9, 129),
    "home": ("Home goods", 19, 399),
    "digital": ("Digital", 99, 2999),
    "jewelry": ("Jewelry", 69, 1999),
    "mother_baby": ("Mother & baby", 29, 299),
    "agri": ("Farm produce", 9.9, 99),
}

#: Shop kinds and their share of shops: brands, fast brands grown on the platform, source
#: factories / farms, and the rest.
KIND_SHARE: dict[str, float] = {"brand": 0.15, "fast_brand": 0.2, "source": 0.35, "other": 0.3}


@dataclass(frozen=True)
class SimConfig:
    seed: int = 7
    days: int = 30
    start: datetime = datetime(2026, 1, 5, tzinfo=UTC)

    # population
    shops: int = 60
    products_per_shop: float = 6.0
    creators: int = 200
    buyers: int = 6_000
    service_providers: int = 4
    provider_share: float = 0.25
    creator_fans_pareto_alpha: float = 1.2
    creator_fans_min: int = 2_000
    follows_per_buyer: float = 3.0
    shop_follows_per_buyer: float = 1.5

    # traffic: impressions per buyer per day, and how they split across surfaces
    sessions_per_buyer: float = 1.4
    impressions_per_session: float = 9.0
    surface_share: dict[str, float] = field(
        default_factory=lambda: {
            "follow": 0.16,
            "featured": 0.24,
            "discover": 0.18,
            "short_video_to_live": 0.1,
            "search": 0.14,
            "mall": 0.1,
            "shop": 0.08,
        }
    )

    # conversion: order probability per impression before quality / price / fan effects
    base_conversion: dict[str, float] = field(
        default_factory=lambda: {
            "follow": 0.0045,
            "featured": 0.0011,
            "discover": 0.0009,
            "short_video_to_live": 0.0015,
            "search": 0.0032,
            "mall": 0.0011,
            "shop": 0.0042,
        }
    )
    fan_affinity: float = 2.0
    repurchase_affinity: float = 2.2
    satisfaction_memory_days: int = 45

    # content supply
    creator_live_days_share: float = 0.45
    shop_live_days_share: float = 0.7
    video_share: float = 0.5
    products_per_room: int = 12

    # distribution library
    offer_share: float = 0.55
    commission_bps_range: tuple[int, int] = (800, 3500)
    selections_per_creator: float = 10.0

    # carts: the share of product-card and self-broadcast orders to which the buyer adds a
    # second product of the same shop (an order of two lines; docs/simulator.md)
    multi_item_share: float = 0.15

    # fulfilment and after-sales
    unpaid_share: float = 0.03
    review_rate: float = 0.35
    chat_rate: float = 0.12
    after_sales_base: float = 0.02
    after_sales_quality_slope: float = 0.35
    no_reason_return_rate: float = 0.02
    abusive_buyer_share: float = 0.01
    escalation_rate: float = 0.5
    price_change_share: float = 0.02
    new_product_rate: float = 0.03

    def scaled(self, scale: Scale) -> SimConfig:
        factor = {"small": 1, "medium": 8, "large": 40}[scale]
        return replace(
            self,
            shops=self.shops * factor,
            creators=self.creators * factor,
            buyers=self.buyers * factor,
            service_providers=self.service_providers * factor,
        )


def config_for(scale: Scale = "small", *, seed: int = 7, days: int = 30) -> SimConfig:
    return replace(SimConfig(seed=seed, days=days), seed=seed).scaled(scale)
