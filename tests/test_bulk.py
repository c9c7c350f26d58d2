"""Set-based helpers: column-wise appends reach the store exactly as row-wise inserts do."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from trustflow import bulk
from trustflow.traffic.models import Impression
from trustflow.vocabulary import ItemKind, Surface


def test_copy_columns_writes_every_kind_of_column_exactly(session: Session) -> None:
    shown = np.array(["2026-03-02T12:00:00.123456", "2026-03-02T23:59:59.999999", "2026-03-03"])
    bulk.copy_columns(
        session,
        bulk.table(Impression),
        {
            "surface": bulk.Labels(np.array([2, 0, 2]), ["follow", "search", "discover"]),
            "item_kind": bulk.Labels(np.array([0, 0, 0]), ["live_session"]),
            "item_id": np.array([7, 2**40, 9]),
            "buyer_id": None,
            "shown_at": shown.astype("datetime64[us]"),
            "count": np.array([1, 5, 2**31 - 1]),
            "is_reward": np.array([True, False, False]),
            "reward_plan": bulk.Labels(np.array([1, 0, 0]), [None, "chuanliu"]),
            "plan_version": "p-1",
        },
        rows=3,
    )
    rows = session.execute(
        select(
            Impression.surface,
            Impression.item_kind,
            Impression.item_id,
            Impression.buyer_id,
            Impression.shown_at,
            Impression.count,
            Impression.is_reward,
            Impression.reward_plan,
        ).order_by(Impression.item_id)
    ).all()
    assert [tuple(r) for r in rows] == [
        (Surface.DISCOVER, ItemKind.LIVE_SESSION, 7, None,
         datetime(2026, 3, 2, 12, 0, 0, 123456, tzinfo=UTC), 1, True, "chuanliu"),
        (Surface.DISCOVER, ItemKind.LIVE_SESSION, 9, None,
         datetime(2026, 3, 3, tzinfo=UTC), 2**31 - 1, False, None),
        (Surface.FOLLOW, ItemKind.LIVE_SESSION, 2**40, None,
         datetime(2026, 3, 2, 23, 59, 59, 999999, tzinfo=UTC), 5, False, None),
    ]  # fmt: skip


def test_copy_columns_refuses_a_column_it_cannot_encode(session: Session) -> None:
    with pytest.raises(TypeError, match="item_id"):
        bulk.copy_columns(
            session,
            bulk.table(Impression),
            {"item_id": np.array([1.5]), "surface": bulk.Labels(np.array([0]), ["follow"])},
            rows=1,
        )


def test_copy_columns_refuses_integers_too_wide_for_their_column(session: Session) -> None:
    with pytest.raises(ValueError, match="count"):
        bulk.copy_columns(
            session,
            bulk.table(Impression),
            {
                "surface": bulk.Labels(np.array([0]), ["follow"]),
                "item_kind": "live_session",
                "item_id": np.array([1]),
                "buyer_id": None,
                "shown_at": np.array(["2026-03-02"], dtype="datetime64[us]"),
                "count": np.array([2**31]),
                "is_reward": np.array([False]),
                "reward_plan": None,
                "plan_version": None,
            },
            rows=1,
        )


def test_a_sorted_lookup_finds_values_or_positions_and_minus_one_for_the_missing() -> None:
    keys = np.array([3, 8, 20], dtype=np.int64)

    assert bulk.sorted_lookup(keys, [8, 4, 20, 99, 0]).tolist() == [1, -1, 2, -1, -1]
    assert bulk.sorted_lookup(keys, [20, 3, 5], values=[30, 80, 200]).tolist() == [200, 30, -1]
    assert bulk.sorted_lookup(keys[:0], [1, 2]).tolist() == [-1, -1]
