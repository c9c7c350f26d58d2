"""rows remember the id they had where they were imported from

``trustflow import`` loads a marketplace's history. Each imported category, merchant, shop,
creator, buyer, product, SKU, distribution offer, live session, short video, order, review,
after-sales request, chat and impression keeps the id its source gave it (``external_id``, unique per table; served impressions have none and are not indexed), so a second import of the same files adds
nothing and a changed row is recognised as a conflict. A product may carry a ``product_key``
shared by the listings of several shops that sell the same goods. A review the store would not
have taken (written before delivery) is kept with a ``flag`` saying so. Rows made before this
revision have none of these (NULL). Only columns and indexes are added: no table is rebuilt.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 04:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = (
    "after_sales_requests",
    "buyers",
    "categories",
    "chat_threads",
    "creators",
    "distribution_offers",
    "live_sessions",
    "merchants",
    "orders",
    "products",
    "reviews",
    "shops",
    "short_videos",
    "skus",
)
_IMPORTED = sa.text("external_id IS NOT NULL")


def upgrade() -> None:
    for table in TABLES:
        op.add_column(table, sa.Column("external_id", sa.String(length=64), nullable=True))
        op.create_index(op.f(f"ix_{table}_external_id"), table, ["external_id"], unique=True)
    op.add_column("products", sa.Column("product_key", sa.String(length=64), nullable=True))
    op.create_index(op.f("ix_products_product_key"), "products", ["product_key"])
    op.add_column("reviews", sa.Column("flag", sa.String(length=24), nullable=True))
    # impressions are written by every feed request: only imported ones are indexed
    op.add_column("impressions", sa.Column("external_id", sa.String(length=64), nullable=True))
    op.create_index(
        "ix_impressions_external_id",
        "impressions",
        ["external_id"],
        unique=True,
        sqlite_where=_IMPORTED,
        postgresql_where=_IMPORTED,
    )


def downgrade() -> None:
    op.drop_index("ix_impressions_external_id", table_name="impressions")
    with op.batch_alter_table("impressions") as batch_op:
        batch_op.drop_column("external_id")
    with op.batch_alter_table("reviews") as batch_op:
        batch_op.drop_column("flag")
    op.drop_index(op.f("ix_products_product_key"), table_name="products")
    with op.batch_alter_table("products") as batch_op:
        batch_op.drop_column("product_key")
    for table in TABLES:
        op.drop_index(op.f(f"ix_{table}_external_id"), table_name=table)
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_column("external_id")
