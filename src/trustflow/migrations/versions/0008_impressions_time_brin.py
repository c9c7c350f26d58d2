"""the impressions log's time index is a block-range (BRIN) index on PostgreSQL

Feed serving appends the log in time order, ~10 rows per request, and the log is read by
time range (a day's reward ledger, the plan's value estimates, the health report). A B-tree
on ``shown_at`` cost the store an index entry per row appended; a BRIN index keeps one
summary per range of table blocks, costs almost nothing per row, and finds a day's rows just
as well while the rows arrive in time order. SQLite has no BRIN: it keeps the B-tree.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 21:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_impressions_shown_at", table_name="impressions")
        op.create_index(
            "ix_impressions_shown_at", "impressions", ["shown_at"], postgresql_using="brin"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_impressions_shown_at", table_name="impressions")
        op.create_index("ix_impressions_shown_at", "impressions", ["shown_at"])
