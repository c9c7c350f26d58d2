"""Schemathesis over every route, as each role sees it: every built-in check, stateful runs.

One run per key (operator, merchant, buyer, creator, and no key) goes through Schemathesis's
phases as ``st run --checks all`` would: the schema's examples, its coverage cases (boundaries,
missing and wrong-typed values, missing credentials), random cases, and stateful sequences that
feed the id one call created into the calls that use it (links inferred by Schemathesis, plus the
explicit ones below). Every response must pass every check, and every refusal must be the API's
one error shape, ``{"error": {"code", "message", "details"}}``.

Runs are deterministic (fixed seed, derandomised generation, no example database), so a failure
seen in CI is seen again locally. SQLite only: the PostgreSQL leg runs the explicit hostile inputs
(``test_fuzz_hostile.py``) and the rest of the suite.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, cast

import pytest
import schemathesis
from fastapi.testclient import TestClient
from schemathesis.engine import events, from_schema
from schemathesis.generation import GenerationMode
from sqlalchemy import Engine, select

from tests.api.conftest import World
from trustflow.accounts.models import ApiKey
from trustflow.api.app import create_app
from trustflow.config import Settings

#: the roles a run is made as: a key of the ``world`` fixture, or no key at all
ROLE_KEYS = {
    "operator": "operator",
    "merchant": "merchant_a",
    "buyer": "buyer",
    "creator": "creator",
    "no key": None,
}

#: cases per operation and phase; with five roles the whole file takes about two minutes
MAX_EXAMPLES = 10
SEED = 20260105
#: stateful scenarios per run: each follows links from what it created for up to eight steps
STATEFUL_SCENARIOS = 30

#: Checks that do not apply to an operation, each with the reason. ``positive_data_acceptance``
#: sends schema-valid bodies and expects them accepted; these operations refuse some of them by a
#: rule across fields that the schema does not state, with a 422 that names the rule.
NOT_APPLICABLE: dict[tuple[str, str], dict[str, str]] = {
    ("POST", "/api/v1/keys"): {
        "positive_data_acceptance": "a buyer, merchant or creator key needs a subject_id",
    },
    ("POST", "/api/v1/offers"): {
        "positive_data_acceptance": "valid_until must be after valid_from",
    },
    ("POST", "/api/v1/scores/bursts/decision"): {
        "unsupported_method": "GET /scores/bursts/decision is GET /scores/{scored}/{entity_id},"
        " which answers 422 naming the kinds it knows (shops, products, creators)",
    },
    ("POST", "/api/v1/follows"): {
        "positive_data_acceptance": "a follow names exactly one of creator_id or shop_id",
    },
    ("POST", "/api/v1/live-sessions"): {
        "positive_data_acceptance": "content has exactly one host: creator_id or shop_id",
    },
    ("POST", "/api/v1/short-videos"): {
        "positive_data_acceptance": "content has exactly one host: creator_id or shop_id",
    },
    ("GET", "/api/v1/skus/{sku_id}/lowest-price"): {
        "positive_data_acceptance": "`at` lies between 2000-01-01 and 2100-01-01 UTC, a range"
        " JSON Schema cannot state for a date-time string (refused as time_out_of_range)",
    },
    ("PUT", "/api/v1/shops/{shop_id}/fulfilment"): {
        "positive_data_acceptance": "a transit window's min_hours is at most its max_hours",
    },
    ("POST", "/api/v1/attribution-tokens"): {
        "positive_data_acceptance": "exactly one of live_session_id, short_video_id, shop_id",
    },
}

#: Links Schemathesis cannot infer from paths: the id a POST answers with, used by another
#: resource's routes (``POST /shops/{shop_id}/products`` creates ``/products/{product_id}``).
EXTRA_LINKS: dict[str, tuple[str, str]] = {
    "/api/v1/shops/{shop_id}/products": ("/api/v1/products/{product_id}", "product_id"),
    "/api/v1/products/{product_id}/skus": ("/api/v1/skus/{sku_id}", "sku_id"),
    "/api/v1/orders/{order_id}/after-sales": ("/api/v1/after-sales/{request_id}", "request_id"),
    "/api/v1/service-providers/{provider_id}/shops": ("/api/v1/shops/{shop_id}", "shop_id"),
}


def with_links(raw: dict[str, Any]) -> dict[str, Any]:
    """The app's schema with OpenAPI links from each creating POST to the routes of what it
    created: ``POST /shops`` -> ``GET``/``PATCH /shops/{shop_id}``, ``POST /orders`` ->
    ``/orders/{order_id}/pay`` …, and from a created SKU into an order's ``sku_id``."""
    paths: dict[str, dict[str, Any]] = raw["paths"]
    for source, operations in paths.items():
        post = operations.get("post")
        if post is None or "201" not in post["responses"]:
            continue
        targets: list[tuple[str, str]] = []
        if source in EXTRA_LINKS:
            prefix, param = EXTRA_LINKS[source]
            targets.append((prefix, param))
        for path in paths:
            if path.startswith(source + "/{"):
                param = path[len(source) + 2 :].split("}", 1)[0]
                targets.append((f"{source}/{{{param}}}", param))
        links: dict[str, Any] = {}
        for prefix, param in dict.fromkeys(targets):
            for path, target_ops in paths.items():
                if path != prefix and not path.startswith(prefix + "/"):
                    continue
                for method, target in target_ops.items():
                    links[f"{method}{path}".replace("/", "_")] = {
                        "operationId": target["operationId"],
                        "parameters": {f"path.{param}": "$response.body#/id"},
                    }
        if source == "/api/v1/products/{product_id}/skus":
            links["order_this_sku"] = {
                "operationId": paths["/api/v1/orders"]["post"]["operationId"],
                "requestBody": {"sku_id": "$response.body#/id"},
            }
        if links:
            post["responses"]["201"]["links"] = links
    return raw


