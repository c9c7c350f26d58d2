"""The API's edge: every refusal in the one error shape, with the headers HTTP asks for."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.api.conftest import World
from trustflow.api.app import create_app


def test_a_wrong_method_names_every_method_the_path_allows(world: World) -> None:
    response = world.client.request("OPTIONS", "/api/v1/shops", headers=world.as_("operator"))

    assert response.status_code == 405
    assert response.json()["error"]["code"] == "invalid_input"
    assert {m.strip() for m in response.headers["Allow"].split(",")} >= {"GET", "POST"}


def test_an_unexpected_failure_answers_the_error_shape_without_its_traceback(
    engine: Engine,
) -> None:
    app = create_app(engine)

    @app.get("/api/v1/explode")
    def explode() -> None:
        raise RuntimeError("secret internals")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/api/v1/explode")

    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert "secret internals" not in response.text
