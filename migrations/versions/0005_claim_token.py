"""claim token: fences a run's load against a worker that lost its claim

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 00:30:00

Every claim of a run sets a new random token; release, recovery and the run's end clear it.
The load's final transaction commits only while the run still carries the token its worker
was given (checked with the run's row locked), so a worker that lost the run never writes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claim_token', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_column('claim_token')
