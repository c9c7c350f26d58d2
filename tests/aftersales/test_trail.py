"""Every after-sales action leaves one event, the same from the service and the bulk path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests import factories
from trustflow.aftersales import bulk as aftersales_bulk
from trustflow.aftersales import service as aftersales_service
from trustflow.aftersales.models import (
    ActorRole,
    AfterSalesEvent,
    AfterSalesKind,
    AfterSalesReason,
    AfterSalesStatus,
    DisputeOutcome,
    ResponsibleParty,
)
from trustflow.aftersales.rules import Actor
from trustflow.errors import IllegalTransition

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
BUYER, MERCHANT, PLATFORM = (
    Actor(ActorRole.BUYER, 7),
    Actor(ActorRole.MERCHANT, 3),
    Actor(ActorRole.PLATFORM),
)

#: Each request's kind and the actions taken on it, in order, by whom.
JOURNEYS: list[tuple[AfterSalesKind, list[tuple[str, Actor, dict[str, Any]]]]] = [
    (AfterSalesKind.REFUND_ONLY, [("approve", MERCHANT, {})]),
    (
        AfterSalesKind.RETURN_REFUND,
        [
            ("reject", MERCHANT, {}),
            ("escalate", BUYER, {}),
            (
                "arbitrate",
                PLATFORM,
                {
                    "outcome": DisputeOutcome.BUYER_WON,
                    "responsible_party": ResponsibleParty.MERCHANT,
                },
            ),
            ("return_shipped", BUYER, {}),
            ("return_received", MERCHANT, {}),
        ],
    ),
    (AfterSalesKind.EXCHANGE, [("approve", MERCHANT, {}), ("withdraw", BUYER, {})]),
    (
        AfterSalesKind.REFUND_ONLY,
        [
            ("reject", MERCHANT, {}),
            ("escalate", BUYER, {}),
            (
                "arbitrate",
                PLATFORM,
                {
                    "outcome": DisputeOutcome.MERCHANT_WON,
                    "responsible_party": ResponsibleParty.BUYER,
                },
            ),
        ],
    ),
]


def _delivered(session: Session, count: int, key: str) -> list[int]:
    cat = factories.category(session, code=f"c{key}")
    sold = factories.seller(session, category_id=cat, name=f"S{key}")
    buyer = factories.buyer(session, f"b{key}")
    return factories.delivered_orders(session, sold, buyer_id=buyer, count=count, start=T0, key=key)


def _trail(session: Session, request_ids: list[int]) -> list[list[tuple[Any, ...]]]:
    trails = []
    for rid in request_ids:
        trails.append(
            [
                (e.action, e.from_status, e.to_status, e.actor_role, e.actor_id, e.at)
                for e in aftersales_service.request_events(session, rid)
            ]
        )
    return trails


def _by_service(session: Session, order_ids: list[int]) -> list[int]:
    ids = []
    for order_id, (kind, steps) in zip(order_ids, JOURNEYS, strict=True):
        at = T0 + timedelta(days=3)
        request = aftersales_service.request_after_sales(
            session,
            order_id=order_id,
            kind=kind,
            reason=AfterSalesReason.QUALITY,
            actor=BUYER,
            at=at,
        )
        for n, (action, actor, extra) in enumerate(steps, start=1):
            getattr(aftersales_service, action)(
                session, request_id=request.id, actor=actor, at=at + timedelta(hours=n), **extra
            )
        ids.append(request.id)
    return ids


def _by_bulk(session: Session, order_ids: list[int]) -> list[int]:
    at = T0 + timedelta(days=3)
    ids = aftersales_bulk.request_after_sales(
        session,
        np.array(order_ids, dtype=np.int64),
        [kind for kind, _ in JOURNEYS],
        [AfterSalesReason.QUALITY] * len(JOURNEYS),
        [at] * len(JOURNEYS),
        actor=BUYER,
    ).tolist()
    for rid, (_, steps) in zip(ids, JOURNEYS, strict=True):
        for n, (action, actor, extra) in enumerate(steps, start=1):
            done = aftersales_bulk.advance_requests(
                session,
                np.array([rid], dtype=np.int64),
                action,
                at + timedelta(hours=n),
                actor=actor,
                **extra,
            )
            assert done.tolist() == [rid]
    return ids


def test_the_bulk_path_writes_the_same_trail_as_the_service(session: Session) -> None:
    one_at_a_time = _by_service(session, _delivered(session, len(JOURNEYS), "s"))
    batched = _by_bulk(session, _delivered(session, len(JOURNEYS), "b"))
    session.commit()
    session.expire_all()

    expected = _trail(session, one_at_a_time)
    assert _trail(session, batched) == expected
    at = T0 + timedelta(days=3)
    opened = ("request", None, "requested", ActorRole.BUYER, 7, at)
    assert expected[0] == [
        opened,
        ("approve", "requested", "refunded", ActorRole.MERCHANT, 3, at + timedelta(hours=1)),
    ]
    assert [(e[0], e[2], e[3]) for e in expected[1]] == [
        ("request", "requested", ActorRole.BUYER),
        ("reject", "rejected", ActorRole.MERCHANT),
        ("escalate", "escalated", ActorRole.BUYER),
        ("arbitrate", "awaiting_return", ActorRole.PLATFORM),
        ("return_shipped", "returned", ActorRole.BUYER),
        ("return_received", "refunded", ActorRole.MERCHANT),
    ]
    assert [e[2] for e in expected[3]][-1] == "closed"


def test_an_illegal_transition_writes_no_event(session: Session) -> None:
    (order_id,) = _delivered(session, 1, "x")
    request = aftersales_service.request_after_sales(
        session,
        order_id=order_id,
        kind=AfterSalesKind.REFUND_ONLY,
        reason=AfterSalesReason.QUALITY,
        actor=BUYER,
        at=T0 + timedelta(days=3),
    )
    session.commit()

    with pytest.raises(IllegalTransition):
        aftersales_service.escalate(session, request_id=request.id, actor=BUYER)
    session.rollback()
    done = aftersales_bulk.advance_requests(
        session, np.array([request.id]), "escalate", T0 + timedelta(days=4), actor=BUYER
    )
    session.commit()

    assert done.tolist() == []
    assert session.scalar(select(func.count()).select_from(AfterSalesEvent)) == 1
    assert aftersales_service.get_request(session, request.id).status is AfterSalesStatus.REQUESTED
