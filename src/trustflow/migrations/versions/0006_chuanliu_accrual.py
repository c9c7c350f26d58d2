"""chuanliu accrual: each ledger row keeps what the party earned that day

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("chuanliu_ledger", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("earned_impressions", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.create_check_constraint(
            op.f("ck_chuanliu_ledger_earned_non_negative"), "earned_impressions >= 0"
        )
    # Days promised before accrual promised exactly what they earned.
    op.execute("UPDATE chuanliu_ledger SET earned_impressions = promised_impressions")


def downgrade() -> None:
    with op.batch_alter_table("chuanliu_ledger", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_chuanliu_ledger_earned_non_negative"), type_="check")
        batch_op.drop_column("earned_impressions")
