"""schema drift: templates marked gone, extracts that found their source's schema changed

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 02:45:00

A refresh marks a template that disappeared from its source as gone (kept while extracts use
it); a run that finds a selected field missing or retyped records why on its extract, which
shows "schema changed" until a run passes the check or its fields are edited.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('templates', schema=None) as batch_op:
        batch_op.add_column(sa.Column('gone_at', sa.DateTime(), nullable=True))
    with op.batch_alter_table('extracts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('schema_drift', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('extracts', schema=None) as batch_op:
        batch_op.drop_column('schema_drift')
    with op.batch_alter_table('templates', schema=None) as batch_op:
        batch_op.drop_column('gone_at')
