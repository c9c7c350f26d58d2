"""a campaign's holdout: the share of buyers (basis points) it keeps out to measure what it adds

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07 21:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("holdout_bps", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.create_check_constraint(
            op.f("ck_campaigns_holdout_share"), "holdout_bps >= 0 AND holdout_bps <= 5000"
        )


def downgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_campaigns_holdout_share"), type_="check")
        batch_op.drop_column("holdout_bps")
