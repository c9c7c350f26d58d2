"""Content that sells: live sessions and short videos, and the products linked to them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from trustflow.db import EXTERNAL_ID_LENGTH, Base, IdType, UtcDateTime, enum_type, utcnow


class LiveStatus(StrEnum):
    SCHEDULED = "scheduled"
    LIVE = "live"
    ENDED = "ended"


_ONE_HOST = "(creator_id IS NULL) <> (shop_id IS NULL)"


class LiveSession(Base):
    """A live stream hosted by a creator, or by a shop's own account (self-broadcast, 自播)."""

    __tablename__ = "live_sessions"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    #: the id the row had where it was imported from (``trustflow import``), else None
    external_id: Mapped[str | None] = mapped_column(
        String(EXTERNAL_ID_LENGTH), unique=True, index=True
    )
    creator_id: Mapped[int | None] = mapped_column(ForeignKey("creators.id"), index=True)
    shop_id: Mapped[int | None] = mapped_column(ForeignKey("shops.id"), index=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[LiveStatus] = mapped_column(enum_type(LiveStatus), default=LiveStatus.SCHEDULED)
    scheduled_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (CheckConstraint(_ONE_HOST, name="live_one_host"),)


class LiveSessionProduct(Base):
    __tablename__ = "live_session_products"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    live_session_id: Mapped[int] = mapped_column(ForeignKey("live_sessions.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)

    __table_args__ = (UniqueConstraint("live_session_id", "product_id"),)


class ShortVideo(Base):
    """A short video; with linked products it seeds interest and pulls viewers to the live room."""

    __tablename__ = "short_videos"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    #: the id the row had where it was imported from (``trustflow import``), else None
    external_id: Mapped[str | None] = mapped_column(
        String(EXTERNAL_ID_LENGTH), unique=True, index=True
    )
    creator_id: Mapped[int | None] = mapped_column(ForeignKey("creators.id"), index=True)
    shop_id: Mapped[int | None] = mapped_column(ForeignKey("shops.id"), index=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    clipped_from_live_id: Mapped[int | None] = mapped_column(ForeignKey("live_sessions.id"))
    posted_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (CheckConstraint(_ONE_HOST, name="video_one_host"),)


class ShortVideoProduct(Base):
    __tablename__ = "short_video_products"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    short_video_id: Mapped[int] = mapped_column(ForeignKey("short_videos.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)

    __table_args__ = (UniqueConstraint("short_video_id", "product_id"),)
