"""Request bodies whose JSON repeats a key are refused, before any route reads them.

JSON parsers disagree on ``{"quantity": 1, "quantity": 100}``: Python's keeps the last value,
others the first, so a proxy or an audit log that read the first saw a different request than
the one acted on. The API answers 422 ``duplicate_json_key`` with the key's path instead.

A pure ASGI layer, so only requests that carry a JSON body pay: a GET passes straight through
(the feed's fast path never reaches this layer anyway), and a body is read once, checked, and
handed on whole. Bodies FastAPI would read as JSON are checked: ``application/json``,
``application/*+json``, and bodies without a content type. The body-size limit sits outside
this layer, so what it buffers is bounded.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from trustflow.api.errors import error_body
from trustflow.errors import ErrorCode

__all__ = ["StrictJsonBodies", "first_duplicate_key"]

_WITH_BODY = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class StrictJsonBodies:
    """Refuse JSON request bodies with a repeated key at any depth (422 duplicate_json_key)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _WITH_BODY or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client left: nothing to answer
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        duplicate = first_duplicate_key(body)
        if duplicate is not None:
            await _refuse(send, *duplicate)
            return
        await self.app(scope, _replay(body, receive), send)


def _is_json(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            media: bytes = value.split(b";", 1)[0].strip().lower()
            return media == b"application/json" or (
                media.startswith(b"application/") and media.endswith(b"+json")
            )
    return True  # FastAPI reads a body without a content type as JSON


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: the disconnect, when it comes

    return replayed


async def _refuse(send: Send, path: str, key: str) -> None:
    content = json.dumps(
        error_body(
            ErrorCode.DUPLICATE_JSON_KEY.value,
            f"the key {key!r} appears more than once in the object at {path}",
            {"path": path, "key": key},
        )
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 422,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(content)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": content})


class _Pairs(list[tuple[str, Any]]):
    """A JSON object as parsed: its members in order, repeats kept."""


def first_duplicate_key(body: bytes) -> tuple[str, str] | None:
    """``(path, key)`` of the first object in ``body`` that repeats a key, ``$`` being the
    whole document (``$.items[0]``), or ``None``. A body that is not JSON is left to the route
    to refuse as it refuses any malformed body."""
    repeated = False

    def pairs(members: list[tuple[str, Any]]) -> _Pairs:
        nonlocal repeated
        if not repeated and len({k for k, _ in members}) != len(members):
            repeated = True
        return _Pairs(members)

    try:
        document = json.loads(body, object_pairs_hook=pairs)
    except (ValueError, RecursionError):
        return None
    if not repeated:
        return None
    return next(_duplicates(document), None)


def _duplicates(document: Any) -> Iterator[tuple[str, str]]:
    """Each repeated key with its object's path, depth first, without recursion (a body may
    nest as deep as the parser allows)."""
    stack: list[tuple[str, Any]] = [("$", document)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, _Pairs):
            seen: set[str] = set()
            for key, _ in value:
                if key in seen:
                    yield path, key
                seen.add(key)
            stack.extend((f"{path}.{k}", v) for k, v in reversed(value))
        elif isinstance(value, list):
            stack.extend((f"{path}[{i}]", v) for i, v in reversed(list(enumerate(value))))
