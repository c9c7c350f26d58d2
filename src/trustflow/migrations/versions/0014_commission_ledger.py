"""commission is accrued at payment, reversed on refund and settled when the window closes

A distribution order froze its commission at placement and nothing more happened to it: it
was never settled, and a refunded order still owed the creator everything. Each movement of
a creator's commission is now one row here: accrued when the buyer pays, reversed (in the
refunded share, or in full when a paid order is cancelled), settled once the after-sales
window has closed with no request open. ``(order_id, event_key)`` is unique, so no event is
ever booked twice. Orders paid before this revision get what they would have booked: their
accrual, and the reversal of a cancellation or of their refunds.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 04:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "commission_entries",
        sa.Column("id", _ID, nullable=False),
        sa.Column("order_id", _ID, nullable=False),
        sa.Column("creator_id", _ID, nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "accrued",
                "reversed",
                "settled",
                name="commissionentrykind",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("event_key", sa.String(length=40), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "amount_fen >= 0", name=op.f("ck_commission_entries_amount_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["creator_id"], ["creators.id"], name=op.f("fk_commission_entries_creator_id_creators")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_commission_entries_order_id_orders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commission_entries")),
        sa.UniqueConstraint(
            "order_id", "event_key", name=op.f("uq_commission_entries_order_id_event_key")
        ),
    )
    op.create_index(
        "ix_commission_entries_creator_id_at", "commission_entries", ["creator_id", "at"]
    )
    # orders paid before this revision: what they accrued, and what cancellations and
    # refunds took back since, as the rules of orders/commission.py would have booked it
    # (one reversal for all of an order's refunds), so the nightly settlement pays them too
    op.execute(
        "INSERT INTO commission_entries (order_id, creator_id, kind, event_key, amount_fen, at)"
        " SELECT o.id, o.creator_id, 'accrued', 'accrue', o.commission_fen, o.paid_at"
        " FROM orders o WHERE o.paid_at IS NOT NULL AND o.creator_id IS NOT NULL"
        " AND o.commission_fen > 0"
    )
    op.execute(
        "INSERT INTO commission_entries (order_id, creator_id, kind, event_key, amount_fen, at)"
        " SELECT o.id, o.creator_id, 'reversed', 'reverse:cancel', o.commission_fen,"
        " o.cancelled_at FROM orders o WHERE o.paid_at IS NOT NULL AND o.creator_id IS NOT NULL"
        " AND o.commission_fen > 0 AND o.cancelled_at IS NOT NULL"
    )
    # the refunded share, rounded half up, never more than the commission
    op.execute(
        "INSERT INTO commission_entries (order_id, creator_id, kind, event_key, amount_fen, at)"
        " SELECT o.id, o.creator_id, 'reversed', 'reverse:backfill',"
        " CASE WHEN o.paid_amount_fen = 0"
        " OR (2 * o.commission_fen * r.refunded + o.paid_amount_fen) / (2 * o.paid_amount_fen)"
        " > o.commission_fen THEN o.commission_fen"
        " ELSE (2 * o.commission_fen * r.refunded + o.paid_amount_fen) / (2 * o.paid_amount_fen)"
        " END, r.last_at"
        " FROM orders o JOIN (SELECT order_id, SUM(refund_fen) AS refunded,"
        " MAX(COALESCE(resolved_at, updated_at)) AS last_at FROM after_sales_requests"
        " WHERE status = 'refunded' GROUP BY order_id) r ON r.order_id = o.id"
        " WHERE o.paid_at IS NOT NULL AND o.creator_id IS NOT NULL AND o.commission_fen > 0"
        " AND o.cancelled_at IS NULL AND r.refunded > 0"
    )


def downgrade() -> None:
    op.drop_index("ix_commission_entries_creator_id_at", table_name="commission_entries")
    op.drop_table("commission_entries")
