"""A run's log: the one way a line is written (and read back) in `Run.log`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.vocabulary import LogLevel


def line(at: datetime, level: LogLevel, message: str) -> dict[str, Any]:
    """One log line as it is stored: when (aware ISO), how serious, what happened."""
    return {"at": at.isoformat(), "level": str(level), "message": message}


def append(run: Any, at: datetime, level: LogLevel, *messages: str) -> None:
    """Add lines to `run.log` (a new list, so the ORM sees the JSON column change)."""
    run.log = [*run.log, *(line(at, level, message) for message in messages)]
