"""orders say why they were cancelled, whose doing it was and what went back to the buyer

A cancellation recorded only its time. It now records its reason (``CancelReason``), the party
it is put down to (buyer, merchant, carrier, platform) and the amount refunded (the whole
payment of a paid order, 0 otherwise). Orders cancelled before this revision keep no reason
or party (NULL) and a refund of 0, since none was recorded.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 22:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REASONS = (
    "buyer_changed_mind",
    "unpaid_timeout",
    "address_unreachable",
    "merchant_cannot_fulfil",
    "lost_in_transit",
    "risk_control",
)
PARTIES = ("buyer", "merchant", "carrier", "platform")


def _enum(values: Sequence[str], name: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=24)


def upgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("cancel_reason", _enum(REASONS, "cancelreason"), nullable=True)
        )
        batch_op.add_column(sa.Column("cancel_party", _enum(PARTIES, "cancelparty"), nullable=True))
        batch_op.add_column(
            sa.Column("cancel_refund_fen", sa.BigInteger(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_orders_cancelparty"), type_="check")
        batch_op.drop_constraint(op.f("ck_orders_cancelreason"), type_="check")
        batch_op.drop_column("cancel_refund_fen")
        batch_op.drop_column("cancel_party")
        batch_op.drop_column("cancel_reason")
