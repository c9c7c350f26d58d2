"""Creators' picks of offers ask the gate their caller hands in, on both paths alike."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests import factories
from trustflow.accounts import service as accounts_service
from trustflow.distribution import bulk as distribution_bulk
from trustflow.distribution import service as distribution_service
from trustflow.distribution.models import CreatorSelection
from trustflow.errors import Conflict, ErrorCode

AT = datetime(2026, 3, 1, tzinfo=UTC)


@dataclass
class RefusingGate:
    """Refuses the creators named, and records what it was asked."""

    creators: set[int]
    asked: list[tuple[int, int]] = field(default_factory=list)

    def refusal(self, session: Session, *, creator_id: int, product_id: int) -> str | None:
        self.asked.append((creator_id, product_id))
        return f"creator {creator_id} may not" if creator_id in self.creators else None

    def refused_pairs(
        self, session: Session, pairs: Collection[tuple[int, int]]
    ) -> set[tuple[int, int]]:
        self.asked.extend(sorted(pairs))
        return {(c, p) for c, p in pairs if c in self.creators}


@dataclass
class Library:
    product_id: int
    offer_id: int
    allowed: int
    refused: int


@pytest.fixture
def library(session: Session) -> Library:
    product = factories.seller(session, category_id=factories.category(session)).product_id
    offer = distribution_service.create_offer(
        session, product_id=product, commission_bps=2000, valid_from=AT
    )
    allowed, refused = (
        accounts_service.create_creator(session, name=name).id for name in ("Allowed", "Refused")
    )
    return Library(product, offer.id, allowed, refused)


def _selections(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(CreatorSelection)) or 0


def test_a_pick_the_gate_refuses_is_a_conflict_with_the_gate_s_reason(
    session: Session, library: Library
) -> None:
    gate = RefusingGate({library.refused})

    with pytest.raises(Conflict) as refused:
        distribution_service.select_offer(
            session, creator_id=library.refused, offer_id=library.offer_id, gate=gate, at=AT
        )

    assert refused.value.code is ErrorCode.SCORE_RESTRICTED
    assert refused.value.message == f"creator {library.refused} may not"
    assert gate.asked == [(library.refused, library.product_id)]
    assert _selections(session) == 0


def test_a_pick_made_before_is_returned_without_asking_the_gate_again(
    session: Session, library: Library
) -> None:
    gate = RefusingGate(set())
    first = distribution_service.select_offer(
        session, creator_id=library.allowed, offer_id=library.offer_id, gate=gate, at=AT
    )
    gate.creators.add(library.allowed)

    again = distribution_service.select_offer(
        session, creator_id=library.allowed, offer_id=library.offer_id, gate=gate, at=AT
    )

    assert again.id == first.id and len(gate.asked) == 1


def test_picks_in_bulk_leave_out_the_ones_the_gate_refuses(
    session: Session, library: Library
) -> None:
    gate = RefusingGate({library.refused})

    added = distribution_bulk.select_offers(
        session,
        np.array([library.allowed, library.refused]),
        np.array([library.offer_id, library.offer_id]),
        gate=gate,
        at=AT,
    )

    assert added == 1
    assert gate.asked == [
        (library.allowed, library.product_id),
        (library.refused, library.product_id),
    ]
    assert session.scalars(select(CreatorSelection.creator_id)).all() == [library.allowed]
