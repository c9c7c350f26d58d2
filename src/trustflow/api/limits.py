"""Limits at the API's edge: how large a request body may be and how often a client may ask.

Two pure ASGI layers, in front of the framework (``create_app`` puts them in place):

* :class:`BodyLimit`, outermost, in front of the feed's fast path too. A declared
  ``Content-Length`` over the limit is answered 413 ``body_too_large`` before a byte of the
  body is read. Any other body is counted as the application reads it and the read is cut at
  the limit: the client gets the 413, the application the end of the stream, and nothing past
  the limit is ever held in memory.
* :class:`RateLimit`, behind the fast path, in front of routing. Requests are counted per API
  key in a moving window of one minute, writes (POST, PUT, PATCH, DELETE) and reads apart.
  Requests without a working key (no key, or one the API refused with 401) are counted per
  client address instead, more tightly. Over a limit the answer is 429 ``rate_limited`` with
  ``Retry-After`` in whole seconds and the limit in the details.

The feed is not counted against a key: it is the hottest read by far, a warm server's fast
path answers it before this layer, and its route is bounded by the feed server's own work.
Health checks are not counted at all (load balancers and benchmarks poll them).

The counts live in this process's memory (the ``limits`` library's memory storage): a
deployment with N worker processes allows N times each rate. The defaults
(:class:`trustflow.config.Settings`) are 6,000 writes and 12,000 reads a minute per key (100
and 200 a second), 3,000 requests a minute per address without a working key, and bodies of
up to 8 MiB (the largest valid request, a batch of 10,000 impressions, is about 5 MB). They
bound a flood, not a busy integration; a fuzzer driving every route as fast as it can goes past
them within a minute (``tests/api/test_schemathesis.py`` runs with them off: 0 turns a limit
off). Per-buyer rules that protect the scores (a buyer's chats with one shop) are domain rules,
with limits of their own.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Collection
from typing import Any

from limits import RateLimitItem, RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from trustflow.api.errors import error_body
from trustflow.config import Settings
from trustflow.errors import ErrorCode

__all__ = ["BodyLimit", "RateLimit"]

#: the clock the Retry-After is measured by; ``limits``' memory storage reads ``time.time``
#: too (tests move both)
_clock = time.time

_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_KEY_HEADER = b"x-api-key"
#: keys remembered as working (answered other than 401), before the memory is cleared
_MAX_WORKING_KEYS = 100_000


async def _answer(
    send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]]
) -> None:
    content = json.dumps(body, separators=(",", ":")).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", b"%d" % len(content)),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": content})


class BodyLimit:
    """ASGI middleware: request bodies of at most ``max_bytes``, refused with 413 beyond."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _refuse(self, send: Send) -> None:
        body = error_body(
            ErrorCode.BODY_TOO_LARGE.value,
            f"the request body is larger than {self.max_bytes} bytes",
            {"limit_bytes": self.max_bytes},
        )
        # close the connection rather than drain a body nobody will read
        await _answer(send, 413, body, [(b"connection", b"close")])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared: int | None = None
        chunked = False
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit():
                declared = int(value)
            elif name == b"transfer-encoding":
                chunked = True
        if declared is not None and declared > self.max_bytes:
            await self._refuse(send)
            return
        if not chunked and (
            declared == 0 or (declared is None and scope.get("http_version", "1.1") < "2")
        ):
            # HTTP/1 sends a body only with one of those headers (a feed GET has neither)
            await self.app(scope, receive, send)
            return
        received = 0
        cut = answered = started = False

        async def limited_receive() -> Message:
            nonlocal received, cut, answered
            if cut:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    cut = True
                    if not started:
                        await self._refuse(send)
                        answered = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if answered:  # the application's answer to a body it never got whole
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not answered:
                raise


class RateLimit:
    """ASGI middleware: per-key and per-address request rates (see the module's docstring).

    ``unmetered`` paths are never counted; ``key_exempt`` paths are not counted against a key
    (requests to them without a working key still count against their address)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        settings: Settings,
        unmetered: Collection[str] = (),
        key_exempt: Collection[str] = (),
    ) -> None:
        self.app = app
        self.unmetered = frozenset(unmetered)
        self.key_exempt = frozenset(key_exempt)
        self.limiter = MovingWindowRateLimiter(MemoryStorage())
        per_minute = {
            "writes": settings.rate_limit_writes_per_minute,
            "reads": settings.rate_limit_reads_per_minute,
            "anonymous": settings.rate_limit_anonymous_per_minute,
        }
        self.items: dict[str, RateLimitItem] = {
            name: RateLimitItemPerMinute(n, namespace=name) for name, n in per_minute.items() if n
        }
        #: digests of keys whose last request was not refused as unauthenticated
        self._working: dict[str, None] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.unmetered:
            await self.app(scope, receive, send)
            return
        keys = [v for k, v in scope["headers"] if k == _KEY_HEADER]
        client = scope.get("client")
        address = client[0] if client else "unknown"
        if not keys:
            if not await self._admit(send, "anonymous", address, "per client address"):
                return
            await self.app(scope, receive, send)
            return
        digest = hashlib.sha256(b"\n".join(keys)).hexdigest()
        if digest not in self._working and not await self._admit(
            send, "anonymous", address, "per client address", consume=False
        ):
            return
        if scope["path"] not in self.key_exempt:
            counted = "writes" if scope["method"] in _WRITE_METHODS else "reads"
            if not await self._admit(send, counted, digest, "per API key"):
                return
        status = 0

        async def watched_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, watched_send)
        if status == 401:  # a key that does not work is no key: its address pays
            self._working.pop(digest, None)
            if "anonymous" in self.items:
                self.limiter.hit(self.items["anonymous"], address)
        elif status and digest not in self._working:
            if len(self._working) >= _MAX_WORKING_KEYS:
                self._working.clear()
            self._working[digest] = None

    async def _admit(
        self, send: Send, counted: str, who: str, per: str, *, consume: bool = True
    ) -> bool:
        """Count one request of ``who`` against its ``counted`` limit (or, without
        ``consume``, only check there is room); answer 429 and return False when over."""
        item = self.items.get(counted)
        if item is None:
            return True
        if self.limiter.hit(item, who) if consume else self.limiter.test(item, who):
            return True
        reset, _ = self.limiter.get_window_stats(item, who)
        # the window holds a request until strictly past its end: wait whole seconds beyond it
        retry_after = max(1, math.floor(reset - _clock()) + 1)
        body = error_body(
            ErrorCode.RATE_LIMITED.value,
            f"more than {item.amount} {counted} a minute {per}: retry in {retry_after} s",
            {
                "limit": item.amount,
                "window_seconds": item.get_expiry(),
                "counted": f"{counted} {per}",
                "retry_after_seconds": retry_after,
            },
        )
        await _answer(send, 429, body, [(b"retry-after", str(retry_after).encode())])
        return False
