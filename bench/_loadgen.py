"""A small, cheap HTTP/1.1 keep-alive load generator for the API benchmarks.

The benchmarks run server and client on the same 2-core machine, so every microsecond the
client spends per request is taken from the server. The client is therefore built on a bare
:class:`asyncio.Protocol` (no stream reader/writer layers, no task or future per request):
requests are pre-encoded bytes, each connection is a small state machine driven by
``data_received`` callbacks, and the response parser reads only the status line,
``Content-Length`` / ``Transfer-Encoding: chunked`` and ``Connection: close`` -- just enough to
find the end of the body. Bodies are kept only for non-2xx answers (first bytes, for diagnosis).

Two drivers:

* :func:`saturate` -- closed loop: every connection sends a request, waits for the answer and
  sends the next one at once. Reports completed 2xx requests/s after the warm-up.
* :func:`fixed_rate` -- open loop: requests are scheduled evenly at ``rate`` per second and each
  latency is measured from its *scheduled* send time, so a slow server cannot slow the client down
  and hide its own queueing (no coordinated omission). Requests go to an idle keep-alive
  connection (round robin); when all are busy a new one is opened, up to ``connections``; beyond
  that they queue in the client -- and the queueing counts in their latency. Above ~1,000/s
  requests leave in rounds about a millisecond apart (the event loop's timer resolution), each
  sending those due within the next millisecond, so the scheduler sleeps instead of spinning.

The event loop is uvloop's when uvloop is importable, else asyncio's default one.

The generator runs in the caller's process: the caller only waits for the result, so a second
process would not free any CPU -- it would only add an interpreter to the two cores. While it runs
the garbage collector is frozen and disabled (the caller may hold a large heap, e.g. after seeding
data, and a full collection would show up as a latency spike). ``client_cpu_s`` in the result
says how much CPU the client itself used, so a run can show the client was not the bottleneck.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import math
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from itertools import chain, zip_longest
from typing import Any, Protocol, TypeVar, cast

#: What the drivers send: pre-built requests cycled through, or a function of the request's
#: sequence number (0, 1, 2, ...) returning the request bytes.
RequestSource = Sequence[bytes] | Callable[[int], bytes]

#: Bytes of an error body kept for diagnosis, and how many error samples are kept.
_SNIPPET = 300
_MAX_SAMPLES = 5
#: Longest response head accepted.
_MAX_HEAD = 64 * 1024
#: The open-loop scheduler sends a request up to this early (epoll sleeps in whole milliseconds,
#: so a timer may fire up to ~1 ms late); latency then counts from the actual send time.
_LOOKAHEAD = 0.001
#: ... and sleeps at least this long between its rounds: above ~1,000 requests/s the next
#: request is always inside the lookahead, and a scheduler that slept only until then would
#: spin (one core of the two the servers share). Requests then leave in rounds a tick apart.
_TICK = 0.001
#: How long the drivers wait for answers still in flight when the measured window ends.
_DRAIN = 5.0

_perf = time.perf_counter
T = TypeVar("T")


class Placement(Protocol):
    """Which server worker process holds each connection (``bench._server.ServerHandle``).

    uvicorn's workers share one listening socket, and an asyncio worker accepts every pending
    connection at once when it wakes: connections opened together tend to land on one worker,
    leaving the other idle. Given a placement, the drivers open their connections spread evenly
    over the workers (opening more and closing the surplus) before the clock starts.
    """

    @property
    def workers(self) -> int: ...

    def owners(self) -> Mapping[int, int]:
        """Client-side port of each established connection -> the worker that holds it."""
        ...


def get_request(
    path: str,
    host: str = "127.0.0.1",
    headers: Mapping[str, str] | None = None,
    *,
    method: str = "GET",
    body: bytes = b"",
) -> bytes:
    """One HTTP/1.1 keep-alive request, encoded once so the drivers only write bytes.

    ``host`` is the ``Host`` header's value (the server ignores it, HTTP/1.1 requires it).
    """
    parts = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    parts += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body or method not in ("GET", "HEAD", "DELETE", "OPTIONS"):
        parts.append(f"Content-Length: {len(body)}")
    if any(c in part for part in parts for c in "\r\n\0"):
        raise ValueError("request line and headers must not contain CR, LF or NUL")
    return ("\r\n".join(parts) + "\r\n\r\n").encode("latin-1") + body


@dataclass
class Result:
    """What a run measured. Latencies are in milliseconds; rates per second."""

    mode: str
    seconds: float
    connections: int
    completed: int
    rps: float
    errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    offered_rps: float | None = None
    #: Connections per server worker when the run started (empty: placement not known).
    balance: list[int] = field(default_factory=list)
    max_send_lag_ms: float = 0.0
    client_cpu_s: float = 0.0
    status_counts: dict[int, int] = field(default_factory=dict)
    error_samples: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        offered = f" offered {self.offered_rps:,.0f}/s," if self.offered_rps is not None else ""
        return (
            f"{self.mode}:{offered} {self.rps:,.0f} ok/s over {self.seconds:.1f}s,"
            f" {self.connections} conns, p50 {self.p50_ms:.2f} ms, p99 {self.p99_ms:.2f} ms,"
            f" max {self.max_ms:.1f} ms, {self.errors} errors,"
            f" client cpu {self.client_cpu_s:.1f}s"
        )


def _picker(requests: RequestSource) -> Callable[[int], bytes]:
    if callable(requests):
        return requests
    reqs = list(requests)
    if not reqs:
        raise ValueError("no requests given")
    if len(reqs) == 1:
        only = reqs[0]
        return lambda _i: only
    n = len(reqs)
    return lambda i: reqs[i % n]


class _Conn(asyncio.Protocol):
    """One keep-alive connection: send a request, parse the answer, call back when complete."""

    def __init__(
        self,
        on_done: Callable[[_Conn, int, bytes | None], None],
        on_lost: Callable[[_Conn, bool, str], None],
    ) -> None:
        self._on_done = on_done
        self._on_lost = on_lost
        self.transport: asyncio.Transport | None = None
        self.local_port = 0
        self.busy = False
        self.reusable = True
        self.sched = 0.0  # when the current request was due (decides the measured window)
        self.base = 0.0  # what its latency counts from: min(due, actually sent)
        self._buf = bytearray()
        self._reason = ""
        self._reset()

    def _reset(self) -> None:
        self._hend = -1  # index just past the response head, -1 until it is in
        self._status = 0
        self._clen = -1
        self._chunked = False
        self._cpos = 0  # next unparsed chunk-size line
        self._close = False
        self._snip: bytes | None = None

    def send(self, request: bytes, sched: float, base: float) -> None:
        self.busy = True
        self.sched = sched
        self.base = base
        assert self.transport is not None
        self.transport.write(request)

    def close(self) -> None:
        self.reusable = False
        if self.transport is not None:
            self.transport.close()

    # --- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it
        self.transport = cast(asyncio.Transport, transport)
        sockname = transport.get_extra_info("sockname")
        self.local_port = sockname[1] if sockname else 0

    def data_received(self, data: bytes) -> None:
        buf: bytes | bytearray
        if self._buf:
            self._buf += data
            buf = self._buf
        else:
            buf = data
        try:
            end = self._parse(buf)
        except ValueError as exc:
            self._abort(f"unparsable response: {exc}")
            return
        if end < 0:
            if buf is data:
                self._buf = bytearray(data)
            return
        self._buf = bytearray(buf[end:]) if end < len(buf) else bytearray()
        self._complete()

    def eof_received(self) -> bool | None:
        if self.busy and self._hend >= 0 and self._clen < 0 and not self._chunked:
            self._complete()  # a body delimited by the end of the connection
        self.reusable = False
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.reusable = False
        busy = self.busy
        self.busy = False
        reason = self._reason or (f"connection lost: {exc}" if exc else "connection closed")
        self._on_lost(self, busy, reason)

    # --- parsing ------------------------------------------------------------------------------

    def _abort(self, reason: str) -> None:
        self._reason = reason
        self.reusable = False
        if self.transport is not None:
            self.transport.abort()

    def _complete(self) -> None:
        status, snip, close = self._status, self._snip, self._close
        self._reset()
        self.busy = False
        if close:
            self.close()
        self._on_done(self, status, snip)

    def _parse(self, buf: bytes | bytearray) -> int:
        """Index just past the complete response in ``buf``, or -1 while it is incomplete."""
        hend = self._hend
        if hend < 0:
            i = buf.find(b"\r\n\r\n")
            if i < 0:
                if len(buf) > _MAX_HEAD:
                    raise ValueError("response head too long")
                return -1
            hend = i + 4
            head = bytes(buf[:i]).lower()
            if not head.startswith(b"http/1."):
                raise ValueError(repr(head[:40]))
            status = int(head[9:12])
            self._status = status
            self._close = b"\r\nconnection: close" in head or head.startswith(b"http/1.0")
            j = head.find(b"\r\ncontent-length:")
            if j >= 0:
                k = head.find(b"\r\n", j + 2)
                self._clen = int(head[j + 17 : k] if k >= 0 else head[j + 17 :])
            elif b"\r\ntransfer-encoding:" in head and b"chunked" in head:
                self._chunked = True
            elif status in (204, 304) or 100 <= status < 200:
                self._clen = 0
            self._hend = hend
            self._cpos = hend
        ok = 200 <= self._status < 300
        if self._clen >= 0:
            end = hend + self._clen
            if len(buf) < end:
                return -1
            if not ok:
                self._snip = bytes(buf[hend : min(end, hend + _SNIPPET)])
            return end
        if self._chunked:
            pos = self._cpos
            while True:
                j = buf.find(b"\r\n", pos)
                if j < 0:
                    return -1
                size = int(bytes(buf[pos:j]).split(b";", 1)[0], 16)
                if size == 0:
                    k = buf.find(b"\r\n\r\n", j)  # optional trailers, then an empty line
                    return -1 if k < 0 else k + 4
                nxt = j + 2 + size + 2
                if len(buf) < nxt:
                    return -1
                if not ok:
                    kept = self._snip or b""
                    if len(kept) < _SNIPPET:
                        self._snip = kept + bytes(buf[j + 2 : j + 2 + size])[: _SNIPPET - len(kept)]
                pos = self._cpos = nxt
        return -1  # delimited by the end of the connection: eof_received completes it


class _Stats:
    """Latencies and outcomes of the requests that count."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.ok = 0
        self.errors = 0
        self.status_counts: dict[int, int] = {}
        self.samples: list[str] = []

    def record(self, latency: float, status: int, detail: bytes | str | None) -> None:
        self.latencies.append(latency)
        counts = self.status_counts
        counts[status] = counts.get(status, 0) + 1
        if 200 <= status < 300:
            self.ok += 1
        else:
            self.error(status, detail)

    def error(self, status: int, detail: bytes | str | None) -> None:
        self.errors += 1
        if len(self.samples) < _MAX_SAMPLES:
            if isinstance(detail, bytes):
                detail = detail.decode("utf-8", "replace")
            self.samples.append(f"{status or 'no response'}: {detail or ''}"[:_SNIPPET])

    def result(
        self,
        mode: str,
        seconds: float,
        connections: int,
        completed: int,
        cpu: float,
        offered: float | None = None,
        lag: float = 0.0,
        balance: list[int] | None = None,
    ) -> Result:
        lat = sorted(self.latencies)

        def pct(p: float) -> float:
            if not lat:
                return math.nan
            return lat[min(len(lat) - 1, max(0, math.ceil(p / 100 * len(lat)) - 1))] * 1e3

        return Result(
            mode=mode,
            seconds=seconds,
            connections=connections,
            completed=completed,
            rps=completed / seconds if seconds > 0 else math.nan,
            errors=self.errors,
            p50_ms=pct(50),
            p90_ms=pct(90),
            p99_ms=pct(99),
            max_ms=lat[-1] * 1e3 if lat else math.nan,
            mean_ms=sum(lat) / len(lat) * 1e3 if lat else math.nan,
            offered_rps=offered,
            balance=balance or [],
            max_send_lag_ms=lag * 1e3,
            client_cpu_s=cpu,
            status_counts=dict(sorted(self.status_counts.items())),
            error_samples=self.samples,
        )


