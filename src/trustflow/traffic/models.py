"""The impressions log: every time a surface showed a room, a video or a product card."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from trustflow.db import EXTERNAL_ID_LENGTH, Base, IdType, UtcDateTime, enum_type, utcnow
from trustflow.vocabulary import ItemKind, Surface


class Impression(Base):
    """Impressions of one item on one surface. Feed serving writes one row per impression with
    its viewer; a simulator or a replay may write ``count`` alike impressions in one row with no
    viewer. Reward impressions record the plan that paid for them (e.g. Chuanliu)."""

    __tablename__ = "impressions"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    surface: Mapped[Surface] = mapped_column(enum_type(Surface))
    item_kind: Mapped[ItemKind] = mapped_column(enum_type(ItemKind))
    item_id: Mapped[int] = mapped_column(BigInteger)
    #: checked by the writers, not by a foreign key: the log takes thousands of rows a second
    buyer_id: Mapped[int | None] = mapped_column(IdType)
    shown_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    count: Mapped[int] = mapped_column(Integer, default=1)
    is_reward: Mapped[bool] = mapped_column(Boolean, default=False)
    reward_plan: Mapped[str | None] = mapped_column(String(40))
    plan_version: Mapped[str | None] = mapped_column(String(40))
    #: the id an imported impression row had in its source (``trustflow import``); served
    #: impressions have none, and the index leaves them out
    external_id: Mapped[str | None] = mapped_column(String(EXTERNAL_ID_LENGTH))

    __table_args__ = (
        # appended in time order, read by time range: on PostgreSQL a block-range index,
        # which costs the log almost nothing per row appended (migration 0008)
        Index("ix_impressions_shown_at", "shown_at", postgresql_using="brin"),
        Index(
            "ix_impressions_external_id",
            "external_id",
            unique=True,
            sqlite_where=text("external_id IS NOT NULL"),
            postgresql_where=text("external_id IS NOT NULL"),
        ),
        CheckConstraint("count >= 1", name="count_positive"),
    )
