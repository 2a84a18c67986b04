"""signed ledger checkpoints; list joins, consent text versions, opt-in requests

Revision ID: 0007
Revises: 0001
Create Date: 2026-12-03 08:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0007'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('ledger_checkpoints',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('document', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_ledger_checkpoints_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_checkpoints'))
    )
    with op.batch_alter_table('ledger_checkpoints', schema=None) as batch_op:
        batch_op.create_index('ix_ledger_checkpoints_workspace_seq', ['workspace_id', 'seq'], unique=False)


    op.create_table('list_joins',
    sa.Column('list_id', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=32), nullable=False),
    sa.Column('keywords', sa.JSON(), nullable=False),
    sa.Column('request_text', sa.Text(), nullable=False),
    sa.Column('form_enabled', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['list_id'], ['lists.id'], name=op.f('fk_list_joins_list_id_lists'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_list_joins_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('list_id', name=op.f('pk_list_joins')),
    sa.UniqueConstraint('slug', name=op.f('uq_list_joins_slug'))
    )
    with op.batch_alter_table('list_joins', schema=None) as batch_op:
        batch_op.create_index('ix_list_joins_workspace', ['workspace_id'], unique=False)

    op.create_table('consent_text_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('list_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['list_id'], ['lists.id'], name=op.f('fk_consent_text_versions_list_id_lists'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_consent_text_versions_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent_text_versions')),
    sa.UniqueConstraint('list_id', 'version', name='uq_consent_text_versions_list_version')
    )
    op.create_table('optin_requests',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('list_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=16), nullable=False),
    sa.Column('channel_id', sa.Integer(), nullable=True),
    sa.Column('via', sa.String(length=8), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('request_text', sa.Text(), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('evidence', sa.JSON(), nullable=True),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('event_seq', sa.BigInteger(), nullable=True),
    sa.CheckConstraint("via IN ('keyword', 'form')", name=op.f('ck_optin_requests_via')),
    sa.CheckConstraint("status IN ('pending', 'confirmed', 'expired', 'canceled')", name=op.f('ck_optin_requests_status')),
    sa.ForeignKeyConstraint(['list_id'], ['lists.id'], name=op.f('fk_optin_requests_list_id_lists'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_optin_requests_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_optin_requests'))
    )
    with op.batch_alter_table('optin_requests', schema=None) as batch_op:
        batch_op.create_index('ix_optin_requests_status_expires', ['status', 'expires_at'], unique=False)
        batch_op.create_index('ix_optin_requests_ws_number', ['workspace_id', 'number'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('optin_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_optin_requests_ws_number')
        batch_op.drop_index('ix_optin_requests_status_expires')
    op.drop_table('optin_requests')
    op.drop_table('consent_text_versions')
    with op.batch_alter_table('list_joins', schema=None) as batch_op:
        batch_op.drop_index('ix_list_joins_workspace')
    op.drop_table('list_joins')
    with op.batch_alter_table('ledger_checkpoints', schema=None) as batch_op:
        batch_op.drop_index('ix_ledger_checkpoints_workspace_seq')
    op.drop_table('ledger_checkpoints')