def run_config(api_key: str | None) -> schemathesis.Config:
    """``st run --checks all`` with every phase, made reproducible and hermetic."""
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "workers": 1,
            "cache": {"enabled": False},
            # the keys are the test's own: show every value a failing request sent
            "output": {"sanitization": {"enabled": False}},
            "headers": {"X-API-Key": api_key} if api_key else {},
            "checks": {"enabled": True},
            "phases": {
                "stateful": {"max-steps": 8, "generation": {"max-examples": STATEFUL_SCENARIOS}}
            },
            "generation": {
                "max-examples": MAX_EXAMPLES,
                "deterministic": True,
                "database": "none",
            },
            "operations": [
                {
                    "include-method": method,
                    "include-path": path,
                    "checks": {name: {"enabled": False} for name in checks},
                }
                for (method, path), checks in NOT_APPLICABLE.items()
            ],
        }
    )


@schemathesis.check
def error_body_shape(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> bool | None:
    """Every refusal is JSON ``{"error": {"code": str, "message": str, "details": object}}``."""
    if response.status_code < 400:
        return None
    try:
        body = json.loads(response.content)
    except ValueError:
        raise AssertionError(f"{response.status_code} with a body that is not JSON") from None
    error = body.get("error") if isinstance(body, dict) else None
    assert isinstance(error, dict) and set(error) == {"code", "message", "details"}, (
        f"{response.status_code} error body is not the API's error shape: {body!r:.300}"
    )
    assert isinstance(error["code"], str) and isinstance(error["message"], str)
    assert isinstance(error["details"], dict)
    return True


@dataclass(frozen=True)
class Finding:
    operation: str
    check: str
    title: str
    message: str
    response: str
    reproduce: str

    def __str__(self) -> str:
        return (
            f"{self.operation}: {self.check}: {self.title}\n  {self.message.strip()}\n"
            f"  answered {self.response}\n  {self.reproduce}"
        )


def _json_integers(value: Any) -> Any:
    """``value`` with every float that has no fraction written as an integer (``5.0`` -> ``5``)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _json_integers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_integers(v) for v in value]
    return value


REVOKE_KEY = "POST /api/v1/keys/{key_id}/revoke"


def _key_id(engine: Engine, api_key: str | None) -> int | None:
    """The id of the key ``tfk_<prefix>_<secret>``, None without one."""
    if api_key is None:
        return None
    with engine.connect() as connection:
        return connection.scalar(select(ApiKey.id).where(ApiKey.prefix == api_key.split("_", 2)[1]))


def fuzz(engine: Engine, api_key: str | None) -> tuple[list[Finding], int, int]:
    """Run every phase against the store in ``engine``; its findings, one per operation and check,
    the number of stateful steps that followed a link, and the responses seen.

    The app is the world's without rate limits: a fuzzer sends thousands of requests a minute
    from one address, and a 429 would end the stateful sequences it is here to follow (the
    limits have their own tests, ``test_limits.py``)."""
    unmetered = Settings(
        rate_limit_writes_per_minute=0,
        rate_limit_reads_per_minute=0,
        rate_limit_anonymous_per_minute=0,
    )
    with TestClient(create_app(engine, unmetered), raise_server_exceptions=False) as client:
        app = client.app
        schema = schemathesis.openapi.from_dict(
            with_links(cast(Any, app).openapi()), config=run_config(api_key)
        )
        schema.app = app
        schema.location = "/openapi.json"

        own_key = _key_id(engine, api_key)

        @schema.hook
        def filter_case(context: schemathesis.HookContext, case: schemathesis.Case) -> bool:
            """The run does not revoke its own key (every later call would be a 401)."""
            return not (
                case.operation.label == REVOKE_KEY
                and case.path_parameters is not None
                and str(case.path_parameters.get("key_id")) == str(own_key)
            )

        @schema.hook
        def map_case(context: schemathesis.HookContext, case: schemathesis.Case) -> Any:
            """A JSON integer is written without a fraction: ``5.0`` for a count or an amount
            is refused (issue 14's loose numbers), but JSON Schema's ``integer`` counts it in,
            so cases meant to be valid send ``5``; cases meant to be invalid keep their ``5.0``."""
            if case.meta is not None and case.meta.generation.mode is GenerationMode.POSITIVE:
                case.body = _json_integers(case.body)
            return case

        return _findings(schema)


def _null_in_path(node: Any) -> bool:
    """Whether a link carried a null into the case's path: ``GET /live-sessions`` answers a
    creator's room with ``shop_id: null``, and the link Schemathesis infers from it calls
    ``/shops/None``, a request no client makes (the API answers it 422, as it should)."""
    params = node.value.path_parameters if node is not None else None
    # the null may reach the case as None or already written out as "None"; every id in the
    # paths is an integer, so a case meant to be valid never holds the text "None" otherwise
    return bool(params) and any(value is None or value == "None" for value in params.values())


def _findings(schema: Any) -> tuple[list[Finding], int, int]:
    findings: dict[tuple[str, str], Finding] = {}
    linked_steps = 0
    responses = 0
    for event in from_schema(schema).execute():
        if isinstance(event, events.FatalError):
            raise event.exception
        if isinstance(event, events.NonFatalError):
            findings[(event.label, "error")] = Finding(
                event.label, "error", event.info.title, event.info.message, "-", "-"
            )
        if not isinstance(event, events.ScenarioFinished):
            continue
        recorder = event.recorder
        responses += sum(1 for i in recorder.interactions.values() if i.response is not None)
        linked_steps += sum(1 for node in recorder.cases.values() if node.is_transition_applied)
        for case_id, checks in recorder.checks.items():
            for check in checks:
                info = check.failure_info
                if info is None or _null_in_path(recorder.cases.get(case_id)):
                    continue
                operation = info.failure.operation or recorder.label or "?"
                interaction = recorder.interactions.get(case_id)
                answered = (
                    f"{interaction.response.status_code} {interaction.response.content[:300]!r}"
                    if interaction is not None and interaction.response is not None
                    else "-"
                )
                findings.setdefault(
                    (operation, check.name),
                    Finding(
                        operation,
                        check.name,
                        info.failure.title,
                        info.failure.message,
                        answered,
                        info.code_sample,
                    ),
                )
    return sorted(findings.values(), key=str), linked_steps, responses


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
@pytest.mark.parametrize("role", list(ROLE_KEYS))
def test_every_route_passes_every_check(world: World, engine: Engine, role: str) -> None:
    key_name = ROLE_KEYS[role]
    key = world.keys[key_name] if key_name else None
    findings, linked_steps, responses = fuzz(engine, key)

    assert not findings, f"{len(findings)} findings as {role}:\n\n" + "\n\n".join(
        str(f) for f in findings
    )
    assert responses > 500, "the run hardly reached the API"
    if key_name is not None:  # without a key nothing is created, so no link can be followed
        assert linked_steps > 0, "no stateful step used an id an earlier call created"
