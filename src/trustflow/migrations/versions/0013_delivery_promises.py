"""orders promise a delivery window, from the shop's handling and transit times

``ship_by`` was always placement + 48 hours and no delivery date was promised, so lateness
could not be judged against what the buyer was told. Shops now set their handling time
(``shops.handling_hours``, 48 by default: the old promise) and transit times by region
(``shop_transit_times``, ``*`` for every other region); buyers have a region; each order
records the region it ships to and the window promised (``deliver_from``, ``deliver_by``).
Orders placed before this revision keep their ship-by and have no window (NULL).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 22:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("shops", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("handling_hours", sa.Integer(), nullable=False, server_default="48")
        )
        batch_op.create_check_constraint(
            op.f("ck_shops_handling_hours_in_range"), "handling_hours BETWEEN 1 AND 720"
        )
    with op.batch_alter_table("buyers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("region", sa.String(length=32), nullable=True))
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ship_to_region", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("deliver_from", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("deliver_by", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "shop_transit_times",
        sa.Column("id", _ID, nullable=False),
        sa.Column("shop_id", _ID, nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("min_hours", sa.Integer(), nullable=False),
        sa.Column("max_hours", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "min_hours >= 1 AND min_hours <= max_hours AND max_hours <= 2160",
            name=op.f("ck_shop_transit_times_transit_window_valid"),
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_shop_transit_times_shop_id_shops")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shop_transit_times")),
        sa.UniqueConstraint("shop_id", "region", name=op.f("uq_shop_transit_times_shop_id_region")),
    )


def downgrade() -> None:
    op.drop_table("shop_transit_times")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("deliver_by")
        batch_op.drop_column("deliver_from")
        batch_op.drop_column("ship_to_region")
    with op.batch_alter_table("buyers", schema=None) as batch_op:
        batch_op.drop_column("region")
    with op.batch_alter_table("shops", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_shops_handling_hours_in_range"), type_="check")
        batch_op.drop_column("handling_hours")
