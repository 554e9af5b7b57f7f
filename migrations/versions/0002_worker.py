"""worker: the scheduler lease and each schedule's last fire time

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 12:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.models


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('leases',
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('holder', sa.String(length=100), nullable=False),
    sa.Column('expires_at', core.models.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_leases'))
    )
    op.create_table('schedule_fires',
    sa.Column('schedule_id', sa.Integer(), nullable=False),
    sa.Column('fired_at', core.models.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['schedule_id'], ['schedules.id'], name=op.f('fk_schedule_fires_schedule_id_schedules'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('schedule_id', name=op.f('pk_schedule_fires'))
    )


def downgrade() -> None:
    op.drop_table('schedule_fires')
    op.drop_table('leases')
