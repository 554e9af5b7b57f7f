"""The fence with real `python -m core.worker` processes: a worker stopped (SIGTERM) or
paused (SIGSTOP) mid-load never commits a run it lost; the window holds each row once."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, select, text, update
from sqlalchemy.orm import Session

from core import service
from core.clock import utcnow
from core.db import Database
from core.models import Run
from core.worker import recovery
from tests import workers
from tests.conftest import make_extract
from tests.core.test_worker_process import run_status, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.both_databases]
GRACE = 0  # EXTRACTS_SHUTDOWN_GRACE of the workers here: none, so the big run outlasts it
# on any machine
BOUND = GRACE + 10  # README, "Processes": a worker exits within SHUTDOWN_GRACE + 10 s
DAYS, ROWS_PER_DAY = 5, 150_000  # a load of several seconds


@pytest.fixture
def spawn(db: Database) -> Iterator[Callable[[], subprocess.Popen[str]]]:
    """Start worker processes on the test's databases; kill any still running at the end."""
    with workers.spawner(workers.worker_env(db, EXTRACTS_SHUTDOWN_GRACE=str(GRACE))) as start:
        yield start


def big_queued_run(session: Session) -> tuple[int, int, str]:
    """A queued manual run of DAYS * ROWS_PER_DAY rows: the extract, the run, the table."""
    connection = service.create_connection(session=session, data={
        "datasource": "sample_ads", "title": "Big", "config": {"rows_per_day": ROWS_PER_DAY}})
    far_off = (utcnow() + timedelta(hours=12)).hour  # no schedule fires during the test
    extract = make_extract(session, accounts=[connection.accounts[0].id],
                           data_table_title="Big stats",
                           schedules=[{"frequency": "daily", "hour": far_off, "minute": 0}])
    [run] = service.run_extract(session=session, extract_id=extract.id,
                                date_from=date(2026, 11, 24),
                                date_to=date(2026, 11, 23) + timedelta(days=DAYS))
    table = service.get_data_table(session=session, data_table_id=extract.data_table_id)
    session.commit()
    return extract.id, run.id, table.table_name


def window_rows(db: Database, table_name: str, extract_id: int) -> tuple[int, int, set[int]]:
    """Every row of the window: the count, the distinct keys, the runs that wrote them."""
    with db.warehouse.engine.connect() as conn:
        rows = conn.execute(text(
            f'SELECT date, campaign_id, __run_id FROM "{table_name}" '
            "WHERE __extract_id = :e"), {"e": extract_id}).all()
    return len(rows), len({(str(d)[:10], c) for d, c, _ in rows}), {int(r) for *_, r in rows}


def loading(db: Database, run_id: int) -> str | None:
    """The id of the worker loading the run, once its attempt started."""
    with db.session() as s:
        run = s.get(Run, run_id)
        assert run is not None
        started = any("started" in line["message"] for line in run.log)
        return run.worker_id if run.status == "running" and started else None


def holder(db: Database, run_id: int, workers: list[subprocess.Popen[str]]
           ) -> subprocess.Popen[str] | None:
    """The worker process loading the run, once its attempt started."""
    worker_id = loading(db, run_id)
    if worker_id is None:
        return None
    pid = int(worker_id.split(":")[1])
    return next((w for w in workers if w.pid == pid), None)


def stopped_without_a_write_lock(db: Database, worker: subprocess.Popen[str],
                                 table_name: str) -> bool:
    """SIGSTOP the worker; True once it is stopped where it blocks no other writer (else it
    is let go on and False). A process stopped holding a lock others wait for stops them
    too, whatever the product did, until it is resumed (or, on PostgreSQL, until their
    lock timeout fails them): SQLite has one writer per file; on PostgreSQL the worker must
    be in no metadata transaction, and its data table's CREATE TABLE committed."""
    worker.send_signal(signal.SIGSTOP)
    # The signal is delivered asynchronously: probe only once every thread has stopped, or
    # the worker could take a lock just after the probe found none.
    wait_for(lambda: _stopped(worker.pid), timeout=30, every=0.01)
    if not (_blocks_no_writer(db.engine) and _blocks_no_writer(db.warehouse.engine, table_name)):
        worker.send_signal(signal.SIGCONT)
        return False
    return True


