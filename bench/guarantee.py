"""Chuanliu guarantee: is each party delivered the reward impressions it was promised?

A simulated marketplace (the medium catalog: 480 shops, 1,600 creators, 48,000 buyers; a
small one with ``--quick``) runs day by day under :class:`ChuanliuPolicy`: each day the plan
promises reward impressions to qualifying goods owners and their creators, and the feed paces
them through the day's batches. At the end every day is reconciled from the impressions log,
and each party's delivered impressions over the whole run are compared with its promises.
Plan settings are the deployment defaults (``TRUSTFLOW_CHUANLIU_*`` apply; e.g.
``TRUSTFLOW_CHUANLIU_MIN_PROMISE_IMPRESSIONS=0`` promises every share the day it is earned).

**What is measured** (``measured`` in the output). For each party with a promise in the run:
``|delivered − promised| ÷ promised``, both summed over all of the run's ledger rows of the
party. *Promised* is what the ledger committed to on each day; *delivered* is the reward
impressions reconciled to the party's rows (impressions of its items shown on a day it has a
row). A promise of the run's last day counts in full, delivered or not. ``share_within_5pct``
is the share of those parties whose deviation is at most 5%.

**What is not promised yet.** A party's shares of the daily pool accrue until they reach the
minimum promise (``chuanliu_min_promise_impressions``, docs/chuanliu.md); shares still
accruing at the end are not promised, so they are not measured. The output says how many
impressions and parties that is (``accrued_*``, ``*_earning_never_promised``), so the
measured set can be read against everyone who earned. Misses are also counted by kind, and
the creators' misses that had nothing on offer (no live room, no video) from their last
promise to the end of the run are counted apart: no feed can show what is not there.

    python -m bench.guarantee [--quick] [--days N] [--seed S]

Progress goes to stderr; the last line on stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from time import perf_counter
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from trustflow.config import get_settings
from trustflow.content.models import LiveSession, ShortVideo
from trustflow.db import session_factory, transaction
from trustflow.simulate import Simulation, config_for
from trustflow.simulate.policies import ChuanliuPolicy
from trustflow.simulate.runner import fresh_store
from trustflow.traffic.chuanliu import ledger
from trustflow.traffic.chuanliu.models import ChuanliuLedger, PartyKind
from trustflow.traffic.models import Impression

#: Parties promised at least this many impressions over the run are reported apart.
MEASURABLE = 200
TOLERANCE = 0.05
MEASURED = (
    "per party with a promise in the run: |delivered - promised| / promised, both summed over "
    "the party's ledger rows of the run (delivered: reward impressions of its items shown on "
    "a day it has a row); shares still accruing below the minimum promise are not promised "
    "and not measured (see accrued_*)"
)


@dataclass
class Party:
    kind: PartyKind
    party_id: int
    earned: int = 0
    promised: int = 0
    delivered: int = 0
    last_promised: date | None = None
    days: list[date] = field(default_factory=list)

    @property
    def deviation(self) -> float:
        return abs(self.delivered - self.promised) / self.promised

    @property
    def missed(self) -> bool:
        return self.deviation > TOLERANCE


def _deviations(parties: list[Party]) -> list[float]:
    return [p.deviation for p in parties]


def _within(parties: list[Party]) -> float:
    deviations = _deviations(parties)
    return round(sum(x <= TOLERANCE for x in deviations) / max(len(deviations), 1), 4)


def _ledger(session: Session) -> dict[tuple[PartyKind, int], Party]:
    ledger = ChuanliuLedger
    parties: dict[tuple[PartyKind, int], Party] = {}
    for kind, party_id, day, earned, promised, delivered in session.execute(
        select(
            ledger.party_kind,
            ledger.party_id,
            ledger.plan_day,
            ledger.earned_impressions,
            ledger.promised_impressions,
            ledger.delivered_impressions,
        ).order_by(ledger.plan_day)
    ):
        key = (PartyKind(kind), int(party_id))
        party = parties.setdefault(key, Party(*key))
        party.earned += int(earned)
        party.promised += int(promised)
        party.delivered += int(delivered)
        party.days.append(day)
        if promised:
            party.last_promised = day
    return parties


def _on_offer_days(session: Session, creators: list[int], since: date) -> dict[int, set[date]]:
    """The days on or after ``since`` on which each creator went live or posted a video."""
    days: dict[int, set[date]] = defaultdict(set)
    if not creators:
        return days
    start = datetime.combine(since, time(), tzinfo=UTC)
    hosted = (
        select(LiveSession.creator_id, LiveSession.started_at).where(
            LiveSession.creator_id.in_(creators), LiveSession.started_at >= start
        ),
        select(ShortVideo.creator_id, ShortVideo.posted_at).where(
            ShortVideo.creator_id.in_(creators), ShortVideo.posted_at >= start
        ),
    )
    for stmt in hosted:
        for creator, at in session.execute(stmt):
            if creator is not None and at is not None:
                days[int(creator)].add(at.date())
    return days


def _reward_by_time(session: Session) -> dict[str, dict[str, float]]:
    """Each time of day's share of all reward impressions and of all impressions."""
    clock = func.strftime("%H:%M", Impression.shown_at)
    rows = session.execute(
        select(clock, Impression.is_reward, func.sum(Impression.count)).group_by(
            clock, Impression.is_reward
        )
    ).all()
    reward = {t: int(n) for t, is_reward, n in rows if is_reward}
    every: dict[str, int] = defaultdict(int)
    for t, _, n in rows:
        every[t] += int(n)
    return {
        t: {
            "reward": round(reward.get(t, 0) / max(sum(reward.values()), 1), 3),
            "all": round(every[t] / max(sum(every.values()), 1), 3),
        }
        for t in sorted(every)
    }


