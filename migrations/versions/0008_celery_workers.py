"""celery workers: the live Celery workers and their slots (executor = celery)

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-01 02:45:00

Each Celery worker renews its row while it lives; the dispatcher hands out at most as many
runs as the live workers have slots, and the dashboard shows how many are live.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.models

revision = '0008'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'celery_workers',
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('slots', sa.Integer(), nullable=False),
        sa.Column('seen_at', core.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_celery_workers')),
    )


def downgrade() -> None:
    op.drop_table('celery_workers')
