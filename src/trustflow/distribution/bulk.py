"""Set-based distribution actions: many offers published, many selections made."""

from __future__ import annotations

from datetime import datetime

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from trustflow.accounts.models import Creator
from trustflow.bulk import (
    IntArray,
    existing_pairs,
    fetch_map,
    insert_many,
    insert_returning_ids,
    require_all_exist,
    table,
)
from trustflow.catalog.models import Product
from trustflow.distribution.gate import OfferGate
from trustflow.distribution.models import CreatorSelection, DistributionOffer
from trustflow.distribution.service import MAX_COMMISSION_BPS
from trustflow.errors import InvalidInput

__all__ = [
    "publish_offers",
    "select_offers",
]


def publish_offers(
    session: Session, product_ids: IntArray, commission_bps: IntArray, *, at: datetime
) -> IntArray:
    bps = np.asarray(commission_bps, dtype=np.int64)
    if ((bps < 0) | (bps > MAX_COMMISSION_BPS)).any():
        raise InvalidInput(f"commission_bps must be in 0..{MAX_COMMISSION_BPS}")
    require_all_exist(session, table(Product), product_ids, "product")
    return insert_returning_ids(
        session,
        table(DistributionOffer),
        [
            {
                "product_id": int(p),
                "commission_bps": int(b),
                "valid_from": at,
                "valid_until": None,
                "created_at": at,
            }
            for p, b in zip(product_ids, bps, strict=True)
        ],
    )


def select_offers(
    session: Session, creator_ids: IntArray, offer_ids: IntArray, *, gate: OfferGate, at: datetime
) -> int:
    """Creators pick offers; picks that already exist are kept, not repeated, and picks
    ``gate`` refuses (as the one-at-a-time path refuses them) are left out."""
    selections = table(CreatorSelection)
    pairs = sorted(
        set(zip(np.asarray(creator_ids).tolist(), np.asarray(offer_ids).tolist(), strict=True))
    )
    require_all_exist(session, table(Creator), [c for c, _ in pairs], "creator")
    require_all_exist(session, table(DistributionOffer), [o for _, o in pairs], "offer")
    present = existing_pairs(session, selections.c.creator_id, selections.c.offer_id, pairs)
    new = [(c, o) for c, o in pairs if (c, o) not in present]
    refused = _refused(session, new, gate)
    rows = [
        {"creator_id": c, "offer_id": o, "created_at": at} for c, o in new if (c, o) not in refused
    ]
    insert_many(session, selections, rows)
    return len(rows)


def _refused(
    session: Session, pairs: list[tuple[int, int]], gate: OfferGate
) -> set[tuple[int, int]]:
    """The (creator, offer) picks ``gate`` refuses, asked of it by the offers' products."""
    if not pairs:
        return set()
    offers = table(DistributionOffer)
    offer_product = {
        o: row[1]
        for o, row in fetch_map(
            session, select(offers.c.id, offers.c.product_id), offers.c.id, [o for _, o in pairs]
        ).items()
    }
    refused = gate.refused_pairs(session, {(c, offer_product[o]) for c, o in pairs})
    return {(c, o) for c, o in pairs if (c, offer_product[o]) in refused}