def _run(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a driver on uvloop if available, with the garbage collector out of the way."""
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    with contextlib.suppress(ImportError):
        loop_factory = importlib.import_module("uvloop").new_event_loop
    gc.collect()
    gc.freeze()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            return runner.run(make())
    finally:
        if was_enabled:
            gc.enable()
        gc.unfreeze()


def event_loop_name() -> str:
    """``uvloop`` or ``asyncio``: what the drivers run on in this environment."""
    try:
        importlib.import_module("uvloop")
    except ImportError:
        return "asyncio"
    return "uvloop"


async def _open(
    host: str,
    port: int,
    on_done: Callable[[_Conn, int, bytes | None], None],
    on_lost: Callable[[_Conn, bool, str], None],
) -> _Conn:
    loop = asyncio.get_running_loop()
    _, proto = await loop.create_connection(lambda: _Conn(on_done, on_lost), host, port)
    return proto


async def _open_spread(
    host: str,
    port: int,
    n: int,
    placement: Placement | None,
    on_done: Callable[[_Conn, int, bytes | None], None],
    on_lost: Callable[[_Conn, bool, str], None],
) -> tuple[list[_Conn], list[int]]:
    """``n`` connections, as evenly spread over the server's workers as the placement allows.

    Returns them interleaved worker by worker, and the number held by each worker (empty when
    the placement is unknown: then the connections are simply opened).
    """

    async def open_many(k: int) -> list[_Conn]:
        return list(await asyncio.gather(*(_open(host, port, on_done, on_lost) for _ in range(k))))

    workers = placement.workers if placement is not None else 1
    if placement is None or workers <= 1:
        return await open_many(n), []
    cap = -(-n // workers)
    groups: dict[int, list[_Conn]] = {}
    kept = opened = 0
    while kept < n:
        if opened > 20 * n + 20:
            for conn in chain.from_iterable(groups.values()):
                conn.close()
            sizes = sorted((len(g) for g in groups.values()), reverse=True)
            raise RuntimeError(f"could not spread {n} connections over {workers} workers {sizes}")
        batch = await open_many(n - kept)
        opened += len(batch)
        owners = await _owners(placement, {c.local_port for c in batch})
        if not owners and not groups:  # placement unknown here (no /proc?): do without
            return batch + await open_many(n - len(batch)), []
        for conn in batch:
            owner = owners.get(conn.local_port)
            group = groups.setdefault(owner, []) if owner is not None else None
            if group is not None and len(group) < cap and kept < n:
                group.append(conn)
                kept += 1
            else:
                conn.close()
    ordered = [list(g) for g in groups.values()]
    spread = [c for c in chain.from_iterable(zip_longest(*ordered)) if c is not None]
    return spread, sorted((len(g) for g in ordered), reverse=True)


async def _owners(placement: Placement, ports: set[int], timeout: float = 2.0) -> dict[int, int]:
    """Owners of these client ports, waiting (briefly) for the workers to accept them all."""
    deadline = _perf() + timeout
    while True:
        owners = placement.owners()
        found = {p: owners[p] for p in ports if p in owners}
        if len(found) == len(ports) or _perf() > deadline:
            return found
        await asyncio.sleep(0.002)


async def _wait_idle(conns: Iterable[_Conn], timeout: float) -> None:
    deadline = _perf() + timeout
    while any(c.busy for c in conns) and _perf() < deadline:
        await asyncio.sleep(0.005)


# --- closed loop ------------------------------------------------------------------------------


def saturate(
    host: str,
    port: int,
    requests: RequestSource,
    connections: int,
    seconds: float,
    warmup: float,
    placement: Placement | None = None,
) -> Result:
    """Closed loop on ``connections`` keep-alive connections for ``warmup + seconds``.

    With a ``placement`` (the server handle) the connections are spread evenly over the
    server's workers first -- without it, a burst of connects may all land on one worker.

    ``rps`` counts the 2xx answers completed inside the measured window (after the warm-up);
    latencies are those of the answers completed in it, from the actual send. When the window
    ends no new request is sent; answers still in flight are awaited (briefly) and not counted.
    A connection the server closes is reopened.
    """
    if connections < 1 or seconds <= 0 or warmup < 0:
        raise ValueError("need connections >= 1, seconds > 0, warmup >= 0")
    return _run(
        lambda: _saturate(host, port, _picker(requests), connections, seconds, warmup, placement)
    )


def saturate_best(
    host: str,
    port: int,
    requests: RequestSource,
    connection_counts: Sequence[int],
    seconds: float,
    warmup: float,
    placement: Placement | None = None,
) -> tuple[Result, list[Result]]:
    """:func:`saturate` at each connection count: the run with the most 2xx/s, and all runs.

    The best concurrency differs by endpoint (a cheap sync endpoint loses throughput to thread
    switching as it rises; one waiting on the database needs more requests in flight), so a
    throughput comparison should give each endpoint its best.
    """
    runs = [
        saturate(host, port, requests, n, seconds, warmup, placement) for n in connection_counts
    ]
    if not runs:
        raise ValueError("no connection counts given")
    return max(runs, key=lambda r: r.rps), runs


async def _saturate(
    host: str,
    port: int,
    pick: Callable[[int], bytes],
    connections: int,
    seconds: float,
    warmup: float,
    placement: Placement | None,
) -> Result:
    stats = _Stats()
    conns: set[_Conn] = set()
    tasks: set[asyncio.Task[None]] = set()
    counter = 0
    t_measure = t_end = math.inf
    completed = 0

    def send_next(conn: _Conn) -> None:
        nonlocal counter
        now = _perf()
        request = pick(counter)
        counter += 1
        conn.send(request, now, now)

    def on_done(conn: _Conn, status: int, snip: bytes | None) -> None:
        nonlocal completed
        now = _perf()
        if t_measure <= now <= t_end:
            stats.record(now - conn.base, status, snip)
            completed += 200 <= status < 300
        if now < t_end:
            if conn.reusable:
                send_next(conn)
            else:
                conns.discard(conn)
                reopen()

    def on_lost(conn: _Conn, busy: bool, reason: str) -> None:
        now = _perf()
        if conn in conns:
            conns.discard(conn)
            if busy and t_measure <= now <= t_end:
                stats.error(0, reason)
            if now < t_end:
                reopen()

    def reopen() -> None:
        task = asyncio.get_running_loop().create_task(reconnect())
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def reconnect() -> None:
        while _perf() < t_end:
            try:
                conn = await _open(host, port, on_done, on_lost)
            except OSError as exc:
                if _perf() >= t_measure:
                    stats.error(0, f"connect: {exc}")
                await asyncio.sleep(0.05)
                continue
            conns.add(conn)
            send_next(conn)
            return

    opened, balance = await _open_spread(host, port, connections, placement, on_done, on_lost)
    conns.update(opened)
    cpu0 = time.process_time()
    t0 = _perf()
    t_measure = t0 + warmup
    t_end = t_measure + seconds
    for conn in opened:
        send_next(conn)
    await asyncio.sleep(t_end - _perf())
    await _wait_idle(list(conns), _DRAIN)
    cpu = time.process_time() - cpu0
    for task in list(tasks):
        task.cancel()
    for conn in list(conns):
        conns.discard(conn)
        conn.close()
    await asyncio.sleep(0)
    return stats.result("saturate", seconds, connections, completed, cpu, balance=balance)


# --- open loop --------------------------------------------------------------------------------


def fixed_rate(
    host: str,
    port: int,
    requests: RequestSource,
    rate: float,
    seconds: float,
    warmup: float,
    connections: int = 64,
    initial_connections: int | None = None,
    placement: Placement | None = None,
) -> Result:
    """Open loop: ``rate`` requests/s, evenly spaced, for ``warmup + seconds``.

    Requests due inside the measured window count for the latencies, each measured from its
    scheduled send time (or from the actual send, if the scheduler sent it up to 1 ms early). At
    most ``connections`` are opened (``initial_connections``, default ``min(16, connections)``,
    before the clock, spread over the workers if a ``placement`` is given, and used round robin);
    when all are busy the request waits in the client, and that wait is
    part of its latency. ``rps`` is the 2xx answers completed inside the window per second.
    Answers still missing ``_DRAIN`` seconds after the window count as errors, with the time
    waited so far as their latency. ``max_send_lag_ms`` is the longest a request was sent after
    its due time while a connection was free: the client's own lateness (should be ~1 ms).
    """
    if rate <= 0 or seconds <= 0 or warmup < 0 or connections < 1:
        raise ValueError("need rate > 0, seconds > 0, warmup >= 0, connections >= 1")
    initial = min(connections, 16 if initial_connections is None else initial_connections)
    return _run(
        lambda: _fixed_rate(
            host,
            port,
            _picker(requests),
            rate,
            seconds,
            warmup,
            connections,
            max(1, initial),
            placement,
        )
    )


async def _fixed_rate(
    host: str,
    port: int,
    pick: Callable[[int], bytes],
    rate: float,
    seconds: float,
    warmup: float,
    limit: int,
    initial: int,
    placement: Placement | None,
) -> Result:
    loop = asyncio.get_running_loop()
    stats = _Stats()
    idle: deque[_Conn] = deque()  # round robin: the longest idle connection goes first
    conns: set[_Conn] = set()
    pending: deque[tuple[float, bytes]] = deque()
    tasks: set[asyncio.Task[None]] = set()
    opening = 0
    max_open = 0
    completed = 0
    lag = 0.0
    t_measure = t_end = math.inf

    def counts(sched: float) -> bool:
        return t_measure <= sched < t_end

    def dispatch(sched: float, request: bytes) -> None:
        nonlocal lag
        if idle:
            now = _perf()
            if now - sched > lag:
                lag = now - sched
            idle.popleft().send(request, sched, min(sched, now))
        else:
            pending.append((sched, request))
            grow()

    def feed(conn: _Conn) -> None:
        if pending:
            sched, request = pending.popleft()
            conn.send(request, sched, min(sched, _perf()))
        else:
            idle.append(conn)

    def grow() -> None:
        nonlocal opening
        if pending and len(conns) + opening < limit and opening < len(pending):
            opening += 1
            task = loop.create_task(open_one())
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    async def open_one() -> None:
        nonlocal opening, max_open
        try:
            conn = await _open(host, port, on_done, on_lost)
        except OSError as exc:
            opening -= 1
            stats.error(0, f"connect: {exc}")
            await asyncio.sleep(0.05)
            grow()
            return
        opening -= 1
        conns.add(conn)
        max_open = max(max_open, len(conns))
        feed(conn)

    def on_done(conn: _Conn, status: int, snip: bytes | None) -> None:
        nonlocal completed
        now = _perf()
        if counts(conn.sched):
            stats.record(now - conn.base, status, snip)
        if t_measure <= now <= t_end and 200 <= status < 300:
            completed += 1
        if conn.reusable:
            feed(conn)
        else:
            conns.discard(conn)
            grow()

    def on_lost(conn: _Conn, busy: bool, reason: str) -> None:
        if conn in conns:
            conns.discard(conn)
            with contextlib.suppress(ValueError):
                idle.remove(conn)
            if busy and counts(conn.sched):
                stats.record(_perf() - conn.base, 0, reason)
            grow()

    opened, balance = await _open_spread(host, port, initial, placement, on_done, on_lost)
    for conn in opened:
        conns.add(conn)
        idle.append(conn)
    max_open = len(conns)

    interval = 1.0 / rate
    total = math.ceil((warmup + seconds) * rate)
    cpu0 = time.process_time()
    t0 = _perf() + 0.01
    t_measure = t0 + warmup
    t_end = t_measure + seconds
    i = 0
    while i < total:
        round_at = _perf()
        horizon = round_at + _LOOKAHEAD
        while i < total and (due := t0 + i * interval) <= horizon:
            dispatch(due, pick(i))
            i += 1
        if i < total:
            wake = max(t0 + i * interval - _LOOKAHEAD, round_at + _TICK)
            await asyncio.sleep(max(0.0, wake - _perf()))

    deadline = max(_perf(), t_end) + _DRAIN
    while (pending or any(c.busy for c in conns)) and _perf() < deadline:
        await asyncio.sleep(0.005)
    cpu = time.process_time() - cpu0
    now = _perf()
    for sched, _request in pending:
        if counts(sched):
            stats.record(now - sched, 0, "timed out waiting for a connection")
    for conn in conns:
        if conn.busy and counts(conn.sched):
            stats.record(now - conn.base, 0, "timed out waiting for the answer")
    for task in list(tasks):
        task.cancel()
    for conn in list(conns):
        conns.discard(conn)
        conn.close()
    await asyncio.sleep(0)
    return stats.result("fixed_rate", seconds, max_open, completed, cpu, rate, lag, balance)
