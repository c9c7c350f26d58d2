"""festival boost traffic as promises: per campaign, day and shop, the reward impressions
promised and those delivered (``campaign_boosts``)

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 21:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "campaign_boosts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "campaign_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("shop_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("promised_impressions", sa.BigInteger(), nullable=False),
        sa.Column("delivered_impressions", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "promised_impressions >= 0 AND delivered_impressions >= 0",
            name=op.f("ck_campaign_boosts_boost_non_negative"),
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_boosts_campaign_id_campaigns"),
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_campaign_boosts_shop_id_shops")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_boosts")),
        sa.UniqueConstraint(
            "campaign_id", "day", "shop_id", name=op.f("uq_campaign_boosts_campaign_id_day_shop_id")
        ),
    )
    with op.batch_alter_table("campaign_boosts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_campaign_boosts_campaign_id"), ["campaign_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_campaign_boosts_shop_id"), ["shop_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("campaign_boosts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaign_boosts_shop_id"))
        batch_op.drop_index(batch_op.f("ix_campaign_boosts_campaign_id"))
    op.drop_table("campaign_boosts")
