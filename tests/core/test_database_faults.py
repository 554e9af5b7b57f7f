"""Faults of the databases a run meets: writers racing for the lock (other threads, other
processes; SQLite's write lock, PostgreSQL's row locks) and a full disk."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from core import runner, schemas, service, worker
from core.clock import utcnow
from core.config import Settings
from core.db import Database, open_database
from core.models import Run
from core.worker import executors, run_queue
from tests import needs
from tests.conftest import (
    NOW,
    drop_postgres_database,
    fresh_postgres_database,
    make_extract,
    make_settings,
)
from tests.core.test_worker_process import wait_for
from tests.servers import ROOT
from tests.workers import worker_env

DAY = date(2026, 11, 20)


def open_db(settings: Settings, migrated_template: Path) -> Database:
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(migrated_template, settings.var_dir / "extracts.db")
    return open_database(settings, seed=True)


def first_runs(session: Session, count: int) -> list[int]:
    """`count` extracts, each loading its own new data table; their first runs queued."""
    connection = service.create_connection(session=session, data={
        "datasource": "sample_ads", "title": "Wide", "max_concurrent_runs": count})
    # The worker processes read the wall clock: no schedule may fire during the test.
    far_off = (utcnow() + timedelta(hours=12)).hour
    run_ids = []
    for i in range(count):
        extract = make_extract(session, accounts=[connection.accounts[i % 3].id],
                               data_table_title=f"Stats {i}",
                               schedules=[{"frequency": "daily", "hour": far_off, "minute": 0}])
        [run] = service.run_extract(session=session, extract_id=extract.id, date_from=DAY,
                                    date_to=DAY, now=NOW)
        run_ids.append(run.id)
    session.commit()
    return run_ids


def outcomes(db: Database, run_ids: list[int]) -> dict[str, int]:
    with db.session() as s:
        found = s.execute(select(Run.status, Run.error).where(Run.id.in_(run_ids))).all()
    counted: dict[str, int] = {}
    for status, error in found:
        key = status if error is None else f"{status}: {error}"
        counted[key] = counted.get(key, 0) + 1
    return counted


# -- the write lock ------------------------------------------------------------------------


def test_first_runs_creating_their_tables_at_once_in_threads_all_succeed(
        db: Database, session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    # Without the worker's in-process turn-taking: each thread's connection meets the
    # others in SQLite's lock, exactly as another process's would.
    monkeypatch.setattr(runner, "_SCHEMA_LOCK", contextlib.nullcontext())
    run_ids = first_runs(session, 40)

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda run_id: runner.execute_run(db=db, run_id=run_id), run_ids))

    assert outcomes(db, run_ids) == {"succeeded": 40}


class WorkerProcess:
    """A real `python -m core.worker` whose output is read as it comes."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "core.worker"], cwd=ROOT,
                                        env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def stop(self) -> str:
        """SIGTERM; it must exit cleanly. Returns what it logged."""
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=25)
        self.reader.join(timeout=5)
        assert self.process.returncode == 0, self.output
        return self.output

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.mark.slow
def test_first_runs_creating_their_tables_at_once_in_two_worker_processes_all_succeed(
        db: Database, session: Session) -> None:
    env = worker_env(db, EXTRACTS_MAX_WORKERS="20")
    workers = [WorkerProcess(env) for _ in range(2)]
    try:
        # Both are up before the runs are queued: they race for them from the start.
        wait_for(lambda: all("started" in w.output for w in workers), timeout=60, every=0.1)
        run_ids = first_runs(session, 40)
        wait_for(lambda: sum(outcomes(db, run_ids).get(s, 0)
                             for s in ("queued", "running")) == 0, timeout=90, every=0.2)
        logs = [w.stop() for w in workers]
    finally:
        for w in workers:
            w.kill()

    assert outcomes(db, run_ids) == {"succeeded": 40}, logs
    with db.session() as s:
        by_worker = set(s.scalars(select(Run.worker_id).where(Run.id.in_(run_ids))))
    assert len(by_worker) == 2, "both processes took runs"
    assert all("database is locked" not in out for out in logs), logs


