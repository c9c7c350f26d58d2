"""Which marketplace store this is: a random id drawn once, when the store is created.

Everything derived from a store (its warehouse above all) records this id, so that data of two
stores is never mixed: a warehouse refuses an export from any store but its own
(docs/scores.md, "Pipeline"). Copying the store's database (a backup, a restore) keeps the id: it is
the same store.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Engine, Integer, String, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from trustflow.db import Base, UtcDateTime, utcnow

_ROW = 1


class StoreIdentity(Base):
    """The store's one identity row (migration 0009 creates and fills it)."""

    __tablename__ = "store_identity"
    __table_args__ = (CheckConstraint(f"id = {_ROW}", name="one_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    store_id: Mapped[str] = mapped_column(String(36), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    #: when history was last imported into the store: rows stamped in the past arrived, which
    #: an export by watermark would not see, so the warehouse rewrites itself in full
    history_imported_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


def store_id(engine: Engine) -> str:
    """The store's id. A store whose row was removed (tests truncate every table) draws a new
    one here, once: concurrent callers agree on the row that won the insert."""
    with engine.begin() as conn:
        found = conn.scalar(select(StoreIdentity.store_id).where(StoreIdentity.id == _ROW))
    if found is not None:
        return found
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(StoreIdentity).values(
                    id=_ROW, store_id=str(uuid.uuid4()), created_at=utcnow()
                )
            )
    except IntegrityError:
        pass  # another caller drew it first
    with engine.begin() as conn:
        drawn = conn.scalar(select(StoreIdentity.store_id).where(StoreIdentity.id == _ROW))
    if drawn is None:  # pragma: no cover - the insert above either won or lost to a row
        raise RuntimeError("the store identity row vanished while it was drawn")
    return drawn


def mark_history_imported(session: Session) -> None:
    """Record, in the importing transaction, that history stamped in the past arrived (at
    this moment of the clock: each import is a new mark, whatever time it imports as of)."""
    session.execute(
        update(StoreIdentity).where(StoreIdentity.id == _ROW).values(history_imported_at=utcnow())
    )


def history_imported_at(engine: Engine) -> datetime | None:
    """When history was last imported into the store (None: never)."""
    with engine.connect() as conn:
        return conn.scalar(
            select(StoreIdentity.history_imported_at).where(StoreIdentity.id == _ROW)
        )
