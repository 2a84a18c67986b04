"""lists kept past an opt-out; an index of inbound senders

Revision ID: 0010
Revises: 0006
Create Date: 2026-12-03 13:10:00

An opt-out row may carry the lists its recipient kept past it by answering the confirmation's
offer (domain/keep_offer.py): `opt_outs.kept_lists`, JSON text of [list id, event seq] pairs,
NULL for almost every row; a partial index finds the few that have one. A plain ADD COLUMN:
no table is rebuilt, and every existing row reads as keeping nothing.

Also a partial index of inbound messages by sender: an evidence packet reads what a number sent
us, which scanned the workspace's messages before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEPT = sa.text("kept_lists IS NOT NULL")
_INBOUND = sa.text("direction = 'in'")


def upgrade() -> None:
    op.create_index(
        "ix_messages_ws_from_inbound",
        "messages",
        ["workspace_id", "from_address"],
        sqlite_where=_INBOUND,
        postgresql_where=_INBOUND,
    )
    op.add_column("opt_outs", sa.Column("kept_lists", sa.Text(), nullable=True))
    op.create_index(
        "ix_opt_outs_kept",
        "opt_outs",
        ["workspace_id", "number"],
        sqlite_where=_KEPT,
        postgresql_where=_KEPT,
    )


def downgrade() -> None:
    op.drop_index("ix_messages_ws_from_inbound", table_name="messages")
    op.drop_index("ix_opt_outs_kept", table_name="opt_outs")
    with op.batch_alter_table("opt_outs", schema=None) as batch_op:
        batch_op.drop_column("kept_lists")
