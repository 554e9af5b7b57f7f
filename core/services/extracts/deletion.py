"""Deleting an extract with its schedules and runs, and its rows once that has committed."""

from __future__ import annotations

import time

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from core import errors
from core.db import Database, after_commit, database_of, disk_full, locked
from core.models import Extract, Run
from core.services.common import load
from core.vocabulary import RunStatus


def delete_extract(*, session: Session, extract_id: int, delete_rows: bool = False) -> int:
    """Delete an extract with its schedules and runs; its rows stay unless asked. Returns the
    number of rows deleted from the data table."""
    extract = load(session, Extract, extract_id, "extract")
    running = session.scalar(select(Run.id).where(Run.extract_id == extract_id,
                                                  Run.status == RunStatus.RUNNING).limit(1))
    if running is not None:
        raise errors.Conflict(f"extract {extract_id} has run {running} in progress; cancel "
                              "it first, then delete")
    table = extract.data_table
    for run in session.scalars(select(Run).where(Run.extract_id == extract_id)):
        session.delete(run)
    session.delete(extract)
    session.flush()
    if not delete_rows:
        return 0
    database = database_of(session)
    # No run of the extract is left to write more of them: these are the rows to go.
    rows = database.warehouse.count_rows(table.table_name, extract_id)
    # After the commit: a load of another extract holds the warehouse's write lock until
    # its commit, which takes the metadata's; waiting for the warehouse while holding the
    # metadata's lock (as this session does until it commits) leaves each waiting for the
    # other until the busy timeout fails one.
    table_name, title = table.table_name, table.title  # read now: the ORM's expire at commit
    after_commit(session, lambda: _delete_rows(database, table_name, title, extract_id))
    return rows


def _delete_rows(database: Database, table_name: str, title: str, extract_id: int) -> None:
    """Delete a deleted extract's rows, waiting for the loads under way as long as a run
    may take; the error says how to delete them by hand if that fails."""
    deadline = time.monotonic() + database.settings.run_timeout
    while True:
        try:
            database.warehouse.delete_rows(table_name, extract_id)
            return
        except SQLAlchemyError as exc:
            if locked(exc) and time.monotonic() < deadline:
                continue  # each try waited the busy timeout for a load to commit
            raise errors.Conflict(
                f"extract {extract_id} was deleted, but not its rows in data table "
                f"{title!r}: {locked(exc) or disk_full(exc) or exc}; delete them in the "
                f"warehouse with: DELETE FROM \"{table_name}\" WHERE __extract_id = "
                f"{extract_id}") from None
