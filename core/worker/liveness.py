"""Whether a run's worker is alive: the worker executing a Celery run holds a PostgreSQL
advisory lock named after the run, on a connection of its own, for as long as it executes
it. The server releases the lock the moment that worker's process dies (its connection
closes), so a redelivered task knows at once whether the run's worker is gone, without
waiting for its heartbeat to go stale.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from core.db import Database

LOCK_CLASS = 0x45585452  # 'EXTR': the advisory locks' first key; the run id is the second


@contextmanager
def holding(db: Database, run_id: int) -> Iterator[bool]:
    """Try to take the run's lock for the block: True if taken (no live worker holds it),
    False if another worker holds it. Released when the block ends."""
    with db.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        taken = bool(conn.scalar(text("SELECT pg_try_advisory_lock(:c, :r)"),
                                 {"c": LOCK_CLASS, "r": run_id}))
        try:
            yield taken
        finally:
            if taken:
                with suppress(DBAPIError):  # a broken connection released it already
                    conn.execute(text("SELECT pg_advisory_unlock(:c, :r)"),
                                 {"c": LOCK_CLASS, "r": run_id})


def is_held(db: Database, run_id: int) -> bool:
    """Whether a live worker holds the run's lock now."""
    with holding(db, run_id) as taken:
        return not taken
