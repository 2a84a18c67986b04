"""lists kept past an opt-out

Revision ID: 0010
Revises: 0006
Create Date: 2026-12-03 13:10:00

An opt-out row may carry the lists its recipient kept past it by answering the confirmation's
offer (domain/keep_offer.py): `opt_outs.kept_lists`, JSON text of [list id, event seq] pairs,
NULL for almost every row; a partial index finds the few that have one. A plain ADD COLUMN:
no table is rebuilt, and every existing row reads as keeping nothing.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEPT = sa.text("kept_lists IS NOT NULL")


def upgrade() -> None:
    op.add_column("opt_outs", sa.Column("kept_lists", sa.Text(), nullable=True))
    op.create_index(
        "ix_opt_outs_kept",
        "opt_outs",
        ["workspace_id", "number"],
        sqlite_where=_KEPT,
        postgresql_where=_KEPT,
    )


def downgrade() -> None:
    op.drop_index("ix_opt_outs_kept", table_name="opt_outs")
    with op.batch_alter_table("opt_outs", schema=None) as batch_op:
        batch_op.drop_column("kept_lists")
