"""shops carry their name's skeleton, indexed: a new name that looks like one taken is refused

A shop name must not pass for another shop's: ``Shоp 2`` (a Cyrillic ``о``) beside ``Shop 2``,
or the same name again. Each shop stores ``trustflow.names.name_skeleton`` of its name (the
Unicode TR39 skeleton, casefolded), and a new or renamed shop is checked against the index.
Existing rows are backfilled here. The index is not unique: a store made before this rule may
already hold two shops whose names look alike, and the migration must not fail on it or rename
a merchant's shop; both keep their names, and new look-alikes of either are refused.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 12:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from trustflow.names import name_skeleton

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SKELETON_LENGTH = 840  # trustflow.catalog.models.NAME_SKELETON_LENGTH when written
_BATCH = 1000


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    # SQLite cannot make an added column NOT NULL afterwards without copying the table, and
    # the copy cannot drop the table other tables' rows refer to: it adds the column NOT NULL
    # with an empty default, filled in below (the services always write the skeleton).
    op.add_column(
        "shops",
        sa.Column(
            "name_skeleton",
            sa.String(length=_SKELETON_LENGTH),
            nullable=not sqlite,
            server_default="" if sqlite else None,
        ),
    )
    shops = sa.table(
        "shops", sa.column("id", sa.BigInteger()), sa.column("name"), sa.column("name_skeleton")
    )
    bind = op.get_bind()
    update = (
        sa.update(shops)
        .where(shops.c.id == sa.bindparam("shop_id"))
        .values(name_skeleton=sa.bindparam("skeleton"))
    )
    last_id = 0
    while True:
        rows = bind.execute(
            sa.select(shops.c.id, shops.c.name)
            .where(shops.c.id > last_id)
            .order_by(shops.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            break
        bind.execute(update, [{"shop_id": i, "skeleton": name_skeleton(n)} for i, n in rows])
        last_id = rows[-1][0]
    if not sqlite:
        op.alter_column(
            "shops",
            "name_skeleton",
            existing_type=sa.String(length=_SKELETON_LENGTH),
            nullable=False,
        )
    op.create_index("ix_shops_name_skeleton", "shops", ["name_skeleton"])


def downgrade() -> None:
    op.drop_index("ix_shops_name_skeleton", table_name="shops")
    op.drop_column("shops", "name_skeleton")
