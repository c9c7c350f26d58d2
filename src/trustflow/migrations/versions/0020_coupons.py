"""coupons: issued with a budget, claimed by buyers, reserved at checkout, refunded once

A coupon (``coupons``) holds its budget by spend and by count on its own row
(``committed_fen``, ``committed_count``, checked against ``budget_fen`` and ``budget_count``
by constraints as well as by every guarded update); ``coupon_holdings`` counts each buyer's
claims against the per-buyer limit; ``coupon_claims`` records each claim and what became of
it; ``coupon_events`` is the audit trail.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 18:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "coupons",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column(
            "issuer",
            sa.Enum(
                "platform",
                "merchant",
                name="couponissuer",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("shop_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "kind",
            sa.Enum(
                "full_reduction",
                "discount",
                "fixed",
                name="couponkind",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("threshold_fen", sa.BigInteger(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("discount_bps", sa.Integer(), nullable=False),
        sa.Column("budget_fen", sa.BigInteger(), nullable=False),
        sa.Column("budget_count", sa.Integer(), nullable=False),
        sa.Column("committed_fen", sa.BigInteger(), nullable=False),
        sa.Column("committed_count", sa.Integer(), nullable=False),
        sa.Column("per_buyer_limit", sa.Integer(), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=60), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(issuer = 'merchant') = (shop_id IS NOT NULL)",
            name=op.f("ck_coupons_merchant_names_shop"),
        ),
        sa.CheckConstraint(
            "committed_count >= 0 AND committed_count <= budget_count",
            name=op.f("ck_coupons_within_count"),
        ),
        sa.CheckConstraint(
            "committed_fen >= 0 AND committed_fen <= budget_fen",
            name=op.f("ck_coupons_within_budget"),
        ),
        sa.CheckConstraint("per_buyer_limit >= 1", name=op.f("ck_coupons_limit_positive")),
        sa.CheckConstraint("valid_to > valid_from", name=op.f("ck_coupons_validity_ordered")),
        sa.ForeignKeyConstraint(["shop_id"], ["shops.id"], name=op.f("fk_coupons_shop_id_shops")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coupons")),
    )
    op.create_index(op.f("ix_coupons_shop_id"), "coupons", ["shop_id"], unique=False)
    op.create_table(
        "coupon_claims",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "coupon_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("buyer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "claimed",
                "reserved",
                "redeemed",
                "refunded",
                "expired",
                name="claimstatus",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column(
            "checkout_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("idempotency_key", sa.String(length=80), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount_fen >= 0", name=op.f("ck_coupon_claims_amount_non_negative")),
        sa.ForeignKeyConstraint(
            ["buyer_id"], ["buyers.id"], name=op.f("fk_coupon_claims_buyer_id_buyers")
        ),
        sa.ForeignKeyConstraint(
            ["checkout_id"], ["checkouts.id"], name=op.f("fk_coupon_claims_checkout_id_checkouts")
        ),
        sa.ForeignKeyConstraint(
            ["coupon_id"], ["coupons.id"], name=op.f("fk_coupon_claims_coupon_id_coupons")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coupon_claims")),
        sa.UniqueConstraint(
            "buyer_id", "idempotency_key", name=op.f("uq_coupon_claims_buyer_id_idempotency_key")
        ),
    )
    op.create_index(op.f("ix_coupon_claims_buyer_id"), "coupon_claims", ["buyer_id"], unique=False)
    op.create_index(
        op.f("ix_coupon_claims_checkout_id"), "coupon_claims", ["checkout_id"], unique=False
    )
    op.create_index(
        op.f("ix_coupon_claims_coupon_id"), "coupon_claims", ["coupon_id"], unique=False
    )
    op.create_index(
        "ix_coupon_claims_coupon_id_status", "coupon_claims", ["coupon_id", "status"], unique=False
    )
    op.create_table(
        "coupon_holdings",
        sa.Column(
            "coupon_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("buyer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("claims", sa.Integer(), nullable=False),
        sa.CheckConstraint("claims >= 0", name=op.f("ck_coupon_holdings_claims_non_negative")),
        sa.ForeignKeyConstraint(
            ["buyer_id"], ["buyers.id"], name=op.f("fk_coupon_holdings_buyer_id_buyers")
        ),
        sa.ForeignKeyConstraint(
            ["coupon_id"], ["coupons.id"], name=op.f("fk_coupon_holdings_coupon_id_coupons")
        ),
        sa.PrimaryKeyConstraint("coupon_id", "buyer_id", name=op.f("pk_coupon_holdings")),
    )
    op.create_table(
        "coupon_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "coupon_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("claim_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(length=60), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["claim_id"], ["coupon_claims.id"], name=op.f("fk_coupon_events_claim_id_coupon_claims")
        ),
        sa.ForeignKeyConstraint(
            ["coupon_id"], ["coupons.id"], name=op.f("fk_coupon_events_coupon_id_coupons")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coupon_events")),
    )
    op.create_index(op.f("ix_coupon_events_claim_id"), "coupon_events", ["claim_id"], unique=False)
    op.create_index(
        op.f("ix_coupon_events_coupon_id"), "coupon_events", ["coupon_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_coupon_events_coupon_id"), table_name="coupon_events")
    op.drop_index(op.f("ix_coupon_events_claim_id"), table_name="coupon_events")
    op.drop_table("coupon_events")
    op.drop_table("coupon_holdings")
    op.drop_index("ix_coupon_claims_coupon_id_status", table_name="coupon_claims")
    op.drop_index(op.f("ix_coupon_claims_coupon_id"), table_name="coupon_claims")
    op.drop_index(op.f("ix_coupon_claims_checkout_id"), table_name="coupon_claims")
    op.drop_index(op.f("ix_coupon_claims_buyer_id"), table_name="coupon_claims")
    op.drop_table("coupon_claims")
    op.drop_index(op.f("ix_coupons_shop_id"), table_name="coupons")
    op.drop_table("coupons")
