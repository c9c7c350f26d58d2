"""lighter serving writes: the impressions log checks buyers in the application, and pacing
counters are updated in place

Feed serving appends thousands of impressions and updates thousands of pacing counters a
second. A foreign key on ``impressions.buyer_id`` made the store look up (and share-lock)
the buyer of every row appended; the index on ``(plan_id, updated_at)`` made every counter
update a new index entry in two indexes. Serving already checks buyers before it serves, and
the impressions API checks them before it appends; counters changed since a read are found
by a range scan of the plan's rows, and with room left on each page (``fillfactor``) their
updates stay on the page (PostgreSQL's heap-only updates). The log, which only grows, is
vacuumed and analysed less often and more gently.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 10:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


#: the log only grows: autovacuum visits it less often and more gently (it sleeps 20 ms per
#: round of work instead of 2 ms), so its rounds do not take the store's CPU in bursts
_GENTLE_VACUUM = (
    "autovacuum_vacuum_cost_delay = 20, autovacuum_vacuum_insert_scale_factor = 0.5, "
    "autovacuum_analyze_scale_factor = 0.5"
)


def upgrade() -> None:
    with op.batch_alter_table("impressions", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("fk_impressions_buyer_id_buyers"), type_="foreignkey")
    with op.batch_alter_table("traffic_pacing_counters", schema=None) as batch_op:
        batch_op.drop_index("ix_traffic_pacing_counters_updated")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE traffic_pacing_counters SET (fillfactor = 50)")
        op.execute(f"ALTER TABLE impressions SET ({_GENTLE_VACUUM})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        names = ", ".join(p.split(" = ")[0] for p in _GENTLE_VACUUM.split(", "))
        op.execute(f"ALTER TABLE impressions RESET ({names})")
        op.execute("ALTER TABLE traffic_pacing_counters RESET (fillfactor)")
    with op.batch_alter_table("traffic_pacing_counters", schema=None) as batch_op:
        batch_op.create_index(
            "ix_traffic_pacing_counters_updated", ["plan_id", "updated_at"], unique=False
        )
    with op.batch_alter_table("impressions", schema=None) as batch_op:
        batch_op.create_foreign_key(
            op.f("fk_impressions_buyer_id_buyers"), "buyers", ["buyer_id"], ["id"]
        )
