"""campaign registrations are found by SKU: every checkout looks up its SKUs' campaign offers

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 19:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("campaign_registrations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_campaign_registrations_sku_id"), ["sku_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("campaign_registrations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaign_registrations_sku_id"))
