"""every after-sales request names its line

Migration 0017 gave each request the line it is about (the order's only line, for requests
made before) and every path that opens one names it since; the column now says so, and the
scores read a request's line without looking for its order's first.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 12:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # a request that lost its line can only be about its order's first
    op.execute(
        "UPDATE after_sales_requests SET line_id = (SELECT l.id FROM order_lines l"
        " WHERE l.order_id = after_sales_requests.order_id AND l.line_no = 1)"
        " WHERE line_id IS NULL"
    )
    with op.batch_alter_table("after_sales_requests", schema=None) as batch_op:
        batch_op.alter_column("line_id", existing_type=_ID, nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("after_sales_requests", schema=None) as batch_op:
        batch_op.alter_column("line_id", existing_type=_ID, nullable=True)
