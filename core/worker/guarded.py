"""Guarded UPDATEs: how processes that share the database change a row without locking it."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Update


def rows_updated(session: Session, statement: Update) -> int:
    """Rows changed by a guarded UPDATE (0 means someone else got there first)."""
    result: Any = session.execute(statement.execution_options(synchronize_session=False))
    return int(result.rowcount)
