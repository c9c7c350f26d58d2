"""The nightly score job and the reads that serve scores.

``compute_scores`` exports the store to the warehouse (by watermark), computes the three
scores, and publishes them as a new version: every row is written under a version that
nobody reads yet, then one short transaction makes it the active one. A crash before that
switch leaves the previous version served; the next run clears the half-written one.

A publication cannot silently wreck the scores merchants see (docs/scores.md, "Pipeline"):
the default as-of follows the bulk of the store's orders, not a lone order far past it, and a
version is refused, unless forced, when its as-of lies outside the store's data or when it
would take a score away from more than :data:`MAX_DROP_SHARE` of the entities of a kind that
the active version scores.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import duckdb
from sqlalchemy import Engine, Select, Table, case, delete, func, select, update
from sqlalchemy.orm import Session, aliased, sessionmaker

from trustflow.aftersales.models import AfterSalesRequest, Review
from trustflow.bulk import insert_columns, rowcount
from trustflow.db import utcnow
from trustflow.errors import Conflict, ErrorCode, Forbidden, InvalidInput, NotFound
from trustflow.scoring import explain, rules, sql
from trustflow.scoring.engine import Computed, compute_duckdb
from trustflow.scoring.models import (
    AppealStatus,
    BurstDecision,
    BurstVerdict,
    DefectKind,
    EntityScore,
    ReviewBurst,
    ScoreAppeal,
    ScoreKind,
    ScoreVersion,
    VersionState,
)
from trustflow.warehouse.export import FACTS, ExportReport, export
from trustflow.warehouse.reader import open_warehouse

__all__ = [
    "AS_OF_SLACK",
    "BUSY_DAY_SHARE",
    "MAX_DROP_SHARE",
    "RECENT_ACTIVE_DAYS",
    "activate",
    "active_version",
    "compute_scores",
    "decide_appeal",
    "decide_burst",
    "default_as_of",
    "file_appeal",
    "get_score",
    "history",
    "pending_bursts",
    "published_scores",
    "store_data",
    "tier_counts",
]

Progress = Callable[[str], None]
WRITE_CHUNK = 20_000

#: The default as-of follows the newest UTC day whose orders reach this share of the store's
#: median daily orders over its :data:`RECENT_ACTIVE_DAYS` newest days with orders.
BUSY_DAY_SHARE = 0.10
RECENT_ACTIVE_DAYS = 28
#: An as-of later than the store's newest activity by more than this is refused: by then the
#: store experience score's window holds none of the store's orders.
AS_OF_SLACK = timedelta(days=rules.STORE.window_days)
#: A version may take the score away (no score, or absent) from at most this share of the
#: entities of a kind that the active version scores, and always from one.
MAX_DROP_SHARE = 0.10
#: The facts the scores read: activity in them moves the default as-of.
_SCORED_FACTS = tuple(f for f in FACTS if f.name != "impressions")


@dataclass(frozen=True)
class ScoreRun:
    version_id: int
    as_of: datetime
    export: ExportReport
    entities: dict[str, int]
    seconds_compute: float


@dataclass(frozen=True)
class StoreData:
    """When the store's data begins and ends, as the warehouse holds it."""

    first_order: datetime | None
    newest_activity: datetime | None
    #: The newest activity up to the end of the newest busy day (see :data:`BUSY_DAY_SHARE`).
    newest_busy_activity: datetime | None


