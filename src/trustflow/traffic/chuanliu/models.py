"""The Chuanliu ledger: reward impressions promised to each party for a plan day, and delivered."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, Date, Index, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from trustflow.db import Base, IdType, UtcDateTime, enum_type, utcnow

__all__ = ["ChuanliuLedger", "ChuanliuTier", "PartyKind"]


class PartyKind(StrEnum):
    """Who earns Chuanliu reward traffic: a goods owner's shop, or a distributing creator."""

    SHOP = "shop"
    CREATOR = "creator"


class ChuanliuTier(StrEnum):
    """A goods owner's Chuanliu tier, best first; docs/chuanliu.md gives what each is worth."""

    S = "S"
    A = "A"
    B = "B"
    C = "C"


class ChuanliuLedger(Base):
    """One party's reward impressions for one plan day: what it earned (its share of the day's
    pool), what the plan promised (its unpromised earnings, once they reach the minimum
    promise), and what feed serving delivered (reconciled from the impressions log). One row
    per day and party."""

    __tablename__ = "chuanliu_ledger"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    plan_day: Mapped[date] = mapped_column(Date)
    party_kind: Mapped[PartyKind] = mapped_column(enum_type(PartyKind))
    party_id: Mapped[int] = mapped_column(BigInteger)
    #: The goods owner's tier; creators earn by distribution GMV and have none.
    tier: Mapped[ChuanliuTier | None] = mapped_column(enum_type(ChuanliuTier))
    #: The party's share of the day's pool. Shares are promised once a party's unpromised
    #: shares reach ``chuanliu_min_promise_impressions`` (docs/chuanliu.md, accrual).
    earned_impressions: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    promised_impressions: Mapped[int] = mapped_column(BigInteger)
    delivered_impressions: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("plan_day", "party_kind", "party_id"),
        CheckConstraint(
            "promised_impressions >= 0 AND delivered_impressions >= 0",
            name="impressions_non_negative",
        ),
        CheckConstraint("earned_impressions >= 0", name="earned_non_negative"),
        Index("ix_chuanliu_ledger_party", "party_kind", "party_id"),
    )
