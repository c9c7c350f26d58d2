"""One edge for time: every time from outside lies in the documented span, or is refused
with ``time_out_of_range`` (a 422 from the API), and nothing is written.

Times at the edge of what Python holds, with an offset, used to answer 500 (OverflowError).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi import FastAPI
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import StatementError

from tests.api import conftest as api
from trustflow.api.deps import SessionDep
from trustflow.catalog import service as catalog_service
from trustflow.catalog.models import PriceChange
from trustflow.content.models import LiveSession
from trustflow.db import session_factory
from trustflow.distribution.models import DistributionOffer
from trustflow.errors import ErrorCode, InvalidInput
from trustflow.traffic.models import Impression
from trustflow.types import EARLIEST, LATEST, Instant, check_day, utc_instant

API = "/api/v1"
world = api.world

#: Out of the span: at Python's own edges with an offset, and just outside ours.
OUTSIDE = [
    "0001-01-01T00:00:00+14:00",
    "0001-01-02T00:00:00+00:00",
    "9999-12-31T23:00:00-12:00",
    "1999-12-31T23:59:59.999999+00:00",
    "2000-01-01T00:30:00+01:00",  # 1999-12-31T23:30Z
    "2100-01-01T00:00:00+00:00",
    "2099-12-31T23:00:00-01:00",  # 2100-01-01T00:00Z
]


def _rows(engine: Engine, model: type[Any]) -> int:
    with session_factory(engine)() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def _refused_as_out_of_range(response: Any) -> None:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    (problem,) = error["details"]["errors"]
    assert problem["type"] == "time_out_of_range"
    assert EARLIEST.isoformat() in problem["msg"] and LATEST.isoformat() in problem["msg"]


# -- the API: the five repros of the issue and their neighbours -------------------------


@pytest.mark.parametrize("at", OUTSIDE)
def test_lowest_price_at_a_time_outside_the_span_is_refused(world: api.World, at: str) -> None:
    r = world.client.get(
        f"{API}/skus/{world.a.sku_id}/lowest-price",
        params={"at": at},
        headers=world.as_("buyer"),
    )
    _refused_as_out_of_range(r)


def test_lowest_price_answers_at_the_last_instant_of_the_span(world: api.World) -> None:
    last = LATEST - timedelta(microseconds=1)
    r = world.client.get(
        f"{API}/skus/{world.a.sku_id}/lowest-price",
        params={"at": last.astimezone(timezone(timedelta(hours=-12))).isoformat()},
        headers=world.as_("buyer"),
    )
    assert r.status_code == 200, r.text
    assert r.json()["lowest_price_fen"] == 9_900
    assert datetime.fromisoformat(r.json()["at"]) == last


@pytest.mark.parametrize("at", OUTSIDE)
def test_a_live_session_scheduled_outside_the_span_is_refused_and_not_stored(
    world: api.World, engine: Engine, at: str
) -> None:
    r = world.client.post(
        f"{API}/live-sessions",
        json={"title": "edge", "scheduled_at": at},
        headers=world.as_("creator"),
    )
    _refused_as_out_of_range(r)
    assert _rows(engine, LiveSession) == 0


@pytest.mark.parametrize("field", ["valid_from", "valid_until"])
@pytest.mark.parametrize("at", ["9999-12-31T23:00:00-12:00", "0001-01-01T00:00:00+14:00"])
def test_an_offer_valid_outside_the_span_is_refused_and_not_stored(
    world: api.World, engine: Engine, field: str, at: str
) -> None:
    offers = _rows(engine, DistributionOffer)
    r = world.client.post(
        f"{API}/offers",
        json={"product_id": world.b.product_id, "commission_bps": 1000, field: at},
        headers=world.as_("merchant_b"),
    )
    _refused_as_out_of_range(r)
    assert _rows(engine, DistributionOffer) == offers


@pytest.mark.parametrize("at", ["9999-12-31T23:00:00-12:00", "0001-01-01T00:00:00+14:00"])
def test_a_batch_with_one_impression_outside_the_span_stores_nothing(
    world: api.World, engine: Engine, at: str
) -> None:
    row = {"surface": "discover", "item_kind": "product_card", "item_id": world.a.product_id}
    r = world.client.post(
        f"{API}/impressions",
        json={
            "impressions": [
                row | {"shown_at": "2026-03-02T12:00:00Z"},
                row | {"shown_at": at},
            ]
        },
        headers=world.as_("operator"),
    )
    assert r.status_code == 422
    assert [e["type"] for e in r.json()["error"]["details"]["errors"]] == ["time_out_of_range"]
    assert _rows(engine, Impression) == 0


def test_an_offset_time_in_the_span_is_stored_in_utc(world: api.World) -> None:
    r = world.client.post(
        f"{API}/live-sessions",
        json={"title": "edge", "scheduled_at": "2000-01-01T08:00:00+08:00"},
        headers=world.as_("creator"),
    )
    assert r.status_code == 201, r.text
    assert datetime.fromisoformat(r.json()["scheduled_at"]) == EARLIEST


def test_a_time_that_slips_past_the_edges_is_still_a_422_and_nothing_is_written(
    world: api.World, engine: Engine
) -> None:
    """The store's column type is the last line of defence: a route that forgot ``Instant``
    answers the same stable code, and its transaction is rolled back."""
    app = world.client.app
    assert isinstance(app, FastAPI)

    @app.post("/test-only/price-change")
    def write_price_change(session: SessionDep) -> None:
        session.add(
            PriceChange(
                sku_id=world.a.sku_id, price_fen=1, effective_at=datetime(1999, 1, 1, tzinfo=UTC)
            )
        )
        session.commit()

    before = _rows(engine, PriceChange)
    r = world.client.post("/test-only/price-change")

    assert r.status_code == 422
    assert r.json()["error"]["code"] == "time_out_of_range"
    assert r.json()["error"]["details"] == {
        "earliest": EARLIEST.isoformat(),
        "latest": LATEST.isoformat(),
    }
    assert _rows(engine, PriceChange) == before


# -- the services and the store ----------------------------------------------------------


@pytest.mark.parametrize(
    "at",
    [datetime.fromisoformat(v) for v in OUTSIDE],
    ids=OUTSIDE,
)
def test_the_lowest_price_service_refuses_a_time_outside_the_span(
    world: api.World, engine: Engine, at: datetime
) -> None:
    with session_factory(engine)() as s, pytest.raises(InvalidInput) as refused:
        catalog_service.lowest_price_30d(s, world.a.sku_id, at=at)
    assert refused.value.code is ErrorCode.TIME_OUT_OF_RANGE


def test_the_store_refuses_to_write_a_time_outside_the_span(
    world: api.World, engine: Engine
) -> None:
    with session_factory(engine)() as s:
        before = len(catalog_service.price_history(s, world.a.sku_id))
        with pytest.raises(StatementError) as refused:
            catalog_service.change_price(
                s, sku_id=world.a.sku_id, price_fen=1, at=datetime(2100, 1, 1, tzinfo=UTC)
            )
        s.rollback()
        assert isinstance(refused.value.orig, InvalidInput)
        assert refused.value.orig.code is ErrorCode.TIME_OUT_OF_RANGE
        assert len(catalog_service.price_history(s, world.a.sku_id)) == before


def test_a_query_may_compare_with_a_time_before_the_span(world: api.World, engine: Engine) -> None:
    """Everything stored is in the span, so "since 1970" means "everything"; only a time that
    does not exist in UTC is refused."""
    since = select(func.count()).where(PriceChange.effective_at > datetime(1970, 1, 1, tzinfo=UTC))
    stored = _rows(engine, PriceChange)
    with session_factory(engine)() as s:
        assert s.scalar(since) == stored > 0
        nowhere = datetime.fromisoformat("0001-01-01T00:00:00+14:00")
        with pytest.raises(StatementError) as refused:
            s.scalar(select(func.count()).where(PriceChange.effective_at > nowhere))
    assert isinstance(refused.value.orig, InvalidInput)
    assert refused.value.orig.code is ErrorCode.TIME_OUT_OF_RANGE


# -- the pure types ----------------------------------------------------------------------


def test_instant_converts_to_utc_and_keeps_the_span() -> None:
    adapter = TypeAdapter(Instant)
    assert adapter.validate_python("2026-03-01T08:00:00+08:00") == datetime(2026, 3, 1, tzinfo=UTC)
    assert adapter.validate_python("2000-01-01T00:00:00Z") == EARLIEST
    with pytest.raises(ValidationError, match="timezone"):
        adapter.validate_python("2026-03-01T00:00:00")
    for outside in OUTSIDE:
        with pytest.raises(ValidationError) as refused:
            adapter.validate_python(outside)
        assert refused.value.errors()[0]["type"] == "time_out_of_range"


def test_utc_instant_names_the_span_and_needs_a_zone() -> None:
    with pytest.raises(InvalidInput) as refused:
        utc_instant(datetime.fromisoformat("0001-01-01T00:00:00+14:00"), "--as-of")
    assert refused.value.code is ErrorCode.TIME_OUT_OF_RANGE
    assert refused.value.message.startswith("--as-of must be from 2000-01-01")
    with pytest.raises(InvalidInput) as naive:
        utc_instant(datetime(2026, 3, 1), "--as-of")  # noqa: DTZ001 - naive on purpose
    assert naive.value.code is ErrorCode.INVALID_INPUT


def test_check_day_keeps_the_days_of_the_span() -> None:
    assert check_day(date(2000, 1, 1)) == date(2000, 1, 1)
    assert check_day(date(2099, 12, 31)) == date(2099, 12, 31)
    for outside in (date(1999, 12, 31), date(2100, 1, 1), date.min, date.max):
        with pytest.raises(InvalidInput) as refused:
            check_day(outside, "--end")
        assert refused.value.code is ErrorCode.TIME_OUT_OF_RANGE


# -- one message -------------------------------------------------------------------------


def test_a_refused_role_names_each_allowed_role_once(world: api.World) -> None:
    r = world.client.get(f"{API}/traffic/plan", headers=world.as_("buyer"))

    assert r.status_code == 403
    assert r.json()["error"]["message"] == "this needs one of: operator, merchant, creator"
