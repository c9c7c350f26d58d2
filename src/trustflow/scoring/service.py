"""The nightly score job and the reads that serve scores.

``compute_scores`` exports the store to the warehouse (by watermark), computes the three
scores, and publishes them as a new version: every row is written under a version that
nobody reads yet, then one short transaction makes it the active one. A crash before that
switch leaves the previous version served; the next run clears the half-written one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import CursorResult, Engine, Select, Table, delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from trustflow.aftersales.models import AfterSalesRequest, Review
from trustflow.bulk import insert_columns
from trustflow.db import utcnow
from trustflow.errors import Conflict, ErrorCode, Forbidden, InvalidInput, NotFound
from trustflow.scoring import explain, sql
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
from trustflow.warehouse.export import ExportReport, export, read_manifest

Progress = Callable[[str], None]
WRITE_CHUNK = 20_000


@dataclass(frozen=True)
class ScoreRun:
    version_id: int
    as_of: datetime
    export: ExportReport
    entities: dict[str, int]
    seconds_compute: float


def default_as_of(root: Path) -> datetime:
    """Score as of the newest activity in the warehouse (now, for a live marketplace)."""
    marks = read_manifest(root).get("watermarks", {})
    newest = max((datetime.fromisoformat(v) for v in marks.values()), default=None)
    now = datetime.now(UTC).replace(microsecond=0)
    if newest is None:
        return now
    return min(now, newest.replace(microsecond=0) + timedelta(seconds=1))


def compute_scores(
    engine: Engine,
    warehouse: Path,
    *,
    as_of: datetime | None = None,
    progress: Progress | None = None,
) -> ScoreRun:
    """Export, compute and publish."""
    step = progress or (lambda _msg: None)
    step("exporting the store to the warehouse")
    report = export(engine, warehouse)
    when = as_of or default_as_of(warehouse)
    if when.tzinfo is None:
        raise InvalidInput("as_of must be timezone-aware")
    step("computing the three scores")
    started = time.perf_counter()
    computed = compute_duckdb(warehouse, int(when.timestamp()), sql.FULL)
    seconds = time.perf_counter() - started
    step("publishing a new version")
    factory = sessionmaker(engine, expire_on_commit=False)
    version_id = publish(factory, computed, as_of=when)
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
) -> int:
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
                    "detail": [detail[(k, int(e))] for k, e in keys],
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
    activate(factory, version_id, entities=written)
    return version_id


def activate(factory: sessionmaker[Session], version_id: int, *, entities: int) -> None:
    """Make a fully written version the one served, in one short transaction."""
    with factory() as session, session.begin():
        switched = session.execute(
            update(ScoreVersion)
            .where(ScoreVersion.id == version_id, ScoreVersion.state == VersionState.BUILDING)
            .values(state=VersionState.ACTIVE, activated_at=utcnow(), entities=entities)
        )
        if cast(CursorResult[Any], switched).rowcount != 1:
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
