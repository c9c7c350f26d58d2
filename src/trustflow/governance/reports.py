"""Buyer reports from live rooms (直播间举报) and the operators' review of them, and
governance's daily statistics.

A buyer reports a room with a reason (``content.service.report_live`` finds the room's host);
one open report per buyer and room, so a buyer cannot flood the queue against a rival. An
operator upholds a report (the room's shop gets the violation the decision names, through
``catalog.service.record_violation``) or dismisses it, each with a reason, once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import QueryableAttribute, Session

from trustflow.bulk import rowcount, table
from trustflow.db import get_or_raise, utc_day
from trustflow.errors import Conflict, ErrorCode, IllegalTransition, InvalidInput
from trustflow.governance.models import (
    ListingInterception,
    LiveReport,
    RefusedApplication,
    ReportReason,
    ReportStatus,
    Violation,
)
from trustflow.types import stated_reason

__all__ = ["MAX_DAYS", "DailyStats", "daily_stats", "decide_report", "file_report"]

_reports = table(LiveReport)
MAX_TEXT = 1_000
MAX_REASON = 500
#: the longest span the statistics answer at once
MAX_DAYS = 366


def file_report(
    session: Session,
    *,
    buyer_id: int,
    live_session_id: int,
    shop_id: int | None,
    creator_id: int | None,
    reason: ReportReason,
    text: str,
    at: datetime,
) -> LiveReport:
    """The buyer's report of the room, open for review. A second open report by the same
    buyer of the same room is refused (``duplicate``)."""
    text = text.strip()
    if len(text) > MAX_TEXT:
        raise InvalidInput(f"a report's text is at most {MAX_TEXT} characters")
    report = LiveReport(
        buyer_id=buyer_id,
        live_session_id=live_session_id,
        shop_id=shop_id,
        creator_id=creator_id,
        reason=reason,
        text=text,
        status=ReportStatus.OPEN,
        at=at,
    )
    try:
        with session.begin_nested():
            session.add(report)
            session.flush()
    except IntegrityError:
        raise Conflict(
            f"buyer {buyer_id} already has an open report of live session {live_session_id}",
            code=ErrorCode.DUPLICATE,
        ) from None
    return report


def decide_report(
    session: Session,
    *,
    report_id: int,
    uphold: bool,
    reason: str,
    actor: str,
    at: datetime,
    violation_id: int | None = None,
) -> LiveReport:
    """An operator upholds or dismisses an open report, with a reason, once (a guarded
    update); an upheld one names the violation it led to, if any."""
    reason = stated_reason(reason, "a decision", most=MAX_REASON)
    row = get_or_raise(session, LiveReport, report_id, "report")
    to = ReportStatus.UPHELD if uphold else ReportStatus.DISMISSED
    moved = session.execute(
        update(_reports)
        .where(_reports.c.id == report_id, _reports.c.status == ReportStatus.OPEN.value)
        .values(
            status=to.value,
            decided_by=actor,
            decision_reason=reason,
            decided_at=at,
            violation_id=violation_id,
        )
    )
    session.refresh(row)
    if rowcount(moved) != 1:
        raise IllegalTransition("report", row.status.value, f"become {to.value}")
    return row


@dataclass(frozen=True)
class DailyStats:
    """What governance did on one UTC day."""

    day: date
    #: listings intercepted (one per finding)
    interceptions: int
    #: violations recorded (penalties: each carries points)
    violations: int
    #: merchant and shop applications the blocklist refused
    applications_refused: int
    reports_filed: int
    #: reports an operator upheld or dismissed
    reports_handled: int


def daily_stats(session: Session, first: date, last: date) -> list[DailyStats]:
    """One row per day from ``first`` to ``last`` (UTC), each count one aggregate query over
    the span, grouped by day."""
    days = (last - first).days + 1
    if days < 1 or days > MAX_DAYS:
        raise InvalidInput(f"the span must be 1..{MAX_DAYS} days, from first to last")
    start = datetime.combine(first, time(), tzinfo=UTC)
    end = start + timedelta(days=days)

    def per_day(
        column: QueryableAttribute[Any],
    ) -> dict[date, int]:
        day = utc_day(session, column)
        return {
            d if isinstance(d, date) else date.fromisoformat(d): int(n)
            for d, n in session.execute(
                select(day, func.count()).where(column >= start, column < end).group_by(day)
            )
        }

    columns = {
        "interceptions": ListingInterception.at,
        "violations": Violation.at,
        "applications_refused": RefusedApplication.at,
        "reports_filed": LiveReport.at,
        "reports_handled": LiveReport.decided_at,
    }
    counted = {name: per_day(column) for name, column in columns.items()}
    return [
        DailyStats(day=d, **{name: c.get(d, 0) for name, c in counted.items()})
        for d in (first + timedelta(days=i) for i in range(days))
    ]
