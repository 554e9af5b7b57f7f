"""The Celery executor with real processes: Celery workers (`celery -A ... worker`) and
dispatchers (`python -m core.worker`, EXECUTOR=celery) on the real RabbitMQ and PostgreSQL."""

from __future__ import annotations

import os
import signal
import time
from datetime import date, datetime, timedelta
from typing import Any

import psutil
import pytest
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from core import runner, service
from core.clock import utcnow
from core.db import Database
from core.models import Connection, Run
from tests.core import celery_test_app
from tests.core.celery_cluster import Cluster, cluster, queue, wait_for

__all__ = ["celery_test_app", "cluster", "queue"]
pytestmark = pytest.mark.slow
ROWS = 10  # rows per day of the slow source


def slow_connection(session: Session, *, seconds: float, cap: int = 2) -> int:
    connection = service.create_connection(session=session, data={
        "datasource": "slow_source", "title": f"Slow {seconds}",
        "config": {"seconds": seconds, "rows": ROWS}, "max_concurrent_runs": cap})
    return connection.id


def slow_extract(session: Session, connection_id: int, title: str = "Days") -> tuple[int, str]:
    """An extract of the slow source (no schedule fires during a test): its id, its table."""
    [template] = service.list_templates(session=session, datasource="slow_source")
    account = service.list_accounts(session=session, connection_id=connection_id)[0]
    far_off = (utcnow() + timedelta(hours=12)).hour
    [extract] = service.create_extracts(session=session, data={
        "data_table_title": title, "template_id": template.id,
        "template_settings": {"fields": ["date", "n"]}, "accounts": [account.id],
        "schedules": [{"frequency": "daily", "hour": far_off, "minute": 0}]})
    table = service.get_data_table(session=session, data_table_id=extract.data_table_id)
    return extract.id, table.table_name


def queue_run(db: Database, extract_id: int, first: date, last: date) -> int:
    with db.session() as session:
        [run] = service.run_extract(session=session, extract_id=extract_id, date_from=first,
                                    date_to=last)
        return run.id


def runs(db: Database, *ids: int) -> list[Run]:
    with db.session() as session:
        found = list(session.scalars(select(Run).where(Run.id.in_(ids)).order_by(Run.id)))
        session.expunge_all()
        return found


def statuses(db: Database, *ids: int) -> list[str]:
    return [run.status for run in runs(db, *ids)]


def window_rows(db: Database, table: str, extract_id: int) -> list[tuple[Any, ...]]:
    with db.warehouse.engine.connect() as conn:
        return list(conn.execute(text(f'SELECT date, n, __run_id FROM "{table}" '
                                      "WHERE __extract_id = :e"), {"e": extract_id}).all())


def started_lines(run: Run) -> list[str]:
    return [line["message"] for line in run.log if " started (" in line["message"]]


