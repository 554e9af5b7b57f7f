"""SIGKILL in the middle of the swap (PostgreSQL: while the worker's DELETE + COPY
transaction is open): the old rows stay until a new load commits, then each row is there once."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select, text, update

from core import service
from core.clock import utcnow
from core.db import Database
from core.models import Run
from core.worker import recovery
from tests.core.test_fencing_processes import (
    DAYS,
    ROWS_PER_DAY,
    big_queued_run,
    window_rows,
)
from tests.core.test_worker_process import run_status, wait_for
from tests.workers import start, stop_all, worker_env

pytestmark = pytest.mark.slow


@pytest.fixture
def workers(pg_db: Database) -> Iterator[list[subprocess.Popen[str]]]:
    """Worker processes started by the test on its PostgreSQL databases; killed at the end."""
    started: list[subprocess.Popen[str]] = []
    yield started
    stop_all(started)


def start_worker(db: Database, started: list[subprocess.Popen[str]]) -> subprocess.Popen[str]:
    return start(worker_env(db), started)


def copying(db: Database) -> bool:
    """Whether a backend is in the middle of a COPY into the warehouse (the swap is open)."""
    with db.warehouse.engine.connect() as conn:
        return bool(conn.scalar(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND state = 'active' AND query ILIKE 'COPY %'")))


def test_a_worker_killed_during_the_swap_leaves_the_old_rows_then_the_retry_loads_once(
        pg_db: Database, workers: list[subprocess.Popen[str]]) -> None:
    db = pg_db
    with db.session() as session:
        extract_id, first_id, table = big_queued_run(session)
    loader = start_worker(db, workers)
    wait_for(lambda: run_status(db, first_id) == "succeeded", timeout=180, every=0.2)
    with db.session() as session:
        [second] = service.run_extract(session=session, extract_id=extract_id,
                                       date_from=service.get_run(
                                           session=session, run_id=first_id).date_from,
                                       date_to=service.get_run(
                                           session=session, run_id=first_id).date_to)

    wait_for(lambda: run_status(db, second.id) == "running" and copying(db), timeout=180,
             every=0.05)
    loader.kill()  # SIGKILL inside the open DELETE + COPY transaction
    loader.communicate(timeout=10)

    # The old rows are all there, once: the killed transaction never committed.
    wait_for(lambda: not copying(db), timeout=60, every=0.1)
    assert window_rows(db, table, extract_id) == (DAYS * ROWS_PER_DAY, DAYS * ROWS_PER_DAY,
                                                  {first_id})
    # Time passes: the dead worker's heartbeat goes stale (injected, not slept).
    with db.session() as s:
        s.execute(update(Run).where(Run.id == second.id)
                  .values(heartbeat_at=utcnow() - timedelta(minutes=2)))
    assert recovery.recover_stale_runs(db, utcnow()) == [second.id]
    with db.session() as s:
        retry_id = s.scalar(select(Run.id).where(Run.trigger == "retry"))
    start_worker(db, workers)
    wait_for(lambda: run_status(db, retry_id) == "succeeded", timeout=180, every=0.2)

    assert run_status(db, second.id) == "failed"
    assert window_rows(db, table, extract_id) == (DAYS * ROWS_PER_DAY, DAYS * ROWS_PER_DAY,
                                                  {retry_id})
