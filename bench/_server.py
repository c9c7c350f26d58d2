"""The API server and its PostgreSQL database, for benchmarks that measure over HTTP.

* :func:`postgres_url` -- a PostgreSQL server: ``TRUSTFLOW_TEST_POSTGRES_URL`` if set, else the
  project's throwaway test server (``scripts/pg-test-server start``), stopped afterwards only if
  this call started it.
* :func:`fresh_database` / :func:`drop_database` -- an empty database of a given name on it.
* :func:`serving` -- ``uvicorn`` with N workers on a free loopback port, in its own process group,
  ready when every worker has finished its startup and ``/api/v1/health`` answers; the whole group
  is terminated on exit.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
PG_TEST_SERVER = ROOT / "scripts" / "pg-test-server"
APP = "trustflow.api.app:create_app"
HEALTH_PATH = "/api/v1/health"
#: uvicorn logs this once per worker when the app's startup has run (lifespan, level info).
_WORKER_READY = "Application startup complete."
#: ... and one of these when a worker dies (the supervisor would restart it forever).
_WORKER_FAILED = re.compile(r"Child process \[\d+\] (died|failed to start)")
_DB_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


@dataclass(frozen=True)
class ServerHandle:
    host: str
    port: int
    pid: int
    workers: int
    stderr_path: Path

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stderr(self) -> str:
        """What the server has written to stderr (and stdout) so far."""
        try:
            return self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""

    def worker_pids(self) -> list[int]:
        """The worker processes: children of the uvicorn supervisor (Linux ``/proc``)."""
        if self.workers <= 1:
            return [self.pid]
        pids = []
        with contextlib.suppress(OSError):
            for entry in os.scandir("/proc"):
                if not entry.name.isdigit():
                    continue
                try:
                    stat = Path(entry.path, "stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) != self.pid:
                    continue
                with contextlib.suppress(OSError):  # not multiprocessing's resource tracker
                    if b"resource_tracker" not in Path(entry.path, "cmdline").read_bytes():
                        pids.append(int(entry.name))
        return sorted(pids)

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server's workers have used so far (Linux ``/proc``).

        Bracket a measurement with it: on a shared machine, requests per server CPU-second
        varies far less than requests per second.
        """
        return sum(_process_cpu(pid) for pid in self.worker_pids())

    def owners(self) -> dict[int, int]:
        """Client-side port of each established connection to the server -> worker pid.

        Read from ``/proc/net/tcp*`` (socket inode of each connection, server side) and the
        workers' ``/proc/<pid>/fd``; empty where ``/proc`` is not available. Lets the load
        generator spread its connections evenly over the workers (see ``bench._loadgen``).
        """
        client_port_of: dict[str, int] = {}
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            try:
                rows = Path(table).read_text().splitlines()[1:]
            except OSError:
                continue
            for row in rows:
                f = row.split()
                # local address, remote address, state (01 = established), ..., inode
                if len(f) > 9 and f[3] == "01" and int(f[1].rsplit(":", 1)[1], 16) == self.port:
                    client_port_of[f[9]] = int(f[2].rsplit(":", 1)[1], 16)
        owners: dict[int, int] = {}
        for pid in self.worker_pids():
            try:
                fds = os.listdir(f"/proc/{pid}/fd")
            except OSError:
                continue
            for fd in fds:
                try:
                    link = os.readlink(f"/proc/{pid}/fd/{fd}")
                except OSError:
                    continue
                if link.startswith("socket:["):
                    client_port = client_port_of.get(link[8:-1])
                    if client_port is not None:
                        owners[client_port] = pid
        return owners


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _process_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def system_cpu() -> tuple[float, float]:
    """(busy, elapsed) CPU-seconds of the whole machine since boot, summed over all cores.

    The difference of two readings, minus the server's and the client's own CPU, is what other
    processes took during a measurement -- the noise on a shared machine.
    """
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0.0, 0.0
    idle = values[3] + values[4]  # idle, iowait
    return (sum(values) - idle) / _CLOCK_TICKS, sum(values) / _CLOCK_TICKS


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def _health_ok(host: str, port: int) -> bool:
    conn = http.client.HTTPConnection(host, port, timeout=2)
    try:
        conn.request("GET", HEALTH_PATH)
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def _tail(log: str, lines: int = 40) -> str:
    return "\n".join(log.splitlines()[-lines:])


def _stop_group(proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM the server's process group (supervisor and workers), SIGKILL what is left."""
    try:
        pgid = os.getpgid(proc.pid)
    except ProcessLookupError:
        proc.wait()
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace)
    # Workers left behind (or a supervisor that did not exit): kill the whole group.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    proc.wait()


