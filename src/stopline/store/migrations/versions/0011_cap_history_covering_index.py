"""frequency caps: the hand-off history index covers the cap lookup (direction in the key)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 13:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain index statements, not a batch: on SQLite a batch would copy the whole messages table.
    op.drop_index("ix_messages_cap", table_name="messages")
    op.create_index(
        "ix_messages_cap",
        "messages",
        ["workspace_id", "to_number", "category", "direction", "handed_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_messages_cap", table_name="messages")
    op.create_index(
        "ix_messages_cap",
        "messages",
        ["workspace_id", "to_number", "category", "handed_at"],
        unique=False,
    )
