"""orders hold lines: one order per shop of several SKUs; after-sales and reviews per line

An order was one SKU of one shop, so a cart of two items from one shop became two orders
and a refund or a review could only name a whole order. An order now holds lines
(``order_lines``: SKU, quantity, unit price, discounts and commission frozen per line).
Every order placed before gets one line that repeats its SKU, quantity and amounts. An
after-sales request names the line it is about and how many of its units
(``after_sales_requests.line_id``, ``quantity``; backfilled with the order's line, the whole
line), and a review reviews a line (``reviews.line_id``, one review per line, where it was
one per order).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 11:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "order_lines",
        sa.Column("id", _ID, nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=True),
        sa.Column("order_id", _ID, nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("product_id", _ID, nullable=False),
        sa.Column("sku_id", _ID, nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_price_fen", sa.BigInteger(), nullable=False),
        sa.Column("goods_amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("merchant_discount_fen", sa.BigInteger(), nullable=False),
        sa.Column("platform_discount_fen", sa.BigInteger(), nullable=False),
        sa.Column("paid_amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("offer_id", _ID, nullable=True),
        sa.Column("commission_bps", sa.Integer(), nullable=False),
        sa.Column("commission_fen", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "quantity > 0 AND line_no > 0", name=op.f("ck_order_lines_quantity_positive")
        ),
        sa.CheckConstraint(
            "paid_amount_fen = goods_amount_fen - merchant_discount_fen - platform_discount_fen"
            " AND paid_amount_fen >= 0 AND merchant_discount_fen >= 0"
            " AND platform_discount_fen >= 0 AND commission_fen >= 0",
            name=op.f("ck_order_lines_amounts_consistent"),
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_order_lines_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_order_lines_product_id_products")
        ),
        sa.ForeignKeyConstraint(["sku_id"], ["skus.id"], name=op.f("fk_order_lines_sku_id_skus")),
        sa.ForeignKeyConstraint(
            ["offer_id"],
            ["distribution_offers.id"],
            name=op.f("fk_order_lines_offer_id_distribution_offers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_lines")),
        sa.UniqueConstraint("order_id", "line_no", name=op.f("uq_order_lines_order_id_line_no")),
    )
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_order_lines_external_id"), ["external_id"], unique=True
        )
        batch_op.create_index(batch_op.f("ix_order_lines_order_id"), ["order_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_order_lines_product_id"), ["product_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_order_lines_created_at"), ["created_at"], unique=False)
    # every order so far is one line; the line takes the order's id, so the backfill's
    # line ids are known without a lookup
    op.execute(
        "INSERT INTO order_lines (id, external_id, order_id, line_no, product_id, sku_id,"
        " quantity, unit_price_fen, goods_amount_fen, merchant_discount_fen,"
        " platform_discount_fen, paid_amount_fen, offer_id, commission_bps, commission_fen,"
        " created_at)"
        " SELECT id, external_id, id, 1, product_id, sku_id, quantity, unit_price_fen,"
        " goods_amount_fen, merchant_discount_fen, platform_discount_fen, paid_amount_fen,"
        " offer_id, commission_bps, commission_fen, created_at FROM orders"
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "SELECT setval(pg_get_serial_sequence('order_lines', 'id'),"
            " COALESCE((SELECT MAX(id) FROM order_lines), 0) + 1, false)"
        )

    with op.batch_alter_table("after_sales_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("line_id", _ID, nullable=True))
        batch_op.add_column(sa.Column("quantity", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_after_sales_requests_line_id"), ["line_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_after_sales_requests_line_id_order_lines"),
            "order_lines",
            ["line_id"],
            ["id"],
        )
        batch_op.create_check_constraint("quantity_positive", "quantity IS NULL OR quantity > 0")
    op.execute("UPDATE after_sales_requests SET line_id = order_id")

    with op.batch_alter_table("reviews", schema=None) as batch_op:
        batch_op.add_column(sa.Column("line_id", _ID, nullable=True))
    op.execute("UPDATE reviews SET line_id = order_id")
    with op.batch_alter_table("reviews", schema=None) as batch_op:
        batch_op.alter_column("line_id", existing_type=_ID, nullable=False)
        batch_op.drop_constraint(batch_op.f("uq_reviews_order_id"), type_="unique")
        batch_op.create_index(batch_op.f("ix_reviews_order_id"), ["order_id"], unique=False)
        batch_op.create_unique_constraint(batch_op.f("uq_reviews_line_id"), ["line_id"])
        batch_op.create_foreign_key(
            batch_op.f("fk_reviews_line_id_order_lines"), "order_lines", ["line_id"], ["id"]
        )


def downgrade() -> None:
    several = op.get_bind().scalar(
        sa.text(
            "SELECT COUNT(*) FROM (SELECT order_id FROM order_lines GROUP BY order_id"
            " HAVING COUNT(*) > 1) x"
        )
    )
    if several:
        # before this revision an order was one SKU: such orders (and their reviews of each
        # line) have no form to go back to, and dropping their lines would lose goods paid for
        raise RuntimeError(
            f"cannot downgrade below 0017: {several} orders hold several lines; export the"
            " history (trustflow export-history) and keep this version"
        )
    with op.batch_alter_table("reviews", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_reviews_line_id_order_lines"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("uq_reviews_line_id"), type_="unique")
        batch_op.drop_index(batch_op.f("ix_reviews_order_id"))
        batch_op.create_unique_constraint(batch_op.f("uq_reviews_order_id"), ["order_id"])
        batch_op.drop_column("line_id")
    with op.batch_alter_table("after_sales_requests", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("ck_after_sales_requests_quantity_positive"), type_="check"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_after_sales_requests_line_id_order_lines"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_after_sales_requests_line_id"))
        batch_op.drop_column("quantity")
        batch_op.drop_column("line_id")
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_order_lines_created_at"))
        batch_op.drop_index(batch_op.f("ix_order_lines_product_id"))
        batch_op.drop_index(batch_op.f("ix_order_lines_order_id"))
        batch_op.drop_index(batch_op.f("ix_order_lines_external_id"))
    op.drop_table("order_lines")
