"""users with roles, API keys that belong to them, and the audit log

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 03:00:00

Keys made before roles existed keep doing everything they did: they become admin keys
without an owner, as the CLI's bootstrap keys are.
"""

from __future__ import annotations

import sqlalchemy as sa

import core.models
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'users',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('email', sa.String(length=320), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('role', sa.String(length=16), nullable=False),
        sa.Column('created_at', core.models.UTCDateTime(), nullable=False),
        sa.Column('last_seen_at', core.models.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
        sa.UniqueConstraint('email', name=op.f('uq_users_email')),
        sqlite_autoincrement=True,
    )
    op.create_table(
        'audit_events',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('at', core.models.UTCDateTime(), nullable=False),
        sa.Column('actor', sa.String(length=400), nullable=False),
        sa.Column('actor_kind', sa.String(length=16), nullable=False),
        sa.Column('action', sa.String(length=32), nullable=False),
        sa.Column('object_type', sa.String(length=32), nullable=False),
        sa.Column('object_id', sa.Integer(), nullable=True),
        sa.Column('object_title', sa.String(length=400), nullable=False),
        sa.Column('changes', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events')),
        sqlite_autoincrement=True,
    )
    op.create_index('ix_audit_at', 'audit_events', ['at'])
    op.create_index('ix_audit_object', 'audit_events', ['object_type', 'object_id'])
    op.create_index('ix_audit_actor', 'audit_events', ['actor'])
    with op.batch_alter_table('api_keys', schema=None,
                              table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.add_column(sa.Column('role', sa.String(length=16), nullable=False,
                                      server_default='admin'))
        batch_op.add_column(sa.Column('user_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_api_keys_user_id'), ['user_id'])
        batch_op.create_foreign_key(batch_op.f('fk_api_keys_user_id_users'), 'users',
                                    ['user_id'], ['id'], ondelete='CASCADE')


def downgrade() -> None:
    with op.batch_alter_table('api_keys', schema=None,
                              table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_api_keys_user_id_users'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_api_keys_user_id'))
        batch_op.drop_column('user_id')
        batch_op.drop_column('role')
    op.drop_index('ix_audit_actor', table_name='audit_events')
    op.drop_index('ix_audit_object', table_name='audit_events')
    op.drop_index('ix_audit_at', table_name='audit_events')
    op.drop_table('audit_events')
    op.drop_table('users')
