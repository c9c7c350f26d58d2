"""The feed's fast path: a warm server's feed answered before FastAPI routes the request.

``GET /api/v1/feed`` is the hottest request by far, and once a server is warm its answer is
pure computation on memory (:mod:`trustflow.traffic.serving`): the framework around it --
route matching, dependency resolution, parameter validation, the exception layers -- then
costs more than the answer. This ASGI layer answers the common case itself and hands every
other request, unchanged, to the application:

* the API key is one the server authenticated in the last few seconds
  (:func:`trustflow.api.deps.remembered_principal`);
* the query is exactly ``user_id``, ``surface`` and optionally ``n``, each once, in their
  plain form and range;
* the caller may see that feed, and the app's feed server holds all it needs
  (``needs_store`` is false) and flushes in the background: the answer is ``serve_json``,
  pure computation on memory.

Anything else -- a first request, a bad parameter, an unknown buyer, a forbidden feed -- goes
through the FastAPI route, which gives the documented answer or error. The route remains the
feed's definition (OpenAPI, validation, errors); this path only skips the machinery for
requests whose outcome is already known to be a plain success.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from trustflow.api.deps import api_key_header, remembered_principal
from trustflow.api.routers.traffic import FEED_MEDIA_TYPE, MAX_USER_ID
from trustflow.errors import TrustflowError
from trustflow.traffic.access import may_read_feed
from trustflow.traffic.serving.server import MAX_ITEMS, FeedServer
from trustflow.vocabulary import Surface

_KEY_HEADER = api_key_header.model.name.lower().encode("latin-1")
_SURFACES = {s.value: s for s in Surface}
_REQUIRED = frozenset({"user_id", "surface"})
_ALLOWED = _REQUIRED | {"n"}
_CONTENT_TYPE = (b"content-type", FEED_MEDIA_TYPE.encode("latin-1"))


def _query(raw: bytes) -> list[tuple[str, str]] | None:
    """The query's ``name=value`` pairs; a query with escapes is decoded as the framework
    decodes it, and one with a pair that is not ``name=value`` is None (the route reads it)."""
    text = raw.decode("latin-1")
    if "%" in text or "+" in text:
        return parse_qsl(text, keep_blank_values=True)
    pairs = []
    for pair in text.split("&"):
        name, eq, value = pair.partition("=")
        if not eq:
            return None
        pairs.append((name, value))
    return pairs


def _plain_int(text: str, low: int, high: int) -> int | None:
    """``text`` as an integer in ``[low, high]`` if it is plain decimal digits, else None."""
    if not (text.isascii() and text.isdigit() and len(text) <= 19):
        return None
    value = int(text)
    return value if low <= value <= high else None


class FastFeed:
    """ASGI middleware: answers plain, warm, authorised feed requests directly."""

    def __init__(self, app: ASGIApp, *, path: str) -> None:
        self.app = app
        self.path = path  # where the feed route is mounted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == self.path and scope["method"] == "GET":
            try:
                body = self._answer(scope)
            except Exception:  # anything unforeseen: the route answers, and reports it
                body = None
            if body is not None:
                headers = [_CONTENT_TYPE, (b"content-length", b"%d" % len(body))]
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    def _answer(self, scope: Scope) -> bytes | None:
        """The feed's JSON, or None where the route must answer."""
        keys = [v for k, v in scope["headers"] if k == _KEY_HEADER]
        if len(keys) != 1:
            return None
        query = _query(scope["query_string"])
        if query is None:
            return None
        params = dict(query)
        if len(params) != len(query) or not _REQUIRED <= params.keys() <= _ALLOWED:
            return None
        user_id = _plain_int(params["user_id"], 1, MAX_USER_ID)
        surface = _SURFACES.get(params["surface"])
        n = _plain_int(params.get("n", "10"), 1, MAX_ITEMS)
        if user_id is None or surface is None or n is None:
            return None
        request = Request(scope)
        principal = remembered_principal(request, keys[0].decode("latin-1"))
        if principal is None or not may_read_feed(principal, user_id):
            return None
        server: FeedServer = request.app.state.feed_server
        if server.flush_seconds <= 0 or server.needs_store(user_id, surface):
            return None
        try:
            return server.serve_json(user_id=user_id, surface=surface, n=n)
        except TrustflowError:  # e.g. no such buyer: nothing was served, the route answers
            return None
