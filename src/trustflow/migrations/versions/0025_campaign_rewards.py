"""a festival's rewards as promises: registration, going-live and fan-growth impressions on each
boost ledger row, within what the row promises

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07 22:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = ("registration_impressions", "live_impressions", "fan_impressions")


def upgrade() -> None:
    with op.batch_alter_table("campaign_boosts", schema=None) as batch_op:
        for column in _COLUMNS:
            batch_op.add_column(
                sa.Column(column, sa.BigInteger(), server_default="0", nullable=False)
            )
        batch_op.create_check_constraint(
            op.f("ck_campaign_boosts_rewards_within_promise"),
            "registration_impressions >= 0 AND live_impressions >= 0 AND fan_impressions >= 0"
            " AND registration_impressions + live_impressions + fan_impressions"
            " <= promised_impressions",
        )


def downgrade() -> None:
    with op.batch_alter_table("campaign_boosts", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_campaign_boosts_rewards_within_promise"), type_="check")
        for column in reversed(_COLUMNS):
            batch_op.drop_column(column)
