"""product subsidies: a registration's unit subsidy, a sale's, per-shop subsidy caps, the amount
on a campaign event, and a sale refunded in full

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-08 00:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _sale_status(*values: str) -> str:
    return "status IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def upgrade() -> None:
    with op.batch_alter_table("campaign_registrations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("unit_subsidy_fen", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.create_check_constraint(
            op.f("ck_campaign_registrations_subsidy_below_price"),
            "unit_subsidy_fen >= 0 AND unit_subsidy_fen < campaign_price_fen",
        )
    with op.batch_alter_table("campaign_sales", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("unit_subsidy_fen", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.create_check_constraint(
            op.f("ck_campaign_sales_sale_subsidy_non_negative"), "unit_subsidy_fen >= 0"
        )
        batch_op.drop_constraint(op.f("ck_campaign_sales_salestatus"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_campaign_sales_salestatus"), _sale_status("held", "returned", "refunded")
        )
    with op.batch_alter_table("campaign_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("amount_fen", sa.BigInteger(), nullable=True))
    op.create_table(
        "campaign_shop_subsidies",
        sa.Column("campaign_id", _ID, nullable=False),
        sa.Column("shop_id", _ID, nullable=False),
        sa.Column("cap_fen", sa.BigInteger(), nullable=True),
        sa.Column("committed_fen", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "committed_fen >= 0 AND (cap_fen IS NULL OR committed_fen <= cap_fen)",
            name=op.f("ck_campaign_shop_subsidies_within_shop_cap"),
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_shop_subsidies_campaign_id_campaigns"),
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_campaign_shop_subsidies_shop_id_shops")
        ),
        sa.PrimaryKeyConstraint("campaign_id", "shop_id", name=op.f("pk_campaign_shop_subsidies")),
    )
    with op.batch_alter_table("campaign_shop_subsidies", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_campaign_shop_subsidies_shop_id"), ["shop_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("campaign_shop_subsidies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaign_shop_subsidies_shop_id"))
    op.drop_table("campaign_shop_subsidies")
    with op.batch_alter_table("campaign_events", schema=None) as batch_op:
        batch_op.drop_column("amount_fen")
    with op.batch_alter_table("campaign_sales", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_campaign_sales_salestatus"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_campaign_sales_salestatus"), _sale_status("held", "returned")
        )
        batch_op.drop_constraint(op.f("ck_campaign_sales_sale_subsidy_non_negative"), type_="check")
        batch_op.drop_column("unit_subsidy_fen")
    with op.batch_alter_table("campaign_registrations", schema=None) as batch_op:
        batch_op.drop_constraint(
            op.f("ck_campaign_registrations_subsidy_below_price"), type_="check"
        )
        batch_op.drop_column("unit_subsidy_fen")