def _summary(parties: list[Party], prefix: str) -> dict[str, Any]:
    """One kind of party: who earned, what was promised, what is still accruing, the misses."""
    promised = [p for p in parties if p.promised > 0]
    earning = [p for p in parties if p.earned > 0]
    return {
        f"{prefix}earning": len(earning),
        f"{prefix}earning_never_promised": sum(p.promised == 0 for p in earning),
        f"{prefix}earned_impressions": sum(p.earned for p in parties),
        f"{prefix}promised_impressions": sum(p.promised for p in parties),
        f"{prefix}accrued_impressions": sum(p.earned - p.promised for p in parties),
        f"{prefix}delivered_impressions": sum(p.delivered for p in promised),
        f"{prefix}missed": sum(p.missed for p in promised),
        f"{prefix}max_abs_deviation": round(max(_deviations(promised), default=0.0), 4),
    }


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
        started = perf_counter()
        task = progress.add_task("building the marketplace", total=config.days)
        simulation.build()
        progress.update(task, description="simulating days")
        impressions = sum(
            simulation.run_day(d).impressions
            for d in progress.track(range(config.days), task_id=task)
        )
        progress.update(task, description="reconciling the ledger")
        last_day = (config.start + timedelta(days=config.days - 1)).date()
        with transaction(factory) as session:
            days = [
                ledger.reconcile(session, (config.start + timedelta(days=d)).date())
                for d in range(config.days)
            ]
            everyone = list(_ledger(session).values())
            missed_creators = [
                p for p in everyone if p.kind is PartyKind.CREATOR and p.promised > 0 and p.missed
            ]
            since = min((p.last_promised for p in missed_creators if p.last_promised), default=None)
            on_offer = (
                _on_offer_days(session, [p.party_id for p in missed_creators], since)
                if since
                else {}
            )
            by_time = _reward_by_time(session)
        seconds = perf_counter() - started
        engine.dispose()

    parties = [p for p in everyone if p.promised > 0]
    shops = [p for p in everyone if p.kind is PartyKind.SHOP]
    creators = [p for p in everyone if p.kind is PartyKind.CREATOR]
    measurable = [p for p in parties if p.promised >= MEASURABLE]
    absent = sum(
        not any(p.last_promised <= d <= last_day for d in on_offer.get(p.party_id, set()))
        for p in missed_creators
        if p.last_promised
    )
    reward = sum(r.reward_impressions for r in days)
    print(
        json.dumps(
            {
                "days": config.days,
                "seed": config.seed,
                "shops": config.shops,
                "creators": config.creators,
                "buyers": config.buyers,
                "measured": MEASURED,
                "min_promise_impressions": settings.chuanliu_min_promise_impressions,
                "parties": len(parties),
                "promised_impressions": sum(p.promised for p in parties),
                "delivered_impressions": sum(p.delivered for p in parties),
                "max_abs_deviation": round(max(_deviations(parties), default=0.0), 4),
                "share_within_5pct": _within(parties),
                "shops_promised": sum(p.promised > 0 for p in shops),
                "share_within_5pct_shops": _within([p for p in shops if p.promised > 0]),
                "creators_promised": sum(p.promised > 0 for p in creators),
                "share_within_5pct_creators": _within([p for p in creators if p.promised > 0]),
                f"parties_promised_{MEASURABLE}_plus": len(measurable),
                f"share_within_5pct_promised_{MEASURABLE}_plus": _within(measurable),
                f"max_abs_deviation_promised_{MEASURABLE}_plus": round(
                    max(_deviations(measurable), default=0.0), 4
                ),
                "smallest_promise": min((p.promised for p in parties), default=0),
                "earned_impressions": sum(p.earned for p in everyone),
                "accrued_impressions": sum(p.earned - p.promised for p in everyone),
                **_summary(shops, "shops_"),
                **_summary(creators, "creators_"),
                "creators_missed_with_nothing_on_offer_after_last_promise": absent,
                "unattributed_impressions": sum(r.unattributed for r in days),
                "reward_share_of_impressions": round(reward / max(impressions, 1), 4),
                "share_by_time_of_day": by_time,
                "seconds": round(seconds, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
