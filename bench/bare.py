"""Requests/s of the bare health endpoint under uvicorn, and its latency at half that load.

Proves the HTTP benchmark pieces (``bench._server``, ``bench._loadgen``): the API runs under
uvicorn with 2 workers on loopback against a fresh, migrated PostgreSQL database; the load
generator first saturates ``GET /api/v1/health`` (closed loop), then offers half that rate
evenly spaced (open loop) and reports p50/p99 latency measured from each request's scheduled
time.

The server runs through ``bench._server.serving``, which by default works around uvicorn's
multi-worker listener lacking TCP_NODELAY (``--stock-uvicorn`` shows the ~40 ms stalls).

    python -m bench.bare [--quick] [--connections N] [--sweep 4,8,16,32,64] [--seconds S]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from bench._loadgen import event_loop_name, fixed_rate, get_request, saturate
from bench._server import drop_database, fresh_database, postgres_url, serving, system_cpu
from trustflow import migrate
from trustflow.db import make_engine

DB_NAME = "trustflow_bench_bare"
#: Closed-loop connections (spread evenly over the workers). Measured on the 2-core machine with
#: the health endpoint (async, matched first), rps at 4/8/16/32/64 connections, 5 s each:
#: 6767/7218/7044/7148/6638. 8-32 are equal within noise; 4 leaves workers idle between
#: requests, 64 only adds queueing. 32 leaves headroom for endpoints that wait on the database.
CONNECTIONS = 32


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds, for smoke runs")
    parser.add_argument("--connections", type=int, default=CONNECTIONS)
    parser.add_argument("--seconds", type=float, default=None, help="each measured phase")
    parser.add_argument(
        "--sweep", default="", help="also saturate with these connection counts, e.g. 8,16,32,64"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--stock-uvicorn",
        action="store_true",
        help="plain `python -m uvicorn` (multi-worker listener without TCP_NODELAY: ~40 ms stalls)",
    )
    args = parser.parse_args(argv)
    seconds = args.seconds or (3.0 if args.quick else 20.0)
    warmup = 1.0 if args.quick else 3.0
    sweep = [int(n) for n in args.sweep.split(",") if n.strip()]

    admin_url, stop_postgres = postgres_url()
    try:
        db_url = fresh_database(admin_url, DB_NAME)
        engine = make_engine(db_url)
        migrate.upgrade(engine)
        engine.dispose()
        try:
            with serving(
                db_url, workers=args.workers, tcp_nodelay=not args.stock_uvicorn
            ) as server:
                _log(f"server on {server.base_url}, {args.workers} workers")
                health = [get_request("/api/v1/health", f"{server.host}:{server.port}")]
                swept: dict[str, float] = {}
                for n in sweep:
                    res = saturate(server.host, server.port, health, n, seconds, warmup, server)
                    _log(f"sweep {n}: {res.summary()}")
                    swept[str(n)] = round(res.rps, 1)
                busy0, total0 = system_cpu()
                server_cpu0 = server.cpu_seconds()
                sat = saturate(
                    server.host, server.port, health, args.connections, seconds, warmup, server
                )
                server_cpu = server.cpu_seconds() - server_cpu0
                busy1, total1 = system_cpu()
                wall = (total1 - total0) / (os.cpu_count() or 1) or seconds + warmup
                others = max(0.0, busy1 - busy0 - server_cpu - sat.client_cpu_s) / wall
                _log(sat.summary())
                _log(
                    f"during saturation: server {server_cpu / wall:.2f} cores,"
                    f" client {sat.client_cpu_s / wall:.2f}, other processes {others:.2f}"
                )
                offered = sat.rps / 2
                fix = fixed_rate(
                    server.host,
                    server.port,
                    health,
                    offered,
                    seconds,
                    warmup,
                    connections=64,
                    placement=server,
                )
                _log(fix.summary())
        finally:
            drop_database(admin_url, DB_NAME)
    finally:
        stop_postgres()

    out: dict[str, Any] = {
        "bare_rps": round(sat.rps, 1),
        "offered_rps": round(offered, 1),
        "achieved_rps": round(fix.rps, 1),
        "p50_ms": round(fix.p50_ms, 3),
        "p99_ms": round(fix.p99_ms, 3),
        "max_ms": round(fix.max_ms, 3),
        "errors": sat.errors + fix.errors,
        "connections": args.connections,
        "fixed_rate_connections": fix.connections,
        "saturate_p50_ms": round(sat.p50_ms, 3),
        "saturate_p99_ms": round(sat.p99_ms, 3),
        "server_cores": round(server_cpu / wall, 2),
        "client_cores": round(sat.client_cpu_s / wall, 2),
        "other_cores": round(others, 2),
        "bare_rps_per_server_core": round(sat.rps / (server_cpu / wall), 1) if server_cpu else None,
        "workers": args.workers,
        "tcp_nodelay_fix": not args.stock_uvicorn,
        "balance": sat.balance,
        "seconds": seconds,
        "event_loop": event_loop_name(),
    }
    if sweep:
        out["sweep_rps"] = swept
    if sat.error_samples or fix.error_samples:
        out["error_samples"] = (sat.error_samples + fix.error_samples)[:5]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
