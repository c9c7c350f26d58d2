"""governance: the brand registry and the index of its names, shops' brand authorisations,
and listing interceptions with their appeals

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-08 01:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _status(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=24)


def upgrade() -> None:
    op.create_table(
        "brands",
        sa.Column("id", _ID, nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("aliases", sa.JSON(), nullable=False),
        sa.Column("reference_price_fen", sa.BigInteger(), nullable=True),
        sa.Column("created_by", sa.String(length=60), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_brands")),
        sa.UniqueConstraint("key", name=op.f("uq_brands_key")),
    )
    op.create_table(
        "brand_keys",
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("brand_id", _ID, nullable=False),
        sa.Column("in_titles", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["brands.id"], name=op.f("fk_brand_keys_brand_id_brands")
        ),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_brand_keys")),
    )
    with op.batch_alter_table("brand_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_brand_keys_brand_id"), ["brand_id"], unique=False)
    op.create_table(
        "brand_authorisations",
        sa.Column("id", _ID, nullable=False),
        sa.Column("shop_id", _ID, nullable=False),
        sa.Column("brand_id", _ID, nullable=False),
        sa.Column("document", sa.String(length=200), nullable=False),
        sa.Column(
            "status",
            _status("authorisationstatus", "pending", "verified", "rejected", "revoked"),
            nullable=False,
        ),
        sa.Column("submitted_by", sa.String(length=60), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=60), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_reason", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["brands.id"], name=op.f("fk_brand_authorisations_brand_id_brands")
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_brand_authorisations_shop_id_shops")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_brand_authorisations")),
        sa.UniqueConstraint(
            "shop_id", "brand_id", name=op.f("uq_brand_authorisations_shop_id_brand_id")
        ),
    )
    with op.batch_alter_table("brand_authorisations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_brand_authorisations_brand_id"), ["brand_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_brand_authorisations_shop_id"), ["shop_id"], unique=False
        )
    op.create_table(
        "listing_interceptions",
        sa.Column("id", _ID, nullable=False),
        sa.Column("product_id", _ID, nullable=False),
        sa.Column("shop_id", _ID, nullable=False),
        sa.Column("rule", sa.String(length=40), nullable=False),
        sa.Column("message", sa.String(length=500), nullable=False),
        sa.Column("message_zh", sa.String(length=500), nullable=False),
        sa.Column(
            "status",
            _status("interceptionstatus", "open", "appealed", "upheld", "overturned"),
            nullable=False,
        ),
        sa.Column("appeal", sa.String(length=1000), nullable=True),
        sa.Column("decided_by", sa.String(length=60), nullable=True),
        sa.Column("decision_reason", sa.String(length=500), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_listing_interceptions_product_id_products"),
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_listing_interceptions_shop_id_shops")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_listing_interceptions")),
    )
    with op.batch_alter_table("listing_interceptions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_listing_interceptions_at"), ["at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_listing_interceptions_product_id"), ["product_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_listing_interceptions_shop_id"), ["shop_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("listing_interceptions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_listing_interceptions_shop_id"))
        batch_op.drop_index(batch_op.f("ix_listing_interceptions_product_id"))
        batch_op.drop_index(batch_op.f("ix_listing_interceptions_at"))
    op.drop_table("listing_interceptions")
    with op.batch_alter_table("brand_authorisations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_brand_authorisations_shop_id"))
        batch_op.drop_index(batch_op.f("ix_brand_authorisations_brand_id"))
    op.drop_table("brand_authorisations")
    with op.batch_alter_table("brand_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_brand_keys_brand_id"))
    op.drop_table("brand_keys")
    op.drop_table("brands")