@pytest.fixture
def quick_lock_db(tmp_path: Path, migrated_template: Path) -> Iterator[Database]:
    """A database whose writers wait 1 s for a held lock; it pauses after 1 failed run."""
    database = open_db(make_settings(tmp_path, busy_timeout=1, auto_pause_after=1,
                                     retry_base_delay=10), migrated_template)
    yield database
    database.dispose()


def test_a_lock_held_past_the_busy_timeout_queues_the_run_again_without_pausing(
        quick_lock_db: Database) -> None:
    db = quick_lock_db
    with db.session() as session:
        [run_id] = first_runs(session, 1)
    holder = sqlite3.connect(db.settings.var_dir / "warehouse.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process writing for longer than 1 s
    try:
        claimed = run_queue.claim_next(db, "w1", NOW)
        assert claimed == run_id
        status = executors.carry_out(db, run_id, "w1", lambda: NOW)
    finally:
        holder.execute("ROLLBACK")
        holder.close()

    assert status == "queued"
    with db.session() as s:
        run = service.get_run(session=s, run_id=run_id)
        extract = service.get_extract(session=s, extract_id=run.extract_id)
    assert (run.status, run.attempts) == ("queued", 1)
    assert run.queued_at == NOW + timedelta(seconds=10)  # the backoff of a retry
    assert any("database is locked" in line["message"] for line in run.log)
    assert (extract.status, extract.error_text) == ("syncing", None)  # not paused

    later = NOW + timedelta(seconds=10)
    assert run_queue.claim_next(db, "w1", later) == run_id
    assert executors.carry_out(db, run_id, "w1", lambda: later) == "succeeded"


@pytest.fixture
def pg_quick_lock_db(tmp_path: Path, pg_template: str) -> Iterator[Database]:
    """`quick_lock_db` on PostgreSQL: fresh metadata and warehouse databases."""
    meta, meta_url = fresh_postgres_database(pg_template)
    warehouse, warehouse_url = fresh_postgres_database()
    database = open_database(make_settings(tmp_path, database_url=meta_url,
                                           warehouse_url=warehouse_url, busy_timeout=1,
                                           auto_pause_after=1, retry_base_delay=10), seed=True)
    yield database
    database.dispose()
    drop_postgres_database(meta)
    drop_postgres_database(warehouse)


def test_postgresql_rows_locked_past_the_busy_timeout_queue_the_run_again_without_pausing(
        pg_quick_lock_db: Database) -> None:
    db = pg_quick_lock_db
    with db.session() as session:
        [first] = first_runs(session, 1)
    assert run_queue.claim_next(db, "w1", NOW) == first
    assert executors.carry_out(db, first, "w1", lambda: NOW) == "succeeded"
    with db.session() as s:
        run = service.get_run(session=s, run_id=first)
        table = service.get_data_table(session=s, data_table_id=service.get_extract(
            session=s, extract_id=run.extract_id).data_table_id).table_name
        [again] = service.run_extract(session=s, extract_id=run.extract_id, date_from=DAY,
                                      date_to=DAY, now=NOW)
        s.commit()
    # Another transaction (a worker stopped mid-load) holds the window's rows past 1 s.
    holder = db.warehouse.engine.connect()
    holding = holder.begin()
    holder.execute(text(f'DELETE FROM "{table}"'))
    try:
        assert run_queue.claim_next(db, "w1", NOW) == again.id
        status = executors.carry_out(db, again.id, "w1", lambda: NOW)
    finally:
        holding.rollback()
        holder.close()

    assert status == "queued"
    with db.session() as s:
        retried = service.get_run(session=s, run_id=again.id)
        extract = service.get_extract(session=s, extract_id=retried.extract_id)
    assert (retried.status, retried.attempts) == ("queued", 1)
    assert any("temporary database error: canceling statement due to lock timeout"
               in line["message"] for line in retried.log), retried.log
    assert (extract.status, extract.error_text) == ("syncing", None)  # not paused

    later = NOW + timedelta(seconds=10)
    assert run_queue.claim_next(db, "w1", later) == again.id
    assert executors.carry_out(db, again.id, "w1", lambda: later) == "succeeded"
    with db.session() as s:
        loaded = [service.get_run(session=s, run_id=i).rows for i in (first, again.id)]
    assert loaded[0] and db.warehouse.count_rows(table) == loaded[0] == loaded[1]


# -- a full disk ---------------------------------------------------------------------------

VOLUME_BYTES = 20 << 20


@pytest.fixture
def small_volume(tmp_path: Path) -> Iterator[Path]:
    """A 20 MB tmpfs mounted for the test: the demo data fits, a big run does not."""
    volume = tmp_path / "volume"
    volume.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={VOLUME_BYTES}", "tmpfs",
                              str(volume)], capture_output=True, text=True)
    if mounted.returncode != 0:
        needs.missing(f"cannot mount a tmpfs: {mounted.stderr.strip()}",
                      remedy="run the tests as root, or in a container allowed to mount")
    try:
        yield volume
    finally:
        subprocess.run(["umount", "-l", str(volume)], check=True)


