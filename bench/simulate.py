"""Simulated orders per second: the whole simulator on the embedded store, end to end.

The marketplace is the medium catalog (480 shops, 1,600 creators) with enough buyers that it
sells about ``--orders`` in 30 days (10 with ``--quick``); the loop runs day by day until that
many orders are placed. Seconds count everything: building the population and every simulated day
(traffic, orders through the bulk services, fulfilment, after-sales, reviews).

    python -m bench.simulate [--orders N] [--seed S] [--quick]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from trustflow.db import session_factory
from trustflow.simulate import Simulation, config_for
from trustflow.simulate.runner import fresh_store

#: Orders per buyer per day that the default calibration produces (measured on the medium
#: catalog); it sizes the buyer population for the requested order count.
ORDERS_PER_BUYER_DAY = 0.053


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="20,000 orders, for smoke runs")
    args = parser.parse_args(argv)
    target, horizon = (20_000, 10) if args.quick else (args.orders, 30)
    buyers = max(2_000, int(target / horizon / ORDERS_PER_BUYER_DAY))
    config = replace(config_for("medium", seed=args.seed, days=120), buyers=buyers)

    with tempfile.TemporaryDirectory() as tmp:
        engine, _ = fresh_store(Path(tmp))
        simulation = Simulation(config, session_factory(engine))
        started = time.perf_counter()
        simulation.build()
        built = time.perf_counter() - started
        print(f"built {buyers:,} buyers in {built:.1f}s", file=sys.stderr)
        orders = days = 0
        while orders < target and days < config.days:
            orders += simulation.run_day(days).orders
            days += 1
            print(
                f"day {days}: {orders:,} orders, {time.perf_counter() - started:.1f}s",
                file=sys.stderr,
            )
        seconds = time.perf_counter() - started
        engine.dispose()

    print(
        json.dumps(
            {
                "orders": orders,
                "seconds": round(seconds, 1),
                "orders_per_s": round(orders / seconds, 1),
                "days": days,
                "buyers": buyers,
                "build_seconds": round(built, 1),
                "store": "sqlite",
            }
        )
    )


if __name__ == "__main__":
    main()