def _epoch(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def store_data(con: duckdb.DuckDBPyConnection) -> StoreData:
    """Read the store's data span from the warehouse's partitions, in DuckDB."""
    stamps = " UNION ALL ".join(
        f"SELECT {f.stamp_column.name} AS stamp FROM {f.name}"  # noqa: S608 (fixed names)
        for f in _SCORED_FACTS
    )
    row = con.execute(
        f"""
        WITH daily AS (
            SELECT CAST(created_at AS DATE) AS day, COUNT(*) AS n FROM orders GROUP BY 1
        ),
        recent AS (SELECT n FROM daily ORDER BY day DESC LIMIT {RECENT_ACTIVE_DAYS}),
        busy AS (
            SELECT MAX(day) AS day FROM daily
            WHERE n >= (SELECT MEDIAN(n) FROM recent) * {BUSY_DAY_SHARE}
        ),
        stamps AS ({stamps})
        SELECT
            (SELECT EPOCH(MIN(created_at)) FROM orders),
            (SELECT EPOCH(MAX(stamp)) FROM stamps),
            (SELECT EPOCH(MAX(stamp)) FROM stamps
             WHERE stamp < (SELECT CAST(day + 1 AS TIMESTAMPTZ) FROM busy)),
            (SELECT day FROM busy)
        """  # noqa: S608 (fixed SQL: names and numbers from this module)
    ).fetchone()
    assert row is not None
    first, newest, newest_busy, busy_day = row
    if newest_busy is None and isinstance(busy_day, date):  # only creation stamps that day
        newest_busy = datetime(busy_day.year, busy_day.month, busy_day.day, tzinfo=UTC).timestamp()
    return StoreData(_epoch(first), _epoch(newest), _epoch(newest_busy))


def default_as_of(data: StoreData, now: datetime) -> datetime:
    """Just after the newest activity of the newest busy day, capped at ``now``.

    For a live marketplace that is about now; a lone order far past the bulk of the data (a
    test order placed today in a store simulated months ago) does not drag it along."""
    now = now.replace(microsecond=0)
    if data.newest_busy_activity is None:
        return now
    return min(now, data.newest_busy_activity.replace(microsecond=0) + timedelta(seconds=1))


def _refuse(message: str, **details: Any) -> Conflict:
    return Conflict(
        message + "; `trustflow scores compute --force` publishes it anyway",
        code=ErrorCode.SCORE_PUBLICATION_REFUSED,
        **details,
    )


def check_as_of(when: datetime, data: StoreData, now: datetime) -> None:
    """Refuse an as-of in the future or outside the store's data (docs/scores.md)."""
    now = now.replace(microsecond=0)
    fix = f"leave the as-of out for the default ({default_as_of(data, now).isoformat()})"
    latest = now
    if data.first_order is not None and data.newest_activity is not None:
        latest = min(now, data.newest_activity + AS_OF_SLACK)
        fix = f"pick one from {data.first_order.isoformat()} to {latest.isoformat()}, or {fix}"
    if when > now:
        raise _refuse(
            f"as of {when.isoformat()} is in the future (now is {now.isoformat()}); {fix}",
            as_of=when.isoformat(),
        )
    if data.first_order is None or data.newest_activity is None:
        return  # an empty store: nothing to be outside of
    if when <= data.first_order:
        raise _refuse(
            f"as of {when.isoformat()} is not after the store's first order "
            f"({data.first_order.isoformat()}): no score would count anything; {fix}",
            as_of=when.isoformat(),
        )
    if when > latest:
        raise _refuse(
            f"as of {when.isoformat()} is more than {AS_OF_SLACK.days} days after the store's "
            f"newest activity ({data.newest_activity.isoformat()}); {fix}",
            as_of=when.isoformat(),
        )


def compute_scores(
    engine: Engine,
    warehouse: Path,
    *,
    as_of: datetime | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> ScoreRun:
    """Export, compute and publish. Unless ``force``, refuses (and publishes nothing) an as-of
    outside the store's data, or a version that would drop too many scores."""
    step = progress or (lambda _msg: None)
    step("exporting the store to the warehouse")
    report = export(engine, warehouse)
    if as_of is not None and as_of.tzinfo is None:
        raise InvalidInput("as_of must be timezone-aware")
    now = datetime.now(UTC)
    con = open_warehouse(warehouse)
    try:
        data = store_data(con)
        when = as_of or default_as_of(data, now)
        if not force:
            check_as_of(when, data, now)
        step("computing the three scores")
        started = time.perf_counter()
        computed = compute_duckdb(warehouse, int(when.timestamp()), sql.FULL, con=con)
        seconds = time.perf_counter() - started
    finally:
        con.close()
    step("publishing a new version")
    factory = sessionmaker(engine, expire_on_commit=False)
    version_id = publish(
        factory, computed, as_of=when, max_drop_share=None if force else MAX_DROP_SHARE
    )
    counts = computed.scores.group_by("kind").len().rows()
    return ScoreRun(
        version_id=version_id,
        as_of=when,
        export=report,
        entities={str(k): int(n) for k, n in counts},
        seconds_compute=seconds,
    )


def publish(
    factory: sessionmaker[Session],
    computed: Computed,
    *,
    as_of: datetime,
    engine_name: str = "duckdb",
    max_drop_share: float | None = None,
) -> int:
    """Write ``computed`` as a new version and make it the active one. With
    ``max_drop_share``, a version that would drop more than that share of a kind's scored
    entities is discarded instead, and the active version stays active."""
    detail = explain.details(computed.metrics)
    with factory() as session, session.begin():
        # A version left half-written by a crashed run is never served: clear it out.
        stale = select(ScoreVersion.id).where(ScoreVersion.state == VersionState.BUILDING)
        session.execute(delete(EntityScore).where(EntityScore.version_id.in_(stale)))
        session.execute(delete(ReviewBurst).where(ReviewBurst.version_id.in_(stale)))
        session.execute(delete(ScoreVersion).where(ScoreVersion.state == VersionState.BUILDING))
        version = ScoreVersion(as_of=as_of, engine=engine_name, started_at=utcnow())
        session.add(version)
        session.flush()
        version_id = version.id
    scores = computed.scores.sort("kind", "entity_id")
    written = 0
    for part in scores.iter_slices(WRITE_CHUNK):
        keys = list(zip(part["kind"].to_list(), part["entity_id"].to_list(), strict=True))
        with factory() as session, session.begin():
            insert_columns(
                session,
                cast(Table, EntityScore.__table__),
                {
                    "version_id": [version_id] * part.height,
                    "kind": part["kind"].to_list(),
                    "entity_id": part["entity_id"].to_list(),
                    "score": part["score"].round(2).to_list(),
                    "lower": part["lower"].round(2).to_list(),
                    "upper": part["upper"].round(2).to_list(),
                    "sample": part["sample"].to_list(),
                    "status": part["status"].to_list(),
                    "tier": part["tier"].to_list(),
                    "restricted": [bool(x) for x in part["restricted"].to_list()],
                    "detail": [
                        detail[(k, int(e))]
                        | {"window_days": int(w), "known_share": round(float(o), 4)}
                        for (k, e), w, o in zip(
                            keys,
                            part["window_days"].to_list(),
                            part["observed_share"].to_list(),
                            strict=True,
                        )
                    ],
                },
                rows=part.height,
            )
        written += part.height
    if computed.bursts.height:
        with factory() as session, session.begin():
            bursts = computed.bursts
            insert_columns(
                session,
                cast(Table, ReviewBurst.__table__),
                {
                    "version_id": [version_id] * bursts.height,
                    "shop_id": bursts["shop_id"].to_list(),
                    "epoch_day": bursts["epoch_day"].to_list(),
                    "bad_reviews": bursts["bad_reviews"].to_list(),
                },
                rows=bursts.height,
            )
    if max_drop_share is not None:
        _refuse_a_drop(factory, version_id, as_of=as_of, max_share=max_drop_share)
    activate(factory, version_id, entities=written)
    return version_id


def dropped_scores(session: Session, version_id: int) -> dict[str, tuple[int, int]]:
    """Per kind: (entities the active version scores, how many of them ``version_id`` does
    not score)."""
    version = active_version(session)
    if version is None:
        return {}
    old, new = aliased(EntityScore), aliased(EntityScore)
    kept = (
        select(new.entity_id)
        .where(new.version_id == version_id, new.kind == old.kind, new.entity_id == old.entity_id)
        .exists()
    )
    rows = session.execute(
        select(old.kind, func.count(), func.sum(case((~kept, 1), else_=0)))
        .where(old.version_id == version.id)
        .group_by(old.kind)
        .order_by(old.kind)
    ).all()
    return {kind.value: (int(n), int(lost or 0)) for kind, n, lost in rows}


def _refuse_a_drop(
    factory: sessionmaker[Session], version_id: int, *, as_of: datetime, max_share: float
) -> None:
    with factory() as session:
        active = active_version(session)
        drops = dropped_scores(session, version_id)
    too_many = {
        kind: (n, lost) for kind, (n, lost) in drops.items() if lost > max(1, max_share * n)
    }
    if not too_many or active is None:
        return
    _discard(factory, version_id)
    lost_text = ", ".join(
        f"{lost:,} of {n:,} {kind} scores ({lost / n:.0%})" for kind, (n, lost) in too_many.items()
    )
    raise _refuse(
        f"the version as of {as_of.isoformat()} would take away {lost_text} of active version "
        f"{active.id} (as of {active.as_of.isoformat()}); at most {max_share:.0%} of a kind may "
        "go. Check the as-of (a time inside the bulk of the store's data) and the warehouse",
        dropped={k: lost for k, (_, lost) in too_many.items()},
        active_version=active.id,
    )


def _discard(factory: sessionmaker[Session], version_id: int) -> None:
    """Remove a version that was written but will never be served."""
    with factory() as session, session.begin():
        session.execute(delete(EntityScore).where(EntityScore.version_id == version_id))
        session.execute(delete(ReviewBurst).where(ReviewBurst.version_id == version_id))
        session.execute(
            delete(ScoreVersion).where(
                ScoreVersion.id == version_id, ScoreVersion.state == VersionState.BUILDING
            )
        )


def activate(factory: sessionmaker[Session], version_id: int, *, entities: int) -> None:
    """Make a fully written version the one served, in one short transaction."""
    with factory() as session, session.begin():
        switched = session.execute(
            update(ScoreVersion)
            .where(ScoreVersion.id == version_id, ScoreVersion.state == VersionState.BUILDING)
            .values(state=VersionState.ACTIVE, activated_at=utcnow(), entities=entities)
        )
        if rowcount(switched) != 1:
            # A run started after this one cleared it away; the newer run publishes.
            raise Conflict(f"score version {version_id} was superseded while it was written")
        session.execute(
            update(ScoreVersion)
            .where(ScoreVersion.state == VersionState.ACTIVE, ScoreVersion.id != version_id)
            .values(state=VersionState.SUPERSEDED)
        )


# Reads ------------------------------------------------------------------------------------


def active_version(session: Session) -> ScoreVersion | None:
    return session.scalars(
        select(ScoreVersion).where(ScoreVersion.state == VersionState.ACTIVE)
    ).first()


def get_score(session: Session, kind: ScoreKind, entity_id: int) -> EntityScore | None:
    """The entity's score in the active version, or ``None`` when it has no score (no
    orders in the window: "no score" is not a low score)."""
    version = active_version(session)
    if version is None:
        return None
    return session.get(EntityScore, (version.id, kind, entity_id))


def history(
    session: Session, kind: ScoreKind, entity_id: int, *, limit: int = 30
) -> list[tuple[datetime, EntityScore]]:
    """The entity's published scores, newest first (the trend)."""
    rows = session.execute(
        select(ScoreVersion.as_of, EntityScore)
        .join(ScoreVersion, ScoreVersion.id == EntityScore.version_id)
        .where(
            EntityScore.kind == kind,
            EntityScore.entity_id == entity_id,
            ScoreVersion.state.in_([VersionState.ACTIVE, VersionState.SUPERSEDED]),
        )
        .order_by(ScoreVersion.as_of.desc(), ScoreVersion.id.desc())
        .limit(limit)
    ).all()
    return [(r[0], r[1]) for r in rows]


def published_scores(session: Session, kind: ScoreKind) -> list[tuple[float, str, str]]:
    """(score, tier, status) of every entity of ``kind`` in the active version."""
    version = active_version(session)
    if version is None:
        return []
    rows = session.execute(
        select(EntityScore.score, EntityScore.tier, EntityScore.status).where(
            EntityScore.version_id == version.id, EntityScore.kind == kind
        )
    ).all()
    return [(float(r[0]), r[1].value, r[2].value) for r in rows]


def tier_counts(session: Session) -> dict[str, dict[str, int]]:
    """How many entities of each kind sit in each tier, in the active version."""
    version = active_version(session)
    if version is None:
        return {}
    rows = session.execute(
        select(EntityScore.kind, EntityScore.tier, func.count())
        .where(EntityScore.version_id == version.id)
        .group_by(EntityScore.kind, EntityScore.tier)
    ).all()
    counts: dict[str, dict[str, int]] = {}
    for kind, tier, n in rows:
        counts.setdefault(kind.value, {})[tier.value] = int(n)
    return counts


# Appeals ----------------------------------------------------------------------------------


def defect_shop(session: Session, kind: DefectKind, defect_id: int) -> int:
    """The shop a defect counts against (a review or an after-sales request)."""
    model: type[Review] | type[AfterSalesRequest] = (
        Review if kind is DefectKind.REVIEW else AfterSalesRequest
    )
    shop_id = session.scalar(select(model.shop_id).where(model.id == defect_id))
    if shop_id is None:
        raise NotFound(f"{kind.value} {defect_id} not found")
    return int(shop_id)


def file_appeal(
    session: Session,
    *,
    shop_id: int,
    defect_kind: DefectKind,
    defect_id: int,
    reason: str,
    at: datetime | None = None,
) -> ScoreAppeal:
    """A merchant contests one defect of its shop. One appeal per defect."""
    if defect_shop(session, defect_kind, defect_id) != shop_id:
        raise Forbidden(f"{defect_kind.value} {defect_id} is not a defect of shop {shop_id}")
    if not reason.strip():
        raise InvalidInput("an appeal needs a reason")
    existing = session.scalar(
        select(ScoreAppeal.id).where(
            ScoreAppeal.defect_kind == defect_kind, ScoreAppeal.defect_id == defect_id
        )
    )
    if existing is not None:
        raise Conflict(
            f"{defect_kind.value} {defect_id} is already appealed (appeal {existing})",
            code=ErrorCode.DUPLICATE,
        )
    appeal = ScoreAppeal(
        shop_id=shop_id,
        defect_kind=defect_kind,
        defect_id=defect_id,
        reason=reason.strip(),
        created_at=at or utcnow(),
    )
    session.add(appeal)
    session.flush()
    return appeal


def decide_appeal(
    session: Session, *, appeal_id: int, upheld: bool, note: str = "", at: datetime | None = None
) -> ScoreAppeal:
    """The platform's decision. An upheld appeal removes the defect from the next computation."""
    appeal = session.scalars(
        select(ScoreAppeal).where(ScoreAppeal.id == appeal_id).with_for_update()
    ).first()
    if appeal is None:
        raise NotFound(f"appeal {appeal_id} not found")
    if appeal.status is not AppealStatus.PENDING:
        raise Conflict(
            f"appeal {appeal_id} is already {appeal.status.value}",
            code=ErrorCode.ILLEGAL_TRANSITION,
        )
    appeal.status = AppealStatus.UPHELD if upheld else AppealStatus.REJECTED
    appeal.decision_note = note
    appeal.decided_at = at or utcnow()
    session.flush()
    return appeal


# Bursts of bad reviews ---------------------------------------------------------------------


def pending_bursts(session: Session) -> Select[Any]:
    """Burst days the active version held back and nobody has judged yet, newest first."""
    version = active_version(session)
    decided = select(BurstDecision.id).where(
        BurstDecision.shop_id == ReviewBurst.shop_id,
        BurstDecision.epoch_day == ReviewBurst.epoch_day,
    )
    return (
        select(ReviewBurst)
        .where(ReviewBurst.version_id == (version.id if version else -1), ~decided.exists())
        .order_by(ReviewBurst.epoch_day.desc(), ReviewBurst.shop_id)
    )


def decide_burst(
    session: Session,
    *,
    shop_id: int,
    epoch_day: int,
    verdict: BurstVerdict,
    note: str = "",
    at: datetime | None = None,
) -> BurstDecision:
    """The platform's verdict on a held burst: confirmed reviews are scored from the next
    computation on; dismissed ones never count. One verdict per shop and day."""
    flagged = session.scalar(
        select(ReviewBurst.id).where(
            ReviewBurst.shop_id == shop_id, ReviewBurst.epoch_day == epoch_day
        )
    )
    if flagged is None:
        raise NotFound(f"no burst of bad reviews was held for shop {shop_id} on that day")
    existing = session.scalar(
        select(BurstDecision.verdict).where(
            BurstDecision.shop_id == shop_id, BurstDecision.epoch_day == epoch_day
        )
    )
    if existing is not None:
        raise Conflict(
            f"the burst of shop {shop_id} on that day is already {existing.value}",
            code=ErrorCode.DUPLICATE,
        )
    decision = BurstDecision(
        shop_id=shop_id, epoch_day=epoch_day, verdict=verdict, note=note, decided_at=at or utcnow()
    )
    session.add(decision)
    session.flush()
    return decision
