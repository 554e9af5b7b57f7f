"""the state an Airbyte source or Singer tap ended an extract's last read with

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 21:40:00

One row per extract, written in the transaction that loads the run's window (so a state
never runs ahead of the rows), deleted with the extract.
"""

from __future__ import annotations

import sqlalchemy as sa

import core.models
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'source_states',
        sa.Column('extract_id', sa.Integer(), nullable=False),
        sa.Column('state', sa.JSON(), nullable=False),
        sa.Column('updated_at', core.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['extract_id'], ['extracts.id'],
                                name=op.f('fk_source_states_extract_id_extracts'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('extract_id', name=op.f('pk_source_states')),
    )


def downgrade() -> None:
    op.drop_table('source_states')
