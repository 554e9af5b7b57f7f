"""ids are never reused on SQLite: AUTOINCREMENT on every table whose ids are seen

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 03:00:00

Without AUTOINCREMENT, SQLite gives a new row the largest id + 1: deleting the newest extract
(its rows kept) and creating another gave the new one the old id, and with it the old rows in
the data table (`__extract_id`), its URL and its audit trail. Each table is rebuilt (SQLite
cannot add AUTOINCREMENT in place); core.db.migrate turns foreign keys off around the rebuild
and checks them after. PostgreSQL's sequences never hand out an id twice: nothing to do.
"""

from __future__ import annotations

from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

# Every table with an integer id that appears in data tables, run logs, URLs or the API.
TABLES = ("connections", "accounts", "templates", "data_tables", "extracts", "schedules",
          "runs", "api_keys", "api_tokens")


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in TABLES:
        with op.batch_alter_table(table, recreate="always",
                                  table_kwargs={"sqlite_autoincrement": True}):
            pass


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in TABLES:
        with op.batch_alter_table(table, recreate="always",
                                  table_kwargs={"sqlite_autoincrement": False}):
            pass
