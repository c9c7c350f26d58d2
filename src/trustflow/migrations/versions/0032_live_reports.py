"""governance: buyers' reports from live rooms, one open per buyer and room

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-08 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0032"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "live_reports",
        sa.Column("id", _ID, nullable=False),
        sa.Column("buyer_id", _ID, nullable=False),
        sa.Column("live_session_id", _ID, nullable=False),
        sa.Column("shop_id", _ID, nullable=True),
        sa.Column("creator_id", _ID, nullable=True),
        sa.Column(
            "reason",
            sa.Enum(
                "counterfeit",
                "misleading",
                "prohibited",
                "misconduct",
                "other",
                name="reportreason",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("text", sa.String(length=1000), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "open",
                "upheld",
                "dismissed",
                name="reportstatus",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("decided_by", sa.String(length=60), nullable=True),
        sa.Column("decision_reason", sa.String(length=500), nullable=True),
        sa.Column("violation_id", _ID, nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["buyer_id"], ["buyers.id"], name=op.f("fk_live_reports_buyer_id_buyers")
        ),
        sa.ForeignKeyConstraint(
            ["creator_id"], ["creators.id"], name=op.f("fk_live_reports_creator_id_creators")
        ),
        sa.ForeignKeyConstraint(
            ["live_session_id"],
            ["live_sessions.id"],
            name=op.f("fk_live_reports_live_session_id_live_sessions"),
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_live_reports_shop_id_shops")
        ),
        sa.ForeignKeyConstraint(
            ["violation_id"],
            ["violations.id"],
            name=op.f("fk_live_reports_violation_id_violations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_live_reports")),
    )
    with op.batch_alter_table("live_reports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_live_reports_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_live_reports_buyer_id"), ["buyer_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_live_reports_creator_id"), ["creator_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_live_reports_decided_at"), ["decided_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_live_reports_live_session_id"), ["live_session_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_live_reports_shop_id"), ["shop_id"], unique=False)
        batch_op.create_index(
            "uq_live_reports_one_open",
            ["buyer_id", "live_session_id"],
            unique=True,
            sqlite_where=sa.text("status = 'open'"),
            postgresql_where=sa.text("status = 'open'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("live_reports", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_live_reports_one_open",
            sqlite_where=sa.text("status = 'open'"),
            postgresql_where=sa.text("status = 'open'"),
        )
        for column in ("shop_id", "live_session_id", "decided_at", "creator_id", "buyer_id", "at"):
            batch_op.drop_index(batch_op.f(f"ix_live_reports_{column}"))
    op.drop_table("live_reports")
