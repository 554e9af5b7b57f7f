"""Alembic environment: migrations run on the connection that core.db.migrate passes in."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from core.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is None:  # the alembic CLI: `alembic -x url=sqlite:///... revision ...`
        url = context.get_x_argument(as_dictionary=True).get("url", "sqlite:///var/extracts.db")
        with create_engine(url).begin() as conn:
            context.configure(connection=conn, target_metadata=target_metadata,
                              render_as_batch=True)
            context.run_migrations()
        return
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=True)
    context.run_migrations()


run_migrations()
