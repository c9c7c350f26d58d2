"""Feed serving under a production-size plan: throughput against the same app's bare endpoint,
and latency at half the bare endpoint's saturation rate.

A fresh PostgreSQL database gets a marketplace of production shape (by default 100,000 plan
candidates: 20,000 shops' rooms, 10,000 creators' rooms, 70,000 product cards; 5,000 rooms live;
50,000 buyers following 3 hosts each) and a plan solved by the dual solver and switched in.
The API then runs under uvicorn with 2 workers on loopback, sharing pacing through the
database's counters (``TRUSTFLOW_TRAFFIC_FLUSH_SECONDS``: servers batch their counts and
impression rows for that long). The load generator:

1. saturates ``GET /api/v1/health`` and ``GET /api/v1/feed`` (closed loop, best of a few
   connection counts): ``bare_rps``, ``feed_rps``, ``throughput_ratio``;
2. offers ``/feed`` half of ``bare_rps`` evenly spaced (open loop, latency from each request's
   scheduled time): ``offered_rps``, ``feed_p50_ms``, ``feed_p99_ms``;
3. before that, the same at lighter loads (a tenth to three tenths of ``bare_rps``): the
   latency curve (``feed_p99_ms_by_bare_share``) and the highest offered rate of all paced
   phases whose p99 is within 20 ms (``feed_rps_within_20ms``). The load generator runs on
   the same two cores as the servers and PostgreSQL (``client_cores_at_half_bare``), so at
   high offered rates part of the latency is the client's own.

Feed requests mix surfaces by their share of traffic and draw users at random. Afterwards the
impressions logged and the pacing counters are checked against each other.

    python -m bench.feed [--quick] [--candidates N] [--seconds S]
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import Engine, func, insert, select, text

from bench._loadgen import fixed_rate, get_request, saturate_best
from bench._server import drop_database, fresh_database, postgres_url, serving
from trustflow import migrate
from trustflow.accounts import service as accounts_service
from trustflow.accounts.models import Buyer, Creator, Follow, Merchant, Role
from trustflow.catalog.models import Category, ListingStatus, Product, Shop, ShopKind
from trustflow.content.models import LiveSession, LiveStatus
from trustflow.db import make_engine, session_factory
from trustflow.names import name_skeleton
from trustflow.traffic.models import Impression
from trustflow.traffic.plan import service as tp
from trustflow.traffic.plan.allocation import HOUR_PROFILE, SURFACE_SHARE
from trustflow.traffic.plan.models import CandidateKind, PacingCounter
from trustflow.vocabulary import Surface

DB_NAME = "trustflow_bench_feed"
FLUSH_SECONDS = 0.25
#: lighter paced loads, as shares of the bare endpoint's saturation rate
LADDER = (0.1, 0.2, 0.3)
SEGMENTS = 4
console = Console(stderr=True)


def _log(message: str) -> None:
    console.print(message)


def _bulk(
    engine: Engine, table: Any, rows: list[dict[str, Any]], progress: Progress, task: Any
) -> None:
    with engine.begin() as conn:
        for start in range(0, len(rows), 10_000):
            conn.execute(insert(table), rows[start : start + 10_000])
            progress.advance(task, len(rows[start : start + 10_000]))


def seed(
    engine: Engine, *, shops: int, creators: int, cards: int, live: int, buyers: int, seed: int
) -> dict[str, Any]:
    """A marketplace of production shape, written with bulk inserts; ids are 1..n."""
    rng = np.random.default_rng(seed)
    now = datetime.now(UTC)
    per_product_shop = rng.integers(1, shops + 1, cards)
    live_hosts = rng.choice(shops + creators, size=live, replace=False) + 1
    tables = [
        (Category, [{"code": f"c{i}", "name": f"Category {i}"} for i in range(10)]),
        (Merchant, [{"name": f"M{i}"} for i in range(shops)]),
        (
            Shop,
            [
                {
                    "merchant_id": i + 1,
                    "name": f"Shop {i}",
                    "name_skeleton": name_skeleton(f"Shop {i}"),
                    "kind": ShopKind.FAST_BRAND,
                    "category_id": i % 10 + 1,
                }
                for i in range(shops)
            ],
        ),
        (Creator, [{"name": f"Creator {i}", "fans": 1000} for i in range(creators)]),
        (
            Product,
            [
                {
                    "shop_id": int(s),
                    "category_id": int(s) % 10 + 1,
                    "title": f"Product {i}",
                    "status": ListingStatus.LISTED,
                }
                for i, s in enumerate(per_product_shop)
            ],
        ),
        (Buyer, [{"name": f"B{i}"} for i in range(buyers)]),
        (
            LiveSession,
            [
                {
                    "shop_id": int(h) if h <= shops else None,
                    "creator_id": int(h - shops) if h > shops else None,
                    "status": LiveStatus.LIVE,
                    "scheduled_at": now - timedelta(hours=1),
                    "started_at": now - timedelta(hours=1),
                }
                for h in live_hosts
            ],
        ),
    ]
    follows = []
    for b in range(1, buyers + 1):
        for h in {int(x) for x in rng.choice(live_hosts, 3)}:
            follows.append(
                {
                    "buyer_id": b,
                    "shop_id": h if h <= shops else None,
                    "creator_id": h - shops if h > shops else None,
                }
            )
    tables.append((Follow, follows))
    total = sum(len(rows) for _, rows in tables)
    with Progress(
        TextColumn("seeding the marketplace"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("seed", total=total)
        for table, rows in tables:
            _bulk(engine, table, rows, progress, task)
    return {"products": cards, "live": live, "buyers": buyers, "follows": len(follows)}


def plan_inputs(shops: int, creators: int, cards: int, seed: int) -> tp.PlanInputs:
    """Plan inputs of the seeded marketplace's shape: values heavy tailed, rooms live a few
    hours a day, 8% of rooms promised reward traffic, 10% of shops new."""
    rng = np.random.default_rng(seed + 1)
    kind = np.concatenate(
        [
            np.full(shops, tp.KINDS.index(CandidateKind.SHOP_ROOM)),
            np.full(creators, tp.KINDS.index(CandidateKind.CREATOR_ROOM)),
            np.full(cards, tp.KINDS.index(CandidateKind.PRODUCT_CARD)),
        ]
    ).astype(np.int64)
    entity = np.concatenate(
        [np.arange(1, shops + 1), np.arange(1, creators + 1), np.arange(1, cards + 1)]
    )
    n, rooms = len(kind), shops + creators
    hours = np.zeros((n, tp.HOURS), dtype=bool)
    hours[rooms:] = True
    start = rng.integers(0, 24, rooms)
    span = rng.integers(3, 9, rooms)
    for offset in range(8):
        on = offset < span
        hours[np.flatnonzero(on), (start[on] + offset) % 24] = True
    hours[:rooms, datetime.now(UTC).hour] = True  # the live ones are live now
    shares = SURFACE_SHARE / SURFACE_SHARE.sum()
    profile = HOUR_PROFILE / HOUR_PROFILE.sum()
    daily = 2_000.0 * n
    supply = np.repeat(
        (daily * shares[:, None] * profile[None, :]).reshape(-1) / SEGMENTS, SEGMENTS
    )
    value = rng.lognormal(3.5, 0.8, n)
    promised = np.zeros(n, dtype=np.int64)
    rewarded = rng.random(rooms) < 0.08
    promised[:rooms][rewarded] = rng.integers(500, 3_000, int(rewarded.sum()))
    is_new = np.zeros(n, dtype=bool)
    is_new[:shops] = rng.random(shops) < 0.1
    return tp.PlanInputs(
        day=datetime.now(UTC).date(),
        segments=SEGMENTS,
        supply=supply,
        kind=kind,
        entity_id=entity.astype(np.int64),
        shop_id=np.concatenate(
            [np.arange(1, shops + 1), np.zeros(creators), rng.integers(1, shops + 1, cards)]
        ).astype(np.int64),
        value_fen=value,
        multiplier=np.ones(n),
        hours=hours,
        promised=promised,
        is_new=is_new,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small plan and short phases")
    parser.add_argument("--candidates", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=None, help="each measured phase")
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args(argv)
    candidates = 5_000 if args.quick else args.candidates
    if candidates < 100:
        parser.error("--candidates must be at least 100")
    seconds = args.seconds or (3.0 if args.quick else 15.0)
    warmup = 1.0 if args.quick else 3.0
    counts = [16] if args.quick else [8, 16, 32]
    shops, creators = candidates // 5, candidates // 10
    cards = candidates - shops - creators
    live, buyers = max(candidates // 20, 10), max(candidates // 2, 100)

    admin_url, stop_postgres = postgres_url()
    started = time.perf_counter()
    try:
        db_url = fresh_database(admin_url, DB_NAME)
        engine = make_engine(db_url)
        migrate.upgrade(engine)
        market = seed(
            engine,
            shops=shops,
            creators=creators,
            cards=cards,
            live=live,
            buyers=buyers,
            seed=args.seed,
        )
        _log(f"solving a plan of {candidates:,} candidates")
        inputs = plan_inputs(shops, creators, cards, args.seed)
        built = tp.solve(inputs)
        with session_factory(engine)() as session:
            plan = tp.store(session, built)
            tp.activate(session, plan.id)
            _, key = accounts_service.create_api_key(session, role=Role.OPERATOR, subject_id=None)
            session.commit()
        _log(
            f"  {plan.version}: {built.problem.n_edges:,} edges, "
            f"solved in {built.solution.seconds:.1f} s"
        )
        # as after any bulk load: otherwise autovacuum visits the fresh tables while the
        # ceiling is measured, and a lower ceiling would make the paced load lighter
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))

        rng = np.random.default_rng(args.seed + 2)
        surfaces = list(Surface)
        shares = SURFACE_SHARE / SURFACE_SHARE.sum()
        headers = {"X-API-Key": key}
        feed_requests = [
            get_request(
                f"/api/v1/feed?user_id={int(u)}&surface={surfaces[int(s)].value}&n=10",
                headers=headers,
            )
            for u, s in zip(
                rng.integers(1, buyers + 1, 4096),
                rng.choice(len(surfaces), 4096, p=shares),
                strict=True,
            )
        ]
        bare_requests = [get_request("/api/v1/health")]
        env = {"TRUSTFLOW_TRAFFIC_FLUSH_SECONDS": str(FLUSH_SECONDS)}
        with serving(db_url, workers=2, env=env) as server:
            _log(f"serving on {server.base_url} with {server.workers} workers")
            # every worker loads the plan before the clock starts
            saturate_best(server.host, server.port, feed_requests, [4], 2.0, 2.0, placement=server)
            bare, _ = saturate_best(
                server.host, server.port, bare_requests, counts, seconds, warmup, placement=server
            )
            _log(f"  bare  {bare.summary()}")
            feed, _ = saturate_best(
                server.host, server.port, feed_requests, counts, seconds, warmup, placement=server
            )
            _log(f"  feed  {feed.summary()}")
            # lighter loads first: an overloaded phase leaves a backlog behind it
            curve = {}
            for share in LADDER:
                step = fixed_rate(
                    server.host, server.port, feed_requests, bare.rps * share, seconds, warmup,
                    placement=server,
                )  # fmt: skip
                _log(f"  {share:.0%} of bare {step.summary()}")
                curve[share] = step
            offered = bare.rps / 2
            paced = fixed_rate(
                server.host, server.port, feed_requests, offered, seconds, warmup, placement=server
            )
            _log(f"  paced {paced.summary()}")
            within = [r.offered_rps or 0.0 for r in (paced, *curve.values()) if r.p99_ms <= 20.0]
        with session_factory(engine)() as session:
            logged = session.scalar(select(func.count()).select_from(Impression)) or 0
            counted = session.scalar(select(func.sum(PacingCounter.delivered))) or 0
            rewarded = (
                session.scalar(select(func.count()).where(Impression.is_reward.is_(True))) or 0
            )
        engine.dispose()
        drop_database(admin_url, DB_NAME)
    finally:
        stop_postgres()
    print(
        json.dumps(
            {
                "feed_rps": round(feed.rps, 1),
                "bare_rps": round(bare.rps, 1),
                "throughput_ratio": round(feed.rps / bare.rps, 3) if bare.rps else 0.0,
                "offered_rps": round(offered, 1),
                "feed_p50_ms": round(paced.p50_ms, 2),
                "feed_p99_ms": round(paced.p99_ms, 2),
                "paced_achieved_rps": round(paced.rps, 1),
                "feed_p99_ms_by_bare_share": {
                    f"{share:.1f}": round(r.p99_ms, 2) for share, r in curve.items()
                },
                "feed_rps_within_20ms": round(max(within, default=0.0), 1),
                "client_cores_at_half_bare": round(paced.client_cpu_s / paced.seconds, 2),
                "paced_errors": paced.errors + sum(r.errors for r in curve.values()),
                "feed_errors": feed.errors,
                "feed_connections": feed.connections,
                "bare_connections": bare.connections,
                "candidates": candidates,
                "plan_edges": built.problem.n_edges,
                "plan_solve_seconds": round(built.solution.seconds, 2),
                "live_rooms": market["live"],
                "buyers": market["buyers"],
                "workers": 2,
                "flush_seconds": FLUSH_SECONDS,
                "logged_impressions": int(logged),
                "counted_impressions": int(counted),
                "reward_impressions": int(rewarded),
                "seconds": round(time.perf_counter() - started, 1),
                "quick": args.quick,
            }
        )
    )


if __name__ == "__main__":
    main()