def _stopped(pid: int) -> bool:
    """Whether every thread of the process is stopped (state T in /proc)."""
    try:
        return all((task / "stat").read_text().rsplit(")", 1)[1].split()[0] == "T"
                   for task in Path(f"/proc/{pid}/task").iterdir())
    except FileNotFoundError:  # a thread ended while we looked
        return False


def _blocks_no_writer(engine: Engine, table_name: str | None = None) -> bool:
    """No SQLite write lock held; on PostgreSQL, no transaction open but (in the warehouse)
    a load into `table_name` once that table is created."""
    if engine.dialect.name == "sqlite":
        probe = sqlite3.connect(str(engine.url.database), timeout=0.2)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.rollback()
            return True
        except sqlite3.OperationalError:
            return False
        finally:
            probe.close()
    with engine.connect() as conn:
        if table_name is not None and table_name in inspect(conn).get_table_names():
            return True
        return not conn.scalar(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND xact_start IS NOT NULL"))


def test_a_worker_sigtermed_mid_load_stops_within_the_bound_and_the_window_holds_each_row_once(
        db: Database, session: Session, spawn: Callable[[], subprocess.Popen[str]]) -> None:
    extract_id, run_id, table = big_queued_run(session)
    workers = [spawn(), spawn()]
    first = wait_for(lambda: holder(db, run_id, workers), timeout=60)
    other = next(w for w in workers if w is not first)

    signalled = time.monotonic()
    first.send_signal(signal.SIGTERM)
    output, _ = first.communicate(timeout=60)
    took = time.monotonic() - signalled

    assert first.returncode == 0, output
    assert took <= BOUND, f"exited {took:.1f} s after SIGTERM:\n{output}"
    assert f"released runs [{run_id}]" in output
    assert f"the load of run {run_id} was rolled back" in output
    wait_for(lambda: run_status(db, run_id) == "succeeded", timeout=120, every=0.2)
    other.send_signal(signal.SIGTERM)
    other.communicate(timeout=60)

    assert window_rows(db, table, extract_id) == (DAYS * ROWS_PER_DAY, DAYS * ROWS_PER_DAY,
                                                  {run_id})
    with db.session() as s:
        run = s.get(Run, run_id)
        assert run is not None and (run.rows, run.attempts) == (DAYS * ROWS_PER_DAY, 1)
        assert run.worker_id is not None and int(run.worker_id.split(":")[1]) == other.pid
        assert not [line for line in run.log if "late outcome" in line["message"]], run.log
    print(f"SIGTERM to exit: {took:.1f} s")


def test_a_paused_worker_whose_run_was_recovered_never_commits_it(
        db: Database, session: Session, spawn: Callable[[], subprocess.Popen[str]]) -> None:
    extract_id, run_id, table = big_queued_run(session)
    paused = spawn()
    wait_for(lambda: loading(db, run_id), timeout=60)
    wait_for(lambda: stopped_without_a_write_lock(db, paused, table), timeout=60,
             every=0.05)
    # Time passes: the paused worker's heartbeat goes stale (injected, not slept).
    with db.session() as s:
        s.execute(update(Run).where(Run.id == run_id)
                  .values(heartbeat_at=utcnow() - timedelta(minutes=2)))
    assert recovery.recover_stale_runs(db, utcnow()) == [run_id]
    with db.session() as s:
        retry_id = s.scalar(select(Run.id).where(Run.trigger == "retry"))
    other = spawn()
    wait_for(lambda: run_status(db, retry_id) == "succeeded", timeout=120, every=0.2)

    paused.send_signal(signal.SIGCONT)

    def lost() -> bool:
        with db.session() as s:
            run = s.get(Run, run_id)
            return run is not None and any(f"lost run {run_id}" in line["message"]
                                           for line in run.log)

    try:
        wait_for(lost, timeout=60, every=0.2)
    except AssertionError:
        paused.kill()
        raise AssertionError(paused.communicate(timeout=10)[0]) from None
    outputs = []
    for worker in (paused, other):
        worker.send_signal(signal.SIGTERM)
        outputs.append(worker.communicate(timeout=60)[0])

    assert f"lost run {run_id}" in outputs[0]
    assert run_status(db, run_id) == "failed"
    assert window_rows(db, table, extract_id) == (DAYS * ROWS_PER_DAY, DAYS * ROWS_PER_DAY,
                                                  {retry_id})
