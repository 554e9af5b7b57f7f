"""Deleting an extract with its rows while another extract's load is under way (SQLite, the
default): the delete waits for the load instead of each waiting for the other's lock until
the busy timeout fails one of them."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from core import errors, runner, service
from core.db import Database, open_database
from core.models import Extract
from tests.conftest import make_extract, make_settings
from tests.core.test_fencing import before_the_commit, queue_week
from tests.core.test_postgres import table_of

# Long enough that a wait that must end (the delete's, for the load's commit) always does on
# a loaded machine; a lock order that deadlocks fails one side only after it.
BUSY_TIMEOUT = 20


@pytest.fixture
def slow_db(tmp_path: Path) -> Iterator[Database]:
    db = open_database(make_settings(tmp_path, busy_timeout=BUSY_TIMEOUT), seed=True)
    yield db
    db.dispose()


def metadata_write_locked(db: Database) -> bool:
    """Whether some connection holds the metadata database's write lock now."""
    path = db.engine.url.database
    assert path is not None
    probe = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError:
        return True
    finally:
        probe.close()


def extract_exists(db: Database, extract_id: int) -> bool:
    with db.session(read_only=True) as s:
        return s.scalar(select(Extract.id).where(Extract.id == extract_id)) is not None


def test_a_delete_with_rows_during_another_load_waits_for_it_and_both_succeed(
        slow_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    db = slow_db
    with db.session() as s:
        loading_one = make_extract(s).id
        deleted_one = make_extract(s, accounts=[2]).id  # the same data table
    assert runner.execute_run(db=db, run_id=queue_week(db, deleted_one)).status == "succeeded"
    table = table_of(db, loading_one)
    assert table_of(db, deleted_one) == table
    kept = db.warehouse.count_rows(table, extract_id=deleted_one)
    assert kept > 0
    outcome: dict[str, object] = {}

    def delete() -> None:
        try:
            with db.session() as s:
                outcome["rows"] = service.delete_extract(session=s, extract_id=deleted_one,
                                                         delete_rows=True)
        except Exception as exc:  # reported by the assertions below
            outcome["error"] = exc

    deleter = threading.Thread(target=delete)

    def delete_meanwhile() -> None:
        """Inside the load's warehouse transaction, its rows written: the delete starts and
        goes as far as it can (it holds the metadata lock, or has committed) before the load
        goes on to its commit."""
        deleter.start()
        deadline = time.monotonic() + BUSY_TIMEOUT
        while (deleter.is_alive() and not metadata_write_locked(db)
               and extract_exists(db, deleted_one)):
            assert time.monotonic() < deadline, "the delete never began"
            time.sleep(0.01)

    before_the_commit(monkeypatch, delete_meanwhile)
    run = runner.execute_run(db=db, run_id=queue_week(db, loading_one))
    deleter.join(BUSY_TIMEOUT * 3)

    assert not deleter.is_alive()
    assert run.status == "succeeded", run.error
    assert "error" not in outcome, outcome
    assert not extract_exists(db, deleted_one)
    assert db.warehouse.count_rows(table, extract_id=deleted_one) == 0
    assert outcome["rows"] == kept
    assert db.warehouse.count_rows(table, extract_id=loading_one) == run.rows


def test_rows_that_cannot_be_deleted_are_named_with_the_statement_that_deletes_them(
        tmp_path: Path) -> None:
    db = open_database(make_settings(tmp_path, busy_timeout=1, run_timeout=1), seed=True)
    with db.session() as s:
        extract_id = make_extract(s).id
    assert runner.execute_run(db=db, run_id=queue_week(db, extract_id)).status == "succeeded"
    table = table_of(db, extract_id)
    rows = db.warehouse.count_rows(table, extract_id=extract_id)
    path = db.warehouse.engine.url.database
    assert path is not None
    holder = sqlite3.connect(path, isolation_level=None)  # a write that never ends
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(errors.Conflict) as raised, db.session() as s:
            service.delete_extract(session=s, extract_id=extract_id, delete_rows=True)
    finally:
        holder.execute("ROLLBACK")
        holder.close()

    assert str(raised.value) == (
        f"extract {extract_id} was deleted, but not its rows in data table 'Campaign stats': "
        "database is locked; delete them in the warehouse with: "
        f'DELETE FROM "{table}" WHERE __extract_id = {extract_id}')
    assert not extract_exists(db, extract_id)  # the delete itself stands
    assert db.warehouse.count_rows(table, extract_id=extract_id) == rows
    with db.warehouse.engine.begin() as conn:  # and the statement said does the rest
        conn.exec_driver_sql(f'DELETE FROM "{table}" WHERE __extract_id = {extract_id}')
    assert db.warehouse.count_rows(table, extract_id=extract_id) == 0
    db.dispose()
