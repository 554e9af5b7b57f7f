"""alerts: notification channels, alert rules, open alerts, the delivery outbox and who gets
the daily digest

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 21:09:09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.models

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('alert_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('events', sa.JSON(), nullable=False),
    sa.Column('channel_ids', sa.JSON(), nullable=False),
    sa.Column('extract_ids', sa.JSON(), nullable=False),
    sa.Column('data_table_ids', sa.JSON(), nullable=False),
    sa.Column('connection_ids', sa.JSON(), nullable=False),
    sa.Column('datasources', sa.JSON(), nullable=False),
    sa.Column('stale_after_hours', sa.Integer(), nullable=True),
    sa.Column('muted_until', core.models.UTCDateTime(), nullable=True),
    sa.Column('created_at', core.models.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_rules')),
    sqlite_autoincrement=True
    )
    op.create_table('notification_channels',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('config', sa.JSON(), nullable=False),
    sa.Column('secrets', sa.Text(), nullable=False),
    sa.Column('created_at', core.models.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_channels')),
    sqlite_autoincrement=True
    )
    op.create_table('deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.String(length=64), nullable=False),
    sa.Column('event', sa.String(length=40), nullable=False),
    sa.Column('channel_id', sa.Integer(), nullable=False),
    sa.Column('extract_id', sa.Integer(), nullable=True),
    sa.Column('alert_id', sa.Integer(), nullable=True),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', core.models.UTCDateTime(), nullable=False),
    sa.Column('next_attempt_at', core.models.UTCDateTime(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_attempt_at', core.models.UTCDateTime(), nullable=True),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('delivered_at', core.models.UTCDateTime(), nullable=True),
    sa.Column('once_key', sa.String(length=120), nullable=True),
    sa.ForeignKeyConstraint(['channel_id'], ['notification_channels.id'],
                            name=op.f('fk_deliveries_channel_id_notification_channels'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deliveries')),
    sa.UniqueConstraint('once_key', name=op.f('uq_deliveries_once_key')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_deliveries_channel', ['channel_id', 'id'], unique=False)
        batch_op.create_index('ix_deliveries_due', ['status', 'next_attempt_at'], unique=False)

    op.create_table('alerts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('extract_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('open_key', sa.String(length=80), nullable=True),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.Column('opened_at', core.models.UTCDateTime(), nullable=False),
    sa.Column('last_notified_at', core.models.UTCDateTime(), nullable=False),
    sa.Column('reminders', sa.Integer(), nullable=False),
    sa.Column('acknowledged_at', core.models.UTCDateTime(), nullable=True),
    sa.Column('acknowledged_by', sa.String(length=400), nullable=True),
    sa.Column('closed_at', core.models.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['extract_id'], ['extracts.id'],
                            name=op.f('fk_alerts_extract_id_extracts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alerts')),
    sa.UniqueConstraint('open_key', name=op.f('uq_alerts_open_key')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.create_index('ix_alerts_extract', ['extract_id', 'closed_at'], unique=False)

    op.create_table('digest_subscriptions',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', core.models.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'],
                            name=op.f('fk_digest_subscriptions_user_id_users'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_digest_subscriptions'))
    )



def downgrade() -> None:
    op.drop_table('digest_subscriptions')
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_index('ix_alerts_extract')

    op.drop_table('alerts')
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_deliveries_due')
        batch_op.drop_index('ix_deliveries_channel')

    op.drop_table('deliveries')
    op.drop_table('notification_channels')
    op.drop_table('alert_rules')
