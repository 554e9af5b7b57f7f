"""Real `python -m core.worker` processes: killed mid-run and restarted; two at once."""

from __future__ import annotations

import itertools
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core import schemas, service
from core.clock import utcnow
from core.db import Database
from core.models import Run
from tests import workers
from tests.conftest import make_extract

pytestmark = pytest.mark.slow


@pytest.fixture
def spawn(db: Database) -> Iterator[Callable[[], subprocess.Popen[str]]]:
    """Start worker processes on the test's database; kill any still running at the end."""
    with workers.spawner(workers.worker_env(db)) as start:
        yield start


def wait_for(what: Callable[[], Any], timeout: float = 30.0, every: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = what()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s")


def stop(process: subprocess.Popen[str]) -> str:
    """SIGTERM a worker; it must exit cleanly and soon. Returns what it logged."""
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=25)
    assert process.returncode == 0, output
    assert "stopped" in output
    return output


LEASE_EVENT = re.compile(r"(holds the scheduler lease since|lost the scheduler lease: held until"
                         r"|gives up the scheduler lease at) (\S+)")


def lease_terms(output: str) -> list[tuple[datetime, datetime]]:
    """When a worker held the scheduler lease, from its log: [(since, until), ...]."""
    terms: list[tuple[datetime, datetime]] = []
    since: datetime | None = None
    for event, moment in LEASE_EVENT.findall(output):
        at = datetime.fromisoformat(moment)
        if event.startswith("holds"):
            assert since is None, output
            since = at
        else:
            assert since is not None, output
            terms.append((since, at))
            since = None
    assert since is None, f"the worker exited holding the lease:\n{output}"
    return terms


def big_queued_run(session: Session) -> tuple[schemas.ExtractOut, int]:
    """A queued manual run of 100,000 rows (long enough to interrupt): the extract, the run id.

    The worker processes read the wall clock, so the extract's schedule lies 12 hours from
    now: the default one (daily 00:00 UTC) would fire during a test run between 00:00 and
    01:00 UTC and load days the test does not expect.
    """
    connection = service.create_connection(session=session, data={
        "datasource": "sample_ads", "title": "Big", "config": {"rows_per_day": 20_000}})
    far_off = (utcnow() + timedelta(hours=12)).hour
    extract = make_extract(session, accounts=[connection.accounts[0].id],
                           data_table_title="Big stats",
                           schedules=[{"frequency": "daily", "hour": far_off, "minute": 0}])
    [run] = service.run_extract(session=session, extract_id=extract.id,
                                date_from=date(2026, 11, 24), date_to=date(2026, 11, 28))
    session.commit()
    return extract, run.id


def run_status(db: Database, run_id: int) -> str:
    with db.session() as s:
        return str(s.scalar(select(Run.status).where(Run.id == run_id)))


def test_a_worker_killed_mid_run_is_recovered_and_each_row_loaded_once(
        db: Database, session: Session, spawn: Callable[[], subprocess.Popen[str]]) -> None:
    extract, run_id = big_queued_run(session)

    def status() -> str:
        return run_status(db, run_id)

    first = spawn()
    wait_for(lambda: status() == "running")
    first.kill()  # SIGKILL: no chance to clean up
    first.communicate(timeout=10)
    assert status() == "running"
    # Time passes: the dead worker's heartbeat goes stale (injected, not slept).
    with db.session() as s:
        s.execute(update(Run).where(Run.id == run_id)
                  .values(heartbeat_at=utcnow() - timedelta(minutes=2)))

    second = spawn()

    def retried() -> tuple[int, int, int | None] | None:
        with db.session() as s:
            done = s.scalar(select(Run).where(Run.trigger == "retry",
                                              Run.status == "succeeded"))
            return None if done is None else (done.id, done.attempts, done.rows)

    retry_id, attempts, loaded = wait_for(retried, timeout=40, every=0.2)
    output = stop(second)

    assert status() == "failed"
    with db.session() as s:
        dead = s.get(Run, run_id)
        assert dead is not None and dead.error == "worker stopped during the run"
    assert (attempts, loaded) == (2, 5 * 20_000)
    table = service.get_data_table(session=session, data_table_id=extract.data_table_id)
    rows = db.warehouse.read_rows(table.table_name, limit=1_000_000)
    assert len(rows) == 5 * 20_000
    assert not rows.duplicated(["date", "campaign_id"]).any()
    assert set(rows["__run_id"]) == {retry_id}
    assert "worker stopped during the run" in output


def test_two_worker_processes_fire_each_schedule_exactly_once(
        db: Database, session: Session, spawn: Callable[[], subprocess.Popen[str]]) -> None:
    # Daily schedules whose fire time passed 10 minutes ago (after the extracts were made):
    # a starting worker catches each up once, within the grace period.
    fire = utcnow() - timedelta(minutes=10)
    made = [make_extract(session, accounts=[1 + i % 3], schedules=[
        {"frequency": "daily", "hour": fire.hour, "minute": fire.minute}]) for i in range(6)]
    session.commit()

    workers = [spawn(), spawn()]

    def finished() -> bool:
        with db.session() as s:
            done = s.scalar(select(func.count(Run.id)).where(Run.trigger == "schedule",
                                                             Run.status == "succeeded"))
            return done == len(made)

    wait_for(finished, timeout=40, every=0.2)
    time.sleep(2.5)  # one more schedule sync and lease poll in both: still nothing doubles
    outputs = [stop(w) for w in workers]

    with db.session() as s:
        fired = sorted(s.scalars(select(Run.extract_id).where(Run.trigger == "schedule")))
    assert fired == sorted(e.id for e in made)
    # The lease may pass from one worker to the other (the first gives it up when it is
    # stopped; under load the second may take it before it is stopped too), but no two
    # workers ever hold it at once.
    terms = sorted(term for out in outputs for term in lease_terms(out))
    assert terms, outputs
    assert all(end <= start for (_, end), (start, _) in itertools.pairwise(terms)), outputs


def test_sigterm_lets_the_run_in_flight_finish_then_exits_cleanly(
        db: Database, session: Session, spawn: Callable[[], subprocess.Popen[str]]) -> None:
    _, run_id = big_queued_run(session)

    def status() -> str:
        return run_status(db, run_id)

    process = spawn()
    wait_for(lambda: status() == "running")
    output = stop(process)  # SIGTERM mid-run

    assert status() == "succeeded"
    assert "received SIGTERM" in output
