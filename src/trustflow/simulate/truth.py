"""The hidden truth of a simulated marketplace: what each shop, product and creator is really
like. Behaviour is drawn from it; the engine never sees it. It is written beside the results
(``truth.parquet``) so scores and estimators can be checked against it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import polars as pl

Float = npt.NDArray[np.float64]
Int = npt.NDArray[np.int64]


@dataclass
class HiddenTruth:
    shop_id: Int
    shop_quality: Float  # 0..1: how good the goods are, on average
    shop_logistics_hours: Float  # mean hours from payment to hand-over to the carrier
    shop_service: Float  # 0..1: diligence in chat and after-sales
    shop_honesty: Float  # 0..1: 1 = never misdescribes goods
    product_id: Int
    product_quality: Float
    creator_id: Int
    creator_content: Float  # 0..1: how well the creator's content sells and informs
    creator_honesty: Float  # 0..1: 1 = never oversells what it distributes

    def shop_experience(self) -> Float:
        """True shop quality as a buyer lives it (0..1): half the goods, a quarter how fast
        the parcel is handed over (72 hours or slower counts as nothing), a quarter service.
        This is what the store experience score sets out to measure; it never sees it."""
        logistics = np.clip(1 - self.shop_logistics_hours / 72.0, 0.0, 1.0)
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