def free_bytes(path: Path) -> int:
    return shutil.disk_usage(path).free


def test_a_full_disk_fails_the_run_at_once_with_the_database_message(
        tmp_path: Path, migrated_template: Path, small_volume: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    settings = make_settings(tmp_path).with_overrides(var_dir=small_volume / "var")
    settings = settings.with_overrides(
        database_url=f"sqlite:///{settings.var_dir}/extracts.db",
        warehouse_url=f"sqlite:///{settings.var_dir}/warehouse.db")
    db = open_db(settings, migrated_template)
    w = worker.Worker(db, fire_schedules=False)
    try:
        with db.session() as session:
            connection = service.create_connection(session=session, data={
                "datasource": "sample_ads", "title": "Big",
                "config": {"rows_per_day": 20_000}})
            big = make_extract(session, accounts=[connection.accounts[0].id],
                               data_table_title="Big stats", schedules=[])
            small = make_extract(session, schedules=[])
        # Other files fill the disk but 6 MB; the big run's 100,000 rows need about 12.
        filler = small_volume / "filler"
        with filler.open("wb") as handle:
            os.posix_fallocate(handle.fileno(), 0, free_bytes(small_volume) - (6 << 20))
        w.start()

        with db.session() as session:
            [run] = service.run_extract(session=session, extract_id=big.id,
                                        date_from=DAY, date_to=DAY + timedelta(days=4))
        failed = wait_for(lambda: finished(db, run.id), timeout=60, every=0.1)

        assert failed.status == "failed"
        assert failed.error is not None
        assert failed.error.startswith("database or disk is full"), failed.error
        with db.session() as session:
            extract = service.get_extract(session=session, extract_id=big.id)
            assert (extract.status, extract.error_text) == ("error", failed.error)
            table = service.get_data_table(session=session, data_table_id=big.data_table_id)
        assert db.warehouse.count_rows(table.table_name) == 0
        # The rolled-back load's pages were given back: the disk is not kept full.
        assert free_bytes(small_volume) > 4 << 20

        filler.unlink()
        with db.session() as session:
            [again] = service.run_extract(session=session, extract_id=small.id,
                                          date_from=DAY, date_to=DAY)
        done = wait_for(lambda: finished(db, again.id), timeout=60, every=0.1)
        assert (done.status, done.error, done.rows) == ("succeeded", None, 20)
    finally:
        w.stop()
        db.dispose()
    tracebacks = [r for r in caplog.records if r.exc_info and r.name.startswith("core")]
    assert not tracebacks, [r.getMessage() for r in tracebacks]


def finished(db: Database, run_id: int) -> schemas.RunOut | None:
    with db.session() as session:
        run = service.get_run(session=session, run_id=run_id)
    return run if run.status in ("succeeded", "failed", "cancelled") else None
