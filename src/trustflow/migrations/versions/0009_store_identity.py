"""the store knows its identity: a one-row table holding a random store id

A warehouse is derived from exactly one store. Without an identity a second store could be
exported into the first one's warehouse and scores published from the mix. Every store is
made by these migrations (the CLI's ``db upgrade``, the demo, the tests), so the identity is
drawn here, once, when the store is created or upgraded past this revision.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 09:00:00
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    table = op.create_table(
        "store_identity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("store_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_store_identity_one_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_store_identity")),
        sa.UniqueConstraint("store_id", name=op.f("uq_store_identity_store_id")),
    )
    now = datetime.now(UTC)
    if op.get_bind().dialect.name == "sqlite":  # SQLite stores naive UTC (see UtcDateTime)
        now = now.replace(tzinfo=None)
    op.bulk_insert(table, [{"id": 1, "store_id": str(uuid.uuid4()), "created_at": now}])


def downgrade() -> None:
    op.drop_table("store_identity")
