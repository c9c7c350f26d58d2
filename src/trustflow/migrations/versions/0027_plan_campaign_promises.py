"""a plan candidate's festival promise: the campaign and the impressions promised, served as
that campaign's reward traffic

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-08 00:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("traffic_plan_candidates", schema=None) as batch_op:
        batch_op.add_column(sa.Column("campaign_id", sa.BigInteger(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "campaign_promised_impressions", sa.BigInteger(), server_default="0", nullable=False
            )
        )
        batch_op.create_check_constraint(
            op.f("ck_traffic_plan_candidates_campaign_promise_names_campaign"),
            "campaign_promised_impressions >= 0"
            " AND (campaign_promised_impressions = 0 OR campaign_id IS NOT NULL)",
        )


def downgrade() -> None:
    with op.batch_alter_table("traffic_plan_candidates", schema=None) as batch_op:
        batch_op.drop_constraint(
            op.f("ck_traffic_plan_candidates_campaign_promise_names_campaign"), type_="check"
        )
        batch_op.drop_column("campaign_promised_impressions")
        batch_op.drop_column("campaign_id")
