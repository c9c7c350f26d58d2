"""campaigns and coupons created once per Idempotency-Key: the creator's key and a digest of
the request, unique per creator

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-08 00:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("campaigns", "coupons")


def upgrade() -> None:
    for name in _TABLES:
        with op.batch_alter_table(name, schema=None) as batch_op:
            batch_op.add_column(sa.Column("idempotency_key", sa.String(length=80), nullable=True))
            batch_op.add_column(sa.Column("request_hash", sa.String(length=64), nullable=True))
            batch_op.create_unique_constraint(
                batch_op.f(f"uq_{name}_created_by_idempotency_key"),
                ["created_by", "idempotency_key"],
            )


def downgrade() -> None:
    for name in reversed(_TABLES):
        with op.batch_alter_table(name, schema=None) as batch_op:
            batch_op.drop_constraint(
                batch_op.f(f"uq_{name}_created_by_idempotency_key"), type_="unique"
            )
            batch_op.drop_column("request_hash")
            batch_op.drop_column("idempotency_key")
