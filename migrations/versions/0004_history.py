"""history: covering indexes on runs for the history aggregations

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 12:30:00

The History page groups the runs of a date range by day and status and reads their rows,
durations and windows (ix_runs_history); per extract it seeks the latest finished runs
(ix_runs_extract_finished) and the newest date loaded (ix_runs_extract_date_to). The indexes
hold every column those queries read, so they never touch the table's rows, which the log
makes wide.
"""

from __future__ import annotations

from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.create_index('ix_runs_history', ['queued_at', 'status', 'extract_id',
                                                  'trigger', 'rows', 'duration_seconds',
                                                  'date_from', 'date_to'], unique=False)
        batch_op.create_index('ix_runs_extract_finished', ['extract_id', 'status',
                                                           'finished_at', 'queued_at', 'rows',
                                                           'date_from', 'date_to'],
                              unique=False)
        batch_op.create_index('ix_runs_extract_date_to', ['extract_id', 'status', 'date_to'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_index('ix_runs_extract_date_to')
        batch_op.drop_index('ix_runs_extract_finished')
        batch_op.drop_index('ix_runs_history')
