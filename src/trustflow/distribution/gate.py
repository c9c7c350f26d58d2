"""The gate a creator's pick of an offer passes beyond the offer's own terms, handed in by the
caller: distribution asks it, and never names what decides.

:data:`trustflow.scoring.gates.OFFER_GATE` is the one the marketplace uses: it refuses a
restricted creator, product or shop (docs/scores.md). Scoring sits above distribution and may
import it; distribution never imports scoring.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol

from sqlalchemy.orm import Session

__all__ = ["OfferGate"]


class OfferGate(Protocol):
    """Whether a creator may take on new distribution of a product."""

    def refusal(self, session: Session, *, creator_id: int, product_id: int) -> str | None:
        """Why the creator may not take on the product (a sentence for the creator), or
        ``None`` when it may."""
        ...

    def refused_pairs(
        self, session: Session, pairs: Collection[tuple[int, int]]
    ) -> set[tuple[int, int]]:
        """Of (creator, product) pairs, the ones :meth:`refusal` refuses, in a few queries for
        set-based paths."""
        ...