@contextlib.contextmanager
def serving(
    database_url: str,
    workers: int = 2,
    env: Mapping[str, str] | None = None,
    *,
    host: str = "127.0.0.1",
    startup_timeout: float = 60.0,
    tcp_nodelay: bool = True,
    extra_args: tuple[str, ...] = (),
) -> Iterator[ServerHandle]:
    """Run the API under uvicorn (``workers`` processes) against ``database_url``.

    The server gets this process's environment plus ``TRUSTFLOW_DATABASE_URL`` and ``env``. The
    access log is off; the log level is ``info`` only so that each worker's one-off "Application
    startup complete." line can be counted (uvicorn logs nothing per request at that level). On
    exit -- normal or not -- the process group is terminated.

    ``tcp_nodelay`` (default) runs the server as ``trustflow serve`` does
    (:mod:`trustflow.api.server`, whose multi-worker listener gives connections TCP_NODELAY);
    ``False`` runs plain ``python -m uvicorn``, which with ``workers > 1`` shows the ~40 ms
    Nagle/delayed-ACK stall on every loaded keep-alive response.
    """
    port = free_port(host)
    common = ["--host", host, "--port", str(port), "--workers", str(workers)]
    if tcp_nodelay:  # as `trustflow serve` runs it (trustflow.api.server fixes the listener)
        cmd = [sys.executable, "-m", "trustflow.api.server", *common, "--no-access-log"]
    else:
        cmd = [sys.executable, "-m", "uvicorn", APP, "--factory", *common]
        cmd += ["--log-level", "info", "--no-access-log", "--no-use-colors"]
    cmd += list(extra_args)
    child_env = {**os.environ, "TRUSTFLOW_DATABASE_URL": database_url, **(env or {})}
    with tempfile.TemporaryDirectory(prefix="trustflow-bench-server-") as tmp:
        log_path = Path(tmp) / "server.log"
        log: IO[bytes]
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                cmd,
                env=child_env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: workers are stopped with it
            )
        handle = ServerHandle(host, port, proc.pid, workers, log_path)
        try:
            _wait_ready(proc, handle, startup_timeout)
            yield handle
        finally:
            _stop_group(proc)


def _wait_ready(proc: subprocess.Popen[bytes], handle: ServerHandle, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        code = proc.poll()
        if code is not None:
            raise RuntimeError(
                f"the API server exited with code {code} before it was ready:\n"
                + _tail(handle.stderr())
            )
        log = handle.stderr()
        ready = log.count(_WORKER_READY)
        if ready >= handle.workers and _health_ok(handle.host, handle.port):
            return
        if _WORKER_FAILED.search(log):
            raise RuntimeError("an API server worker died during startup:\n" + _tail(log))
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"the API server was not ready within {timeout:.0f}s"
                f" ({ready}/{handle.workers} workers started):\n" + _tail(handle.stderr())
            )
        time.sleep(0.1)


# --- PostgreSQL -------------------------------------------------------------------------------


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def postgres_url() -> tuple[str, Callable[[], None]]:
    """A PostgreSQL URL to benchmark against, and a callback to call when done.

    ``TRUSTFLOW_TEST_POSTGRES_URL`` if set (the callback does nothing). Otherwise the project's
    test server via ``scripts/pg-test-server start`` (idempotent; it prints the URL); the callback
    stops it only if it was not already running before this call.
    """
    url = os.environ.get("TRUSTFLOW_TEST_POSTGRES_URL", "")
    if url:
        return url, lambda: None
    port = int(os.environ.get("TRUSTFLOW_PG_PORT", "55432"))
    was_running = _listening("127.0.0.1", port)
    done = subprocess.run(
        [str(PG_TEST_SERVER), "start"], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"{PG_TEST_SERVER} start failed ({done.returncode}):\n{done.stderr}{done.stdout}"
        )
    url = done.stdout.strip().splitlines()[-1]
    if was_running:
        return url, lambda: None

    stopped = False

    def stop() -> None:
        nonlocal stopped
        if not stopped:
            stopped = True
            subprocess.run([str(PG_TEST_SERVER), "stop"], capture_output=True, check=False)

    return url, stop


def _admin(admin_url: str, name: str) -> tuple[str, str]:
    if not _DB_NAME.match(name):
        raise ValueError(f"not a plain database name: {name!r}")
    url = make_url(admin_url)
    if url.get_backend_name() != "postgresql":
        raise ValueError("fresh_database needs a PostgreSQL URL")
    if url.database == name:
        raise ValueError(f"{name!r} is the admin connection's own database")
    return url.render_as_string(hide_password=False), url.set(database=name).render_as_string(
        hide_password=False
    )


def drop_database(admin_url: str, name: str) -> None:
    """Drop database ``name`` (if it exists) on ``admin_url``'s server, disconnecting its users."""
    admin, _ = _admin(admin_url, name)
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    finally:
        engine.dispose()


def fresh_database(admin_url: str, name: str) -> str:
    """(Re)create an empty database ``name`` on ``admin_url``'s server; its URL.

    ``name`` must be a plain lower-case identifier, other than the admin URL's own database.
    """
    admin, url = _admin(admin_url, name)
    drop_database(admin_url, name)
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return url
