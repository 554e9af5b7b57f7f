"""Faults of the databases a run meets that are not its source's: a full disk and a lock
held too long, in words; the reserve that lets a full SQLite disk record the failure."""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

log = logging.getLogger(__name__)


# The two faults a run meets that are not its source's: a full disk (a run that cannot
# finish; the message says so plainly), and a lock another connection held longer than the
# busy timeout (transient: the run is retried later). SQLite says them in words; PostgreSQL
# by SQLSTATE (53100 disk_full; 55P03 lock_not_available, raised by `lock_timeout`).
DISK_FULL = ("database or disk is full", "disk is full")
LOCKED = ("database is locked", "database table is locked")
PG_DISK_FULL, PG_LOCKED = "53100", "55P03"


def _driver_errors(exc: BaseException) -> Iterator[tuple[str | None, str]]:
    """(SQLSTATE or None, first line of the message) of each driver error in `exc`'s
    chain (SQLAlchemy wraps them); SQLite's errors have no SQLSTATE."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        original = getattr(current, "orig", None)
        for error in (current, original):
            if isinstance(error, sqlite3.Error):
                yield None, str(error)
            elif isinstance(state := getattr(error, "sqlstate", None), str):
                yield state, (str(error).strip().splitlines() or [state])[0]
        current = current.__cause__ or current.__context__


def _fault(exc: BaseException, words: tuple[str, ...], sqlstate: str) -> str | None:
    return next((message for state, message in _driver_errors(exc)
                 if (message.lower().startswith(words) if state is None else state == sqlstate)),
                None)


def disk_full(exc: BaseException) -> str | None:
    """The database's message if `exc` says the disk (or the database's size limit) is full."""
    return _fault(exc, DISK_FULL, PG_DISK_FULL)


def locked(exc: BaseException) -> str | None:
    """The database's message if `exc` is a lock held past the busy timeout."""
    return _fault(exc, LOCKED, PG_LOCKED)


# Disk space kept aside next to each SQLite file. A checkpoint copies the log's committed
# pages into the file before it can truncate the log, so on a disk with no byte free even
# the log of a rolled-back load cannot be given back: deleting the reserve makes room.
RESERVE_BYTES = 1 << 20


def _reserve(engine: Engine) -> Path | None:
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).with_name(Path(database).name + "-reserve")


def keep_reserve(engine: Engine) -> None:
    """Set RESERVE_BYTES of disk aside next to a SQLite file, if not yet (best effort)."""
    path = _reserve(engine)
    if path is None or path.exists():
        return
    try:
        with path.open("wb") as handle:
            os.posix_fallocate(handle.fileno(), 0, RESERVE_BYTES)
    except OSError as exc:
        path.unlink(missing_ok=True)
        log.warning("could not set disk space aside at %s: %s", path, exc)


def release_wal(engine: Engine) -> None:
    """Give back the disk space a SQLite file's write-ahead log holds: after a rolled-back
    load it still holds every page the load wrote, and keeps a full disk full."""
    if engine.dialect.name != "sqlite":
        return
    reserve = _reserve(engine)
    if reserve is not None:
        reserve.unlink(missing_ok=True)
    with engine.connect() as conn:
        # On the driver's connection, outside any transaction: inside one (and a BEGIN is
        # what SQLAlchemy's autobegin would emit) the checkpoint cannot reset the log.
        raw: Any = conn.connection.driver_connection
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    keep_reserve(engine)
