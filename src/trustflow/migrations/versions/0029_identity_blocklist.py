"""governance: merchants' identities as keyed hashes, bans, the identity blocklist and the
applications it refused

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-08 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _kind(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=24)


def upgrade() -> None:
    op.create_table(
        "merchant_identities",
        sa.Column("id", _ID, nullable=False),
        sa.Column("merchant_id", _ID, nullable=False),
        sa.Column("kind", _kind("identitykind", "id_number", "phone"), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_merchant_identities_merchant_id_merchants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_merchant_identities")),
        sa.UniqueConstraint(
            "merchant_id", "kind", name=op.f("uq_merchant_identities_merchant_id_kind")
        ),
    )
    with op.batch_alter_table("merchant_identities", schema=None) as batch_op:
        batch_op.create_index(
            "ix_merchant_identities_kind_digest", ["kind", "digest"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_merchant_identities_merchant_id"), ["merchant_id"], unique=False
        )
    op.create_table(
        "merchant_bans",
        sa.Column("merchant_id", _ID, nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("banned_by", sa.String(length=60), nullable=False),
        sa.Column("banned_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_merchant_bans_merchant_id_merchants")
        ),
        sa.PrimaryKeyConstraint("merchant_id", name=op.f("pk_merchant_bans")),
    )
    op.create_table(
        "blocked_identities",
        sa.Column("id", _ID, nullable=False),
        sa.Column("kind", _kind("identitykind", "id_number", "phone"), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("source_merchant_id", _ID, nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("blocked_by", sa.String(length=60), nullable=False),
        sa.Column("blocked_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_merchant_id"],
            ["merchants.id"],
            name=op.f("fk_blocked_identities_source_merchant_id_merchants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_blocked_identities")),
        sa.UniqueConstraint("kind", "digest", name=op.f("uq_blocked_identities_kind_digest")),
    )
    op.create_table(
        "refused_applications",
        sa.Column("id", _ID, nullable=False),
        sa.Column("kind", _kind("applicationkind", "merchant", "shop"), nullable=False),
        sa.Column("merchant_id", _ID, nullable=True),
        sa.Column("matched", _kind("identitykind", "id_number", "phone"), nullable=True),
        sa.Column("blocked_identity_id", _ID, nullable=True),
        sa.Column("rule", sa.String(length=40), nullable=False),
        sa.Column("actor", sa.String(length=60), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["blocked_identity_id"],
            ["blocked_identities.id"],
            name=op.f("fk_refused_applications_blocked_identity_id_blocked_identities"),
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_refused_applications_merchant_id_merchants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refused_applications")),
    )
    with op.batch_alter_table("refused_applications", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_refused_applications_at"), ["at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_refused_applications_merchant_id"), ["merchant_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("refused_applications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_refused_applications_merchant_id"))
        batch_op.drop_index(batch_op.f("ix_refused_applications_at"))
    op.drop_table("refused_applications")
    op.drop_table("blocked_identities")
    op.drop_table("merchant_bans")
    with op.batch_alter_table("merchant_identities", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_merchant_identities_merchant_id"))
        batch_op.drop_index("ix_merchant_identities_kind_digest")
    op.drop_table("merchant_identities")
