"""governance: violations with their points, expiry and revocation

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-08 01:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0031"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "violations",
        sa.Column("id", _ID, nullable=False),
        sa.Column("shop_id", _ID, nullable=False),
        sa.Column("rule", sa.String(length=40), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("interception_id", _ID, nullable=True),
        sa.Column("recorded_by", sa.String(length=60), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(length=60), nullable=True),
        sa.Column("revoke_reason", sa.String(length=500), nullable=True),
        sa.CheckConstraint("points > 0", name=op.f("ck_violations_points_positive")),
        sa.CheckConstraint("expires_at > at", name=op.f("ck_violations_expires_after")),
        sa.ForeignKeyConstraint(
            ["interception_id"],
            ["listing_interceptions.id"],
            name=op.f("fk_violations_interception_id_listing_interceptions"),
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_violations_shop_id_shops")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_violations")),
        sa.UniqueConstraint("interception_id", name=op.f("uq_violations_interception_id")),
    )
    with op.batch_alter_table("violations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_violations_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_violations_expires_at"), ["expires_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_violations_shop_id"), ["shop_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("violations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_violations_shop_id"))
        batch_op.drop_index(batch_op.f("ix_violations_expires_at"))
        batch_op.drop_index(batch_op.f("ix_violations_at"))
    op.drop_table("violations")
