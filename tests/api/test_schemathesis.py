"""Property-based API test: whatever a client sends that the schema allows, no 5xx comes back."""

from __future__ import annotations

import itertools

import schemathesis
from hypothesis import HealthCheck, settings

from tests.api.conftest import World
from trustflow.api.app import create_app
from trustflow.db import make_engine

ROLES = itertools.cycle(["operator", "merchant_a", "buyer", "creator", "merchant_b", "operator"])


# The schema is the same for every store; each test case is sent to the app of its own world.
schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(make_engine("sqlite://")))


@schema.parametrize()
@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_server_errors(case: schemathesis.Case, world: World) -> None:
    response = case.call(app=world.client.app, headers={"X-API-Key": world.keys[next(ROLES)]})
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:500]}"
    )