def most_at_once(intervals: list[tuple[datetime, datetime]]) -> int:
    """The most intervals open at one moment."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals],
                    key=lambda e: (e[0], e[1]))
    most = now = 0
    for _, step in events:
        now += step
        most = max(most, now)
    return most


def pid_of(run: Run) -> int:
    assert run.worker_id is not None
    return int(run.worker_id.split(":")[1])


def test_fifty_runs_across_two_celery_workers_each_succeed_once_within_the_connection_cap(
        cluster: Cluster) -> None:
    db = cluster.db
    today = utcnow().date()
    with db.session() as session:
        connection_id = slow_connection(session, seconds=0.2, cap=3)
        extracts = [slow_extract(session, connection_id) for _ in range(10)]
    run_ids = [queue_run(db, extract_id, today - timedelta(days=day), today - timedelta(days=day))
               for extract_id, _ in extracts for day in range(1, 6)]
    assert len(run_ids) == 50
    workers = [cluster.celery_worker("w1", concurrency=2), cluster.celery_worker("w2", 2)]
    cluster.dispatcher()

    wait_for(lambda: set(statuses(db, *run_ids)) == {"succeeded"}, timeout=240, every=0.5,
             why=f"for 50 runs: {statuses(db, *run_ids)}\n{cluster.log('dispatcher')}")

    done = runs(db, *run_ids)
    assert all(run.attempts == 1 and len(started_lines(run)) == 1 for run in done)
    assert all(run.rows == ROWS for run in done)
    assert all(run.started_at and run.finished_at for run in done)
    at_once = most_at_once([(run.started_at, run.finished_at) for run in done
                            if run.started_at and run.finished_at])
    assert 2 <= at_once <= 3, at_once  # parallel, never past max_concurrent_runs
    # Both Celery workers took runs: each run names a pool process of one of them.
    parents = {psutil.Process(pid_of(run)).ppid() for run in done}
    assert parents == {w.pid for w in workers}, (parents, [w.pid for w in workers])
    for extract_id, table in extracts:
        rows = window_rows(db, table, extract_id)
        assert len(rows) == len({(str(d), n) for d, n, _ in rows}) == 5 * ROWS
    assert all(w.poll() is None for w in workers)


def set_seconds(db: Database, connection_id: int, seconds: float) -> None:
    """Make the source slower (or faster) from now on."""
    with db.session() as session:
        session.execute(update(Connection).where(Connection.id == connection_id)
                        .values(config={"seconds": seconds, "rows": ROWS}))


def loaded_window(db: Database, days: int) -> tuple[int, int, str, date, date, int]:
    """An extract whose window of `days` days was loaded once (fast), its source now slow:
    the connection, the extract, its table, the window and the run that loaded it."""
    last = utcnow().date() - timedelta(days=1)
    first = last - timedelta(days=days - 1)
    with db.session() as session:
        connection_id = slow_connection(session, seconds=0.0)
        extract_id, table = slow_extract(session, connection_id)
    old = queue_run(db, extract_id, first, last)
    assert runner.execute_run(db=db, run_id=old).status == "succeeded"
    return connection_id, extract_id, table, first, last, old


def test_a_celery_worker_killed_mid_run_the_run_is_redelivered_and_finishes_on_the_other(
        cluster: Cluster) -> None:
    db = cluster.db
    days = 10
    connection_id, extract_id, table, first, last, old = loaded_window(db, days)
    set_seconds(db, connection_id, 0.5)
    workers = [cluster.celery_worker("w1", concurrency=1), cluster.celery_worker("w2", 1)]
    cluster.dispatcher()
    run_id = queue_run(db, extract_id, first, last)

    def loading() -> Run | None:
        [run] = runs(db, run_id)
        return run if run.status == "running" and started_lines(run) else None

    run = wait_for(loading, timeout=60, why="for the run to start")
    holder = next(w for w in workers if w.pid == psutil.Process(pid_of(run)).ppid())
    other = next(w for w in workers if w is not holder)
    wait_for(lambda: window_rows(db, table, extract_id) and runs(db, run_id)[0].heartbeat_at,
             timeout=10)
    cluster.kill(holder)  # the machine dies: the worker and its pool process
    rows = window_rows(db, table, extract_id)
    assert len(rows) == days * ROWS and {r for *_, r in rows} == {old}  # old rows intact

    wait_for(lambda: statuses(db, run_id) == ["succeeded"], timeout=90, every=0.2,
             why=f"for the redelivered run: {statuses(db, run_id)}")
    [done] = runs(db, run_id)
    assert psutil.Process(pid_of(done)).ppid() == other.pid
    assert done.attempts == 2 and done.rows == days * ROWS
    assert any("is gone (its task was delivered again)" in line["message"]
               for line in done.log), done.log
    rows = window_rows(db, table, extract_id)
    assert len(rows) == len({(str(d), n) for d, n, _ in rows}) == days * ROWS
    assert {r for *_, r in rows} == {run_id}


def lease_holder(db: Database) -> str | None:
    with db.session() as session:
        return service.schedule_firer(session=session, now=utcnow())


def test_the_dispatcher_killed_another_takes_the_lease_and_no_run_is_dispatched_twice(
        cluster: Cluster) -> None:
    db = cluster.db
    today = utcnow().date()
    with db.session() as session:
        connection_id = slow_connection(session, seconds=0.3, cap=2)
        extracts = [slow_extract(session, connection_id) for _ in range(4)]
    run_ids = [queue_run(db, extract_id, today - timedelta(days=day), today - timedelta(days=day))
               for extract_id, _ in extracts for day in range(1, 6)]
    cluster.celery_worker("w1", concurrency=2)
    first = cluster.dispatcher("first")
    wait_for(lambda: lease_holder(db), timeout=30, why="for the first dispatcher to take the lease")
    second = cluster.dispatcher("second")
    wait_for(lambda: "started" in cluster.log("second"), timeout=60)
    wait_for(lambda: sum(s == "succeeded" for s in statuses(db, *run_ids)) >= 4, timeout=60)
    first_id = lease_holder(db)
    assert first_id is not None and int(first_id.split(":")[1]) == first.pid

    cluster.kill(first)
    assert statuses(db, *run_ids).count("succeeded") < len(run_ids)  # killed mid-way

    wait_for(lambda: set(statuses(db, *run_ids)) == {"succeeded"}, timeout=120, every=0.5,
             why=f"for the rest of the runs: {statuses(db, *run_ids)}")
    for run in runs(db, *run_ids):
        dispatched = [line for line in run.log if "dispatched to" in line["message"]]
        assert (len(dispatched), run.attempts, len(started_lines(run))) == (1, 1, 1), run.log
    def new_holder() -> str | None:
        holder = lease_holder(db)
        return holder if holder != first_id else None

    took_over = wait_for(new_holder, timeout=60, why="for the second to take the lease")
    assert int(took_over.split(":")[1]) == second.pid


def cancel(db: Database, run_id: int) -> None:
    with db.session() as session:
        service.cancel_run(session=session, run_id=run_id)


def running_with_a_chunk_in(db: Database, run_id: int) -> bool:
    [run] = runs(db, run_id)
    return run.status == "running" and bool(started_lines(run))


@pytest.mark.parametrize("seconds", [0.5, 600.0], ids=["between-chunks", "stuck-in-a-chunk"])
def test_a_cancelled_celery_run_stops_within_seconds_and_the_window_stays_as_it_was(
        cluster: Cluster, seconds: float) -> None:
    """Between chunks the run stops by itself; a run stuck inside one chunk (a source that
    never answers) has its task terminated CANCEL_GRACE seconds after the cancel."""
    db = cluster.db
    cluster.extra_env["EXTRACTS_CANCEL_GRACE"] = "2"
    days = 30
    connection_id, extract_id, table, first, last, old = loaded_window(db, days)
    before = sorted(window_rows(db, table, extract_id))
    set_seconds(db, connection_id, seconds)
    worker = cluster.celery_worker("w1", concurrency=1)
    cluster.dispatcher()
    run_id = queue_run(db, extract_id, first, last)
    wait_for(lambda: running_with_a_chunk_in(db, run_id), timeout=60)

    cancel(db, run_id)
    asked = time.monotonic()
    wait_for(lambda: statuses(db, run_id) == ["cancelled"], timeout=30, every=0.1,
             why=f"for the cancel: {statuses(db, run_id)}\n{cluster.log('dispatcher')}")
    took = time.monotonic() - asked
    assert took < 12, took

    [run] = runs(db, run_id)
    assert run.error is not None and run.error.startswith("cancelled: by request"), run.error
    if seconds > 60:
        assert "its task was terminated after 2 s" in run.error
    assert sorted(window_rows(db, table, extract_id)) == before
    assert {r for *_, r in before} == {old}
    with db.session() as session:
        extract = service.get_extract(session=session, extract_id=extract_id)
        assert extract.status != "syncing"
    assert worker.poll() is None  # the worker lives on (a new pool process if one was killed)
    print(f"cancel to cancelled: {took:.1f} s")


def test_a_pool_process_killed_mid_run_its_worker_gives_the_task_back_and_the_run_finishes(
        cluster: Cluster) -> None:
    """Only the pool process dies (out of memory, a crash in a driver): the Celery worker
    rejects the message back to the queue (task_reject_on_worker_lost) and a copy takes the
    run over."""
    db = cluster.db
    days = 8
    connection_id, extract_id, table, first, last, old = loaded_window(db, days)
    set_seconds(db, connection_id, 0.5)
    worker = cluster.celery_worker("w1", concurrency=1)
    cluster.dispatcher()
    run_id = queue_run(db, extract_id, first, last)
    run = wait_for(lambda: running_with_a_chunk_in(db, run_id) and runs(db, run_id)[0],
                   timeout=60)
    pool_process = pid_of(run)
    assert psutil.Process(pool_process).ppid() == worker.pid
    os.kill(pool_process, signal.SIGKILL)
    assert {r for *_, r in window_rows(db, table, extract_id)} == {old}

    wait_for(lambda: statuses(db, run_id) == ["succeeded"], timeout=90, every=0.2,
             why=f"for the run given back: {statuses(db, run_id)}\n{cluster.log('w1')}")
    [done] = runs(db, run_id)
    assert done.attempts == 2 and pid_of(done) != pool_process
    rows = window_rows(db, table, extract_id)
    assert len(rows) == len({(str(d), n) for d, n, _ in rows}) == days * ROWS
    assert {r for *_, r in rows} == {run_id}
    assert worker.poll() is None
