"""send-time rules: message categories, hold reasons and decisions; contacts' own place

Revision ID: 0005
Revises: 0001
Create Date: 2026-12-03 08:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "category", sa.String(length=16), nullable=False, server_default="informational"
            )
        )
        batch_op.add_column(sa.Column("hold_reason", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("send_decision", sa.JSON(), nullable=True))
        batch_op.create_index(
            "ix_messages_cap", ["workspace_id", "to_number", "category", "handed_at"], unique=False
        )
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("time_zone", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("postal_code", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_column("postal_code")
        batch_op.drop_column("time_zone")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_cap")
        batch_op.drop_column("send_decision")
        batch_op.drop_column("hold_reason")
        batch_op.drop_column("category")
