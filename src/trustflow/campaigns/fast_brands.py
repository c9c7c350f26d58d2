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
from trustflow.scoring.models import EntityScore, ScoreKind, Tier
from trustflow.scoring.service import active_version

__all__ = ["FastBrand", "benchmark_fast_brands", "fast_brands"]


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


def benchmark_fast_brands(session: Session) -> list[int]:
    """The benchmark fast brands the plan guarantees traffic to
    (:data:`~trustflow.campaigns.rules.FAST_BRAND_GUARANTEE`): active fast-brand shops whose
    store score in the active version is good or excellent and not restricted."""
    version = active_version(session)
    if version is None:
        return []
    return [
        int(shop)
        for shop in session.scalars(
            select(Shop.id)
            .join(
                EntityScore,
                (EntityScore.entity_id == Shop.id)
                & (EntityScore.kind == ScoreKind.STORE)
                & (EntityScore.version_id == version.id),
            )
            .where(
                Shop.kind == ShopKind.FAST_BRAND,
                Shop.status == ShopStatus.ACTIVE,
                EntityScore.tier.in_([Tier.EXCELLENT, Tier.GOOD]),
                EntityScore.restricted.is_(False),
            )
            .order_by(Shop.id)
        )
    ]
