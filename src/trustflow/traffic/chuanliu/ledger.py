"""The Chuanliu ledger's two named actions: :func:`promise` earned reward impressions to
the parties that earned them, and :func:`reconcile` what was delivered against the promise.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from trustflow.bulk import table
from trustflow.catalog.models import Product
from trustflow.config import Settings, get_settings
from trustflow.content.models import LiveSession, ShortVideo
from trustflow.db import utcnow
from trustflow.traffic.chuanliu.facts import (
    as_int,
    check_day,
    midnight,
)
from trustflow.traffic.chuanliu.models import ChuanliuLedger, PartyKind
from trustflow.traffic.chuanliu.rules import PLAN
from trustflow.traffic.chuanliu.split import rewards
from trustflow.traffic.models import Impression
from trustflow.traffic.service import impressions_by_owner

__all__ = ["Reconciliation", "accrued", "promise", "reconcile"]

_impressions, _ledger = table(Impression), table(ChuanliuLedger)
_live, _videos, _products = table(LiveSession), table(ShortVideo), table(Product)


@dataclass(frozen=True)
class Reconciliation:
    """What :func:`reconcile` found: ``reward_impressions`` of the plan shown on the day,
    ``delivered`` of them to parties with a promise, ``unattributed`` to anyone else."""

    day: date
    parties: int
    promised: int
    delivered: int
    reward_impressions: int

    @property
    def unattributed(self) -> int:
        return self.reward_impressions - self.delivered


# The ledger: promise and reconcile ------------------------------------------------------------


def _ledger_rows(session: Session, day: date) -> list[ChuanliuLedger]:
    """The day's rows, shops first ('shop' sorts after 'creator'), then by party id."""
    return list(
        session.scalars(
            select(ChuanliuLedger)
            .where(ChuanliuLedger.plan_day == day)
            .order_by(ChuanliuLedger.party_kind.desc(), ChuanliuLedger.party_id)
        )
    )


def accrued(session: Session, day: date) -> dict[tuple[PartyKind, int], int]:
    """Each party's earned but not yet promised reward impressions at the start of ``day``:
    what it earned on the ledger's earlier days less what it was promised (parties with none
    are left out)."""
    check_day(day)
    unpromised = func.sum(_ledger.c.earned_impressions - _ledger.c.promised_impressions)
    return {
        (PartyKind(kind), int(party)): int(amount)
        for kind, party, amount in session.execute(
            select(_ledger.c.party_kind, _ledger.c.party_id, unpromised)
            .where(_ledger.c.plan_day < day)
            .group_by(_ledger.c.party_kind, _ledger.c.party_id)
            .having(unpromised > 0)
        )
    }


def promise(
    session: Session, day: date, *, settings: Settings | None = None
) -> list[ChuanliuLedger]:
    """Write ``day``'s promises to the ledger, one row per rewarded party, in one statement
    inside the caller's transaction, and return the day's rows (shops, then creators).

    Each row records what the party earned today (its share of the pool, :func:`rewards`) and
    what is promised to it: its earnings not yet promised, today's included, once they reach
    ``chuanliu_min_promise_impressions``, else nothing (they accrue to a later day). Days are
    promised in order: accrual reads the days before ``day`` already in the ledger.

    Idempotent: a day already promised keeps its promises (a promise made to a merchant is not
    rewritten by a later run), and a concurrent run inserts nothing twice.
    """
    s = settings or get_settings()
    check_day(day)
    existing = _ledger_rows(session, day)
    if existing:
        return existing
    now = utcnow()
    minimum = s.chuanliu_min_promise_impressions
    earned = rewards(session, day, settings=s)
    carried = accrued(session, day) if earned else {}
    rows = []
    for r in earned:
        due = carried.get((r.party_kind, r.party_id), 0) + r.earned_impressions
        rows.append(
            {
                "plan_day": day,
                "party_kind": r.party_kind,
                "party_id": r.party_id,
                "tier": r.tier,
                "earned_impressions": r.earned_impressions,
                "promised_impressions": due if due >= minimum else 0,
                "delivered_impressions": 0,
                "updated_at": now,
            }
        )
    if rows:
        insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        session.execute(
            insert(_ledger).on_conflict_do_nothing(
                index_elements=["plan_day", "party_kind", "party_id"]
            ),
            rows,
        )
    return _ledger_rows(session, day)


def _delivered(day: date) -> Any:
    """Reward impressions of the plan shown on ``day``, summed per owning party: a live room
    or short video belongs to its host (shop or creator), a product card to its shop."""
    start = midnight(day)
    return impressions_by_owner(start, start + timedelta(days=1), reward_plan=PLAN)


def reconcile(session: Session, day: date) -> Reconciliation:
    """Set each of ``day``'s promises' delivered impressions from the impressions log, inside
    the caller's transaction: two set-based updates, safe to run again as more of the day's
    impressions arrive."""
    check_day(day)
    now = utcnow()
    on_day = _ledger.c.plan_day == day
    session.execute(update(_ledger).where(on_day).values(delivered_impressions=0, updated_at=now))
    delivered = _delivered(day)
    session.execute(
        update(_ledger)
        .where(
            on_day,
            _ledger.c.party_kind == delivered.c.party_kind,
            _ledger.c.party_id == delivered.c.party_id,
        )
        .values(delivered_impressions=delivered.c.impressions, updated_at=now)
    )
    # The updates bypass the ORM: rows the session already holds are re-read on next access.
    for row in list(session.identity_map.values()):
        if isinstance(row, ChuanliuLedger) and row.plan_day == day:
            session.expire(row)
    parties, promised, delivered_total = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(_ledger.c.promised_impressions), 0),
            func.coalesce(func.sum(_ledger.c.delivered_impressions), 0),
        ).where(on_day)
    ).one()
    start = midnight(day)
    shown = session.scalar(
        select(func.coalesce(func.sum(_impressions.c.count), 0)).where(
            _impressions.c.is_reward.is_(True),
            _impressions.c.reward_plan == PLAN,
            _impressions.c.shown_at >= start,
            _impressions.c.shown_at < start + timedelta(days=1),
        )
    )
    return Reconciliation(
        day=day,
        parties=as_int(parties),
        promised=as_int(promised),
        delivered=as_int(delivered_total),
        reward_impressions=as_int(shown),
    )
