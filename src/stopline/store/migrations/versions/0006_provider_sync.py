"""provider consent sync: per-channel switch, Twilio accounts URL, pull cursor, outbox, AWS

Revision ID: 0006
Revises: 0003
Create Date: 2026-12-03 09:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0006'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_PROVIDERS = "provider IN ('twilio', 'telnyx', 'vonage', 'generic', 'console')"
NEW_PROVIDERS = "provider IN ('twilio', 'telnyx', 'vonage', 'generic', 'console', 'aws')"


def upgrade() -> None:
    with op.batch_alter_table('channels', schema=None) as batch_op:
        batch_op.add_column(sa.Column('consent_sync', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('accounts_base_url', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('sync_pulled_until', sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_constraint(op.f('ck_channels_provider'), type_='check')
        batch_op.create_check_constraint(op.f('ck_channels_provider'), sa.text(NEW_PROVIDERS))

    op.create_table('sync_items',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('channel_id', sa.Integer(), nullable=False),
    sa.Column('event_seq', sa.BigInteger(), nullable=False),
    sa.Column('number', sa.String(length=16), nullable=False),
    sa.Column('report', sa.String(length=8), nullable=False),
    sa.Column('method', sa.String(length=16), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('available_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('error_code', sa.String(length=64), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("state IN ('pending', 'delivered', 'failed')", name=op.f('ck_sync_items_state')),
    sa.CheckConstraint("report IN ('opt_out', 'opt_in')", name=op.f('ck_sync_items_report')),
    sa.ForeignKeyConstraint(['channel_id'], ['channels.id'], name=op.f('fk_sync_items_channel_id_channels'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_sync_items_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sync_items')),
    sa.UniqueConstraint('workspace_id', 'channel_id', 'event_seq', name='uq_sync_items_event')
    )
    with op.batch_alter_table('sync_items', schema=None) as batch_op:
        batch_op.create_index('ix_sync_items_channel_due', ['channel_id', 'state', 'id'], unique=False)
        batch_op.create_index('ix_sync_items_ws_number', ['workspace_id', 'number'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('sync_items', schema=None) as batch_op:
        batch_op.drop_index('ix_sync_items_ws_number')
        batch_op.drop_index('ix_sync_items_channel_due')
    op.drop_table('sync_items')
    with op.batch_alter_table('channels', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_channels_provider'), type_='check')
        batch_op.create_check_constraint(op.f('ck_channels_provider'), sa.text(OLD_PROVIDERS))
        batch_op.drop_column('sync_pulled_until')
        batch_op.drop_column('accounts_base_url')
        batch_op.drop_column('consent_sync')
