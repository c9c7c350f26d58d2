"""an imported checkout keeps the id it was imported with, as every other imported row does

The history import's format version 2 brings checkouts; without a column of its own, an
imported checkout's source id was kept inside its idempotency key (``import#<id>``), and an
import looked checkouts up by that key alone, which no index serves. ``checkouts`` gains
``external_id`` (unique, indexed), filled from those keys.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 12:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("checkouts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("external_id", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_checkouts_external_id"), ["external_id"], unique=True)
    op.execute(
        "UPDATE checkouts SET external_id = substr(idempotency_key, 8)"
        " WHERE idempotency_key LIKE 'import#%'"
    )


def downgrade() -> None:
    with op.batch_alter_table("checkouts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_checkouts_external_id"))
        batch_op.drop_column("external_id")
