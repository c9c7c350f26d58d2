"""after-sales requests leave a trail: one event per named action, with its actor

A refund or an arbitration changed a request's state and left no record of who did it or
when it moved from what. Every action that opens or moves a request now writes one row here,
in the same transaction, from the one-at-a-time service and the bulk path alike. Requests
made before this revision have no events: their trail starts with their next action.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 14:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "after_sales_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "request_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("from_status", sa.String(length=24), nullable=True),
        sa.Column("to_status", sa.String(length=24), nullable=False),
        sa.Column(
            "actor_role",
            sa.Enum(
                "buyer",
                "merchant",
                "service_provider",
                "creator",
                "platform",
                "system",
                name="actorrole",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("actor_id", sa.BigInteger(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["after_sales_requests.id"],
            name=op.f("fk_after_sales_events_request_id_after_sales_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_after_sales_events")),
    )
    with op.batch_alter_table("after_sales_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_after_sales_events_request_id"), ["request_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("after_sales_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_after_sales_events_request_id"))
    op.drop_table("after_sales_events")
