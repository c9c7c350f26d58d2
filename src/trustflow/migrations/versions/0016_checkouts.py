"""a buyer checks out a cart: one checkout, one order per item, paid with one payment

A buyer could only order one SKU at a time, and a cart across shops had to be ordered (and
paid) item by item. A checkout (``checkouts``) now places an order per item, across any
number of shops, all at once or not at all, and pays them together; each order records the
checkout it was placed in (``orders.checkout_id``, NULL for orders placed on their own). On
SQLite the orders table is rebuilt to add the reference (``trustflow.migrate`` keeps foreign
keys checked across the rebuild). The store also records when history was last imported into
it (``store_identity.history_imported_at``): the warehouse then rewrites itself in full, since
imported rows are stamped in the past where no export watermark would see them.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 04:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "checkouts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("buyer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending_payment",
                "paid",
                "expired",
                name="checkoutstatus",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("goods_amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("paid_amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=80), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("payment_key", sa.String(length=80), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("items >= 1", name=op.f("ck_checkouts_items_positive")),
        sa.ForeignKeyConstraint(
            ["buyer_id"], ["buyers.id"], name=op.f("fk_checkouts_buyer_id_buyers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkouts")),
        sa.UniqueConstraint(
            "buyer_id", "idempotency_key", name=op.f("uq_checkouts_buyer_id_idempotency_key")
        ),
    )
    with op.batch_alter_table("checkouts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_checkouts_buyer_id"), ["buyer_id"], unique=False)

    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "checkout_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
            )
        )
        batch_op.create_index(batch_op.f("ix_orders_checkout_id"), ["checkout_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_orders_checkout_id_checkouts"), "checkouts", ["checkout_id"], ["id"]
        )
    op.add_column(
        "store_identity",
        sa.Column("history_imported_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_checkouts_status_created_at", "checkouts", ["status", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_checkouts_status_created_at", table_name="checkouts")
    with op.batch_alter_table("store_identity") as batch_op:
        batch_op.drop_column("history_imported_at")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_orders_checkout_id_checkouts"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_orders_checkout_id"))
        batch_op.drop_column("checkout_id")

    with op.batch_alter_table("checkouts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_checkouts_buyer_id"))

    op.drop_table("checkouts")
