"""Violations, points and graduated penalties (违规扣分与阶梯处罚): one schedule, one standing
that traffic, the Chuanliu plan and campaigns all read (:func:`standings`).

A violation carries the points of its rule (:data:`VIOLATION_POINTS`) for
:data:`POINTS_VALID_DAYS` days. A shop's standing is the sum of its points still valid and not
revoked; the level is the highest threshold it reaches (:data:`THRESHOLDS`):

| points | level | what it does |
|---|---|---|
| 1+ | warning | nothing but the record (the merchant sees it) |
| 12+ | traffic limit | the daily plan weighs the shop's room and cards at most ×0.5 |
| 24+ | campaign ban | as above, and no campaign registration, no Chuanliu reward traffic |
| 48+ | shop closure | the shop is closed (``catalog.service.record_violation``) |

Points expire on their own: a shop that stops breaking rules climbs back down a year later.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from trustflow.bulk import rowcount, table
from trustflow.db import get_or_raise
from trustflow.errors import IllegalTransition, InvalidInput
from trustflow.governance.models import Violation
from trustflow.types import stated_reason

__all__ = [
    "POINTS_VALID_DAYS",
    "THRESHOLDS",
    "TRAFFIC_LIMIT_MULTIPLIER",
    "VIOLATION_POINTS",
    "PenaltyLevel",
    "Standing",
    "level_of",
    "points_of",
    "record_violation",
    "revoke_violation",
    "standing",
    "standings",
]

_violations = table(Violation)


class PenaltyLevel(StrEnum):
    NONE = "none"
    WARNING = "warning"
    TRAFFIC_LIMIT = "traffic_limit"
    CAMPAIGN_BAN = "campaign_ban"
    SHOP_CLOSURE = "shop_closure"


#: The rules and their points (documented in docs/governance.md).
VIOLATION_POINTS: dict[str, int] = {
    #: 虚假宣传: a title or description that misleads
    "misleading_listing": 2,
    #: 虚假发货: a parcel marked shipped that was not
    "fake_shipment": 6,
    #: 直播间违规: misconduct in a live room (a buyer report upheld)
    "live_room_misconduct": 6,
    #: 价格欺诈: a price raised before a promotion to fake the cut (先涨后降), and the like
    "price_fraud": 6,
    #: 无授权售卖品牌: selling a brand without the right to (an upheld interception)
    "unauthorised_brand": 12,
    #: 疑似假货: a price far below the brand's reference, upheld on appeal
    "suspected_counterfeit": 12,
    #: 售卖禁售商品: a prohibited item
    "prohibited_item": 24,
    #: 售假: an inspection verdict of counterfeit
    "counterfeit": 48,
}
#: Points count for this many days after the violation.
POINTS_VALID_DAYS = 365
#: The fewest points of each level, the highest first.
THRESHOLDS: tuple[tuple[int, PenaltyLevel], ...] = (
    (48, PenaltyLevel.SHOP_CLOSURE),
    (24, PenaltyLevel.CAMPAIGN_BAN),
    (12, PenaltyLevel.TRAFFIC_LIMIT),
    (1, PenaltyLevel.WARNING),
)
#: From the traffic limit up, the daily plan weighs the shop's room and cards at most this.
TRAFFIC_LIMIT_MULTIPLIER = 0.5
_ORDER = [level for _, level in reversed(THRESHOLDS)]
MAX_REASON = 500


def points_of(level: PenaltyLevel) -> int:
    """The fewest points of ``level``."""
    return next(least for least, at in THRESHOLDS if at is level)


def level_of(points: int) -> PenaltyLevel:
    for least, level in THRESHOLDS:
        if points >= least:
            return level
    return PenaltyLevel.NONE


@dataclass(frozen=True)
class Standing:
    """A shop's points still valid at a moment, and the level they reach."""

    shop_id: int
    points: int
    level: PenaltyLevel

    def at_least(self, level: PenaltyLevel) -> bool:
        """Whether the standing has reached ``level`` (none < warning < … < shop closure)."""
        if level is PenaltyLevel.NONE:
            return True
        if self.level is PenaltyLevel.NONE:
            return False
        return _ORDER.index(self.level) >= _ORDER.index(level)


def standings(
    session: Session, at: datetime, shop_ids: Collection[int] | None = None
) -> dict[int, Standing]:
    """Every shop with points valid at ``at`` (or those of ``shop_ids``, each, with none for
    a clean one): one aggregate query."""
    stmt = (
        select(Violation.shop_id, func.sum(Violation.points))
        .where(Violation.at <= at, Violation.expires_at > at, Violation.revoked_at.is_(None))
        .group_by(Violation.shop_id)
    )
    if shop_ids is not None:
        stmt = stmt.where(Violation.shop_id.in_(sorted(shop_ids)))
    found = {
        int(shop): Standing(int(shop), int(points), level_of(int(points)))
        for shop, points in session.execute(stmt)
    }
    if shop_ids is not None:
        for shop in shop_ids:
            found.setdefault(shop, Standing(shop, 0, PenaltyLevel.NONE))
    return found


def standing(session: Session, shop_id: int, at: datetime) -> Standing:
    return standings(session, at, [shop_id])[shop_id]


def record_violation(
    session: Session,
    *,
    shop_id: int,
    rule: str,
    reason: str,
    actor: str,
    at: datetime,
    interception_id: int | None = None,
) -> tuple[Violation, Standing]:
    """Record a violation of ``rule`` (its points from the schedule) against the shop; returns
    it and the shop's standing after it (the caller acts on a shop closure)."""
    if rule not in VIOLATION_POINTS:
        raise InvalidInput(
            f"no violation rule {rule!r}: one of {', '.join(sorted(VIOLATION_POINTS))}",
            rules=sorted(VIOLATION_POINTS),
        )
    reason = stated_reason(reason, "a violation", most=MAX_REASON)
    violation = Violation(
        shop_id=shop_id,
        rule=rule,
        points=VIOLATION_POINTS[rule],
        reason=reason,
        interception_id=interception_id,
        recorded_by=actor,
        at=at,
        expires_at=at + timedelta(days=POINTS_VALID_DAYS),
    )
    session.add(violation)
    session.flush()
    return violation, standing(session, shop_id, at)


def revoke_violation(
    session: Session, *, violation_id: int, reason: str, actor: str, at: datetime
) -> Violation:
    """An operator revokes a violation found wrong (on appeal), with a reason: its points no
    longer count. Once (a guarded update)."""
    reason = stated_reason(reason, "a revocation", most=MAX_REASON)
    row = get_or_raise(session, Violation, violation_id, "violation")
    moved = session.execute(
        update(_violations)
        .where(_violations.c.id == violation_id, _violations.c.revoked_at.is_(None))
        .values(revoked_at=at, revoked_by=actor, revoke_reason=reason)
    )
    session.refresh(row)
    if rowcount(moved) != 1:
        raise IllegalTransition("violation", "revoked", "be revoked")
    return row
