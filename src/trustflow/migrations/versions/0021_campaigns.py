"""festivals and registration: campaigns with their windows and budgets, shops' registrations

A campaign (``campaigns``) has its registration, warm-up and main windows (in that order, a
constraint says so), the store score tier a registering shop needs, and its traffic and subsidy
budgets. A registration (``campaign_registrations``) is one SKU of one shop for one campaign, with
its campaign price, quantity, the C-position declarations, its status and the reasons the rules
refused it. ``campaign_events`` is the audit trail, with the operator's reason for a review.
A line sold at a campaign price in the main window is a ``campaign_sales`` row, counted against
the registration's quantity (``sold``). A platform coupon may be paid from a campaign's subsidy budget (``coupons.campaign_id``; the
campaign's ``subsidy_committed_fen`` never passes its ``subsidy_budget_fen``).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 18:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("registration_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("registration_to", sa.DateTime(timezone=True), nullable=False),
        sa.Column("warmup_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("main_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("main_to", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "min_tier",
            sa.Enum(
                "excellent",
                "good",
                "fair",
                "low",
                name="tier",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("traffic_budget", sa.BigInteger(), nullable=False),
        sa.Column("subsidy_budget_fen", sa.BigInteger(), nullable=False),
        sa.Column("subsidy_committed_fen", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=60), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "registration_from < registration_to AND registration_to <= warmup_from AND warmup_from <= main_from AND main_from < main_to",
            name=op.f("ck_campaigns_windows_ordered"),
        ),
        sa.CheckConstraint(
            "subsidy_committed_fen >= 0 AND subsidy_committed_fen <= subsidy_budget_fen",
            name=op.f("ck_campaigns_within_subsidy"),
        ),
        sa.CheckConstraint(
            "traffic_budget >= 0 AND subsidy_budget_fen >= 0", name=op.f("ck_campaigns_budgets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
    )
    op.create_table(
        "campaign_registrations",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "campaign_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("shop_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("sku_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("campaign_price_fen", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("c_position", sa.Boolean(), nullable=False),
        sa.Column("benchmark_price_fen", sa.BigInteger(), nullable=True),
        sa.Column("commission_floor_bps", sa.Integer(), nullable=True),
        sa.Column("commission_bps", sa.Integer(), nullable=False),
        sa.Column("sold", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "refused",
                "approved",
                "rejected",
                name="registrationstatus",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("review_reason", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "campaign_price_fen > 0 AND quantity > 0",
            name=op.f("ck_campaign_registrations_offer_positive"),
        ),
        sa.CheckConstraint(
            "sold >= 0 AND sold <= quantity",
            name=op.f("ck_campaign_registrations_sold_within_quantity"),
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_registrations_campaign_id_campaigns"),
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_campaign_registrations_shop_id_shops")
        ),
        sa.ForeignKeyConstraint(
            ["sku_id"], ["skus.id"], name=op.f("fk_campaign_registrations_sku_id_skus")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_registrations")),
        sa.UniqueConstraint(
            "campaign_id", "sku_id", name=op.f("uq_campaign_registrations_campaign_id_sku_id")
        ),
    )
    with op.batch_alter_table("campaign_registrations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_campaign_registrations_campaign_id"), ["campaign_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_campaign_registrations_shop_id"), ["shop_id"], unique=False
        )

    op.create_table(
        "campaign_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "campaign_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "registration_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("from_status", sa.String(length=24), nullable=True),
        sa.Column("to_status", sa.String(length=24), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("actor", sa.String(length=60), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name=op.f("fk_campaign_events_campaign_id_campaigns")
        ),
        sa.ForeignKeyConstraint(
            ["registration_id"],
            ["campaign_registrations.id"],
            name=op.f("fk_campaign_events_registration_id_campaign_registrations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_events")),
    )
    with op.batch_alter_table("campaign_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_campaign_events_campaign_id"), ["campaign_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_campaign_events_registration_id"), ["registration_id"], unique=False
        )

    op.create_table(
        "campaign_sales",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "registration_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("line_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_discount_fen", sa.BigInteger(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "held",
                "returned",
                name="salestatus",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "quantity > 0 AND unit_discount_fen > 0", name=op.f("ck_campaign_sales_sale_positive")
        ),
        sa.ForeignKeyConstraint(
            ["line_id"], ["order_lines.id"], name=op.f("fk_campaign_sales_line_id_order_lines")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_campaign_sales_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["registration_id"],
            ["campaign_registrations.id"],
            name=op.f("fk_campaign_sales_registration_id_campaign_registrations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_sales")),
        sa.UniqueConstraint("line_id", name=op.f("uq_campaign_sales_line_id")),
    )
    with op.batch_alter_table("campaign_sales", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_campaign_sales_order_id"), ["order_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_campaign_sales_registration_id"), ["registration_id"], unique=False
        )

    with op.batch_alter_table("coupons", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "campaign_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
            )
        )
        batch_op.create_index(batch_op.f("ix_coupons_campaign_id"), ["campaign_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_coupons_campaign_id_campaigns"), "campaigns", ["campaign_id"], ["id"]
        )
        batch_op.create_check_constraint(
            op.f("ck_coupons_campaign_pays_platform_coupons"),
            "campaign_id IS NULL OR issuer = 'platform'",
        )


def downgrade() -> None:
    with op.batch_alter_table("coupons", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_coupons_campaign_pays_platform_coupons"), type_="check")
        batch_op.drop_constraint(batch_op.f("fk_coupons_campaign_id_campaigns"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_coupons_campaign_id"))
        batch_op.drop_column("campaign_id")

    with op.batch_alter_table("campaign_sales", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaign_sales_registration_id"))
        batch_op.drop_index(batch_op.f("ix_campaign_sales_order_id"))

    op.drop_table("campaign_sales")
    with op.batch_alter_table("campaign_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaign_events_registration_id"))
        batch_op.drop_index(batch_op.f("ix_campaign_events_campaign_id"))

    op.drop_table("campaign_events")
    with op.batch_alter_table("campaign_registrations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaign_registrations_shop_id"))
        batch_op.drop_index(batch_op.f("ix_campaign_registrations_campaign_id"))

    op.drop_table("campaign_registrations")
    op.drop_table("campaigns")
