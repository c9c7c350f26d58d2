"""The fast-brand plan's stages (快品牌): every fast-brand shop with its followers and the
growth stage they put it in (:data:`~trustflow.campaigns.rules.FAST_BRAND_STAGES`), and how
many brands stand at each stage. Followers are counted per shop from the follow table by its
shop index, for fast-brand shops only, in one grouped query."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from trustflow.accounts.models import Follow
from trustflow.campaigns import rules
from trustflow.catalog.models import Shop, ShopKind, ShopStatus

__all__ = ["FastBrand", "fast_brands"]


@dataclass(frozen=True)
class FastBrand:
    shop_id: int
    name: str
    fans: int
    stage: str


def fast_brands(session: Session) -> list[FastBrand]:
    """Active fast-brand shops, most followed first, each with its stage."""
    fans = (
        select(Follow.shop_id, func.count().label("fans"))
        .join(Shop, Shop.id == Follow.shop_id)
        .where(Shop.kind == ShopKind.FAST_BRAND)
        .group_by(Follow.shop_id)
        .subquery()
    )
    rows = session.execute(
        select(Shop.id, Shop.name, func.coalesce(fans.c.fans, 0))
        .outerjoin(fans, fans.c.shop_id == Shop.id)
        .where(Shop.kind == ShopKind.FAST_BRAND, Shop.status == ShopStatus.ACTIVE)
        .order_by(func.coalesce(fans.c.fans, 0).desc(), Shop.id)
    ).all()
    return [
        FastBrand(int(i), str(name), int(n), rules.fast_brand_stage(int(n))) for i, name, n in rows
    ]
