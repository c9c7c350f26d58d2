"""Chuanliu guarantee: is each party delivered the reward impressions it was promised?

A simulated marketplace (the medium catalog: 480 shops, 1,600 creators, 48,000 buyers; a
small one with ``--quick``) runs day by day under :class:`ChuanliuPolicy`: each day the plan
promises reward impressions to qualifying goods owners and their creators, and the feed paces
them through the day's batches. At the end every day is reconciled from the impressions log,
and each party's delivered impressions over the whole run are compared with its promises.
Plan settings are the deployment defaults (``TRUSTFLOW_CHUANLIU_*`` apply).

With the default pool (about 1.6% of organic traffic) most creators are promised a few dozen
impressions over the month, where one impression is several per cent: the figures are also
given by kind of party and for parties promised at least 200 impressions (where 5% is ten).

    python -m bench.guarantee [--quick] [--days N] [--seed S]

Progress goes to stderr; the last line on stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import func, select

from trustflow.config import get_settings
from trustflow.db import session_factory, transaction
from trustflow.simulate import Simulation, config_for
from trustflow.simulate.runner import fresh_store
from trustflow.traffic import chuanliu
from trustflow.traffic.chuanliu_models import ChuanliuLedger, PartyKind
from trustflow.traffic.policy import ChuanliuPolicy

#: Parties promised at least this many impressions over the run are reported apart.
MEASURABLE = 200


def _deviations(parties: list[tuple[PartyKind, int, int]]) -> list[float]:
    return [abs(delivered - promised) / promised for _, promised, delivered in parties]


def _within(parties: list[tuple[PartyKind, int, int]], tolerance: float = 0.05) -> float:
    deviations = _deviations(parties)
    return round(sum(x <= tolerance for x in deviations) / max(len(deviations), 1), 4)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="a small marketplace, for smoke runs")
    args = parser.parse_args(argv)
    if args.quick:
        config = replace(
            config_for("small", seed=args.seed, days=args.days), shops=20, creators=20, buyers=1500
        )
    else:
        config = config_for("medium", seed=args.seed, days=args.days)
    settings = get_settings()

    console = Console(stderr=True)
    with (
        tempfile.TemporaryDirectory() as tmp,
        Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress,
    ):
        engine, _ = fresh_store(Path(tmp))
        factory = session_factory(engine)
        simulation = Simulation(config, factory, policy=ChuanliuPolicy(settings=settings))
        started = time.perf_counter()
        task = progress.add_task("building the marketplace", total=config.days)
        simulation.build()
        progress.update(task, description="simulating days")
        impressions = sum(
            simulation.run_day(d).impressions
            for d in progress.track(range(config.days), task_id=task)
        )
        progress.update(task, description="reconciling the ledger")
        with transaction(factory) as session:
            days = [
                chuanliu.reconcile(session, (config.start + timedelta(days=d)).date())
                for d in range(config.days)
            ]
            totals = session.execute(
                select(
                    ChuanliuLedger.party_kind,
                    func.sum(ChuanliuLedger.promised_impressions),
                    func.sum(ChuanliuLedger.delivered_impressions),
                )
                .group_by(ChuanliuLedger.party_kind, ChuanliuLedger.party_id)
                .having(func.sum(ChuanliuLedger.promised_impressions) > 0)
            ).all()
        seconds = time.perf_counter() - started
        engine.dispose()

    parties = [(PartyKind(kind), int(p), int(d)) for kind, p, d in totals]
    reward = sum(r.reward_impressions for r in days)
    shops = [x for x in parties if x[0] is PartyKind.SHOP]
    creators = [x for x in parties if x[0] is PartyKind.CREATOR]
    measurable = [x for x in parties if x[1] >= MEASURABLE]
    print(
        json.dumps(
            {
                "days": config.days,
                "seed": config.seed,
                "shops": config.shops,
                "creators": config.creators,
                "buyers": config.buyers,
                "parties": len(parties),
                "promised_impressions": sum(p for _, p, _ in parties),
                "delivered_impressions": sum(d for _, _, d in parties),
                "max_abs_deviation": round(max(_deviations(parties), default=0.0), 4),
                "share_within_5pct": _within(parties),
                "shops_promised": len(shops),
                "share_within_5pct_shops": _within(shops),
                "creators_promised": len(creators),
                "share_within_5pct_creators": _within(creators),
                f"parties_promised_{MEASURABLE}_plus": len(measurable),
                f"share_within_5pct_promised_{MEASURABLE}_plus": _within(measurable),
                f"max_abs_deviation_promised_{MEASURABLE}_plus": round(
                    max(_deviations(measurable), default=0.0), 4
                ),
                "smallest_promise": min((p for _, p, _ in parties), default=0),
                "unattributed_impressions": sum(r.unattributed for r in days),
                "reward_share_of_impressions": round(reward / max(impressions, 1), 4),
                "seconds": round(seconds, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
