"""The Celery executor's parts in-process, on the real PostgreSQL and RabbitMQ: settings,
dispatch within the live workers' slots, priorities, cancel and lost messages, the broker
down, and copies of a task that must leave their run alone."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import kombu
import pytest
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from core import errors, service
from core.celery_app import make_app
from core.clock import utcnow
from core.config import get_settings
from core.db import Database
from core.models import Run
from core.worker import Worker, celery_executor, liveness, recovery
from tests.conftest import NOW, make_extract
from tests.core.celery_cluster import BROKER_URL, queue

__all__ = ["queue"]
ROOT = Path(__file__).resolve().parents[2]


def with_settings(db: Database, **overrides: object) -> Database:
    """`db` with other settings (its sessions know the new ones too)."""
    changed = dataclasses.replace(db, settings=db.settings.with_overrides(**overrides),
                                  sessions=sessionmaker())
    changed.sessions.configure(bind=db.engine, info={"database": changed})
    return changed


@pytest.fixture
def celery_db(pg_db: Database, queue: str) -> Iterator[Database]:
    yield with_settings(pg_db, executor="celery", broker_url=BROKER_URL, celery_queue=queue)


def queued_runs(db: Database, count: int, *, cap: int = 2) -> list[int]:
    """`count` queued manual runs, each of its own extract of one connection."""
    with db.session() as session:
        connection = service.create_connection(session=session, data={
            "datasource": "sample_ads", "title": "Ads", "max_concurrent_runs": cap})
        ids = []
        for _ in range(count):
            extract = make_extract(session, accounts=[connection.accounts[0].id])
            [run] = service.run_extract(session=session, extract_id=extract.id,
                                        date_from=NOW.date() - timedelta(days=2),
                                        date_to=NOW.date() - timedelta(days=1), now=NOW)
            ids.append(run.id)
        return ids


def status_of(db: Database, run_id: int) -> tuple[str, list[str]]:
    with db.session() as session:
        run = session.get(Run, run_id)
        assert run is not None
        return run.status, [line["message"] for line in run.log]


def messages(queue: str) -> list[kombu.Message]:
    """Take every message off the queue (they are not delivered to anyone after)."""
    taken = []
    with kombu.Connection(BROKER_URL) as conn:
        simple = conn.SimpleQueue(queue, queue_args={
            "x-max-priority": celery_executor.MAX_PRIORITY}, no_ack=True)
        try:
            while True:
                taken.append(simple.get(block=True, timeout=0.5))
        except simple.Empty:
            pass
        finally:
            simple.close()
    return taken


def executor(db: Database) -> celery_executor.CeleryExecutor:
    return celery_executor.CeleryExecutor(db, make_app(db.settings))


def test_celery_with_sqlite_metadata_is_refused_at_start_with_what_to_set(
        tmp_path: Path) -> None:
    with pytest.raises(errors.Invalid, match="EXTRACTS_EXECUTOR=celery needs PostgreSQL"):
        get_settings({"EXTRACTS_EXECUTOR": "celery", "EXTRACTS_VAR_DIR": str(tmp_path)})
    with pytest.raises(errors.Invalid, match="EXTRACTS_EXECUTOR='threads' must be one of "
                                             "local, celery"):
        get_settings({"EXTRACTS_EXECUTOR": "threads"})
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXTRACTS_")}
    env.update(EXTRACTS_EXECUTOR="celery", EXTRACTS_VAR_DIR=str(tmp_path),
               PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-m", "core.worker"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "EXTRACTS_EXECUTOR=celery needs PostgreSQL metadata" in done.stdout
    assert "EXTRACTS_DATABASE_URL=postgresql+psycopg://" in done.stdout
    assert not (tmp_path / "extracts.db").exists()  # refused before touching anything
    celery = subprocess.run([sys.executable, "-m", "celery", "-A", "core.celery_app", "worker",
                             "--concurrency=1", "--without-mingle", "--without-gossip"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert celery.returncode != 0
    assert "EXTRACTS_EXECUTOR=celery needs PostgreSQL metadata" in celery.stderr
    assert not (tmp_path / "extracts.db").exists()


def test_dispatch_waits_for_live_workers_and_fills_only_their_slots_within_the_caps(
        celery_db: Database, queue: str) -> None:
    db = celery_db
    ids = queued_runs(db, 4, cap=2)
    now = utcnow()
    celery = executor(db)
    assert celery.dispatch(now) == []  # no live Celery worker: nothing leaves the queue
    celery_executor.register_worker(db, "gone@host", 8, now - timedelta(seconds=31))
    assert celery.dispatch(now) == []  # not seen for 30 s: not live
    celery_executor.register_worker(db, "w1@host", 3, now)

    assert celery.dispatch(now) == ids[:2]  # 3 slots, but the connection's cap is 2
    assert [status_of(db, i)[0] for i in ids] == ["dispatched"] * 2 + ["queued"] * 2
    assert "dispatched to the Celery queue " + queue in status_of(db, ids[0])[1]
    sent = messages(queue)
    assert [m.headers["id"] for m in sent] == [
        celery_executor.task_id(i, token) for i, token in zip(ids[:2], tokens(db, ids[:2]),
                                                                strict=True)]
    assert [m.headers["task"] for m in sent] == [celery_executor.TASK_NAME] * 2
    with db.session() as session:
        state = service.executor_state(session=session, now=now)
    assert state == service.ExecutorState("celery", workers=1, slots=3)


def tokens(db: Database, ids: list[int]) -> list[str]:
    with db.session() as session:
        found = {r.id: r.claim_token for r in session.scalars(select(Run).where(
            Run.id.in_(ids)))}
    return [str(found[i]) for i in ids]


def test_a_manual_run_is_sent_at_a_higher_priority_than_a_backfill(
        celery_db: Database, queue: str) -> None:
    db = celery_db
    [manual, backfill] = queued_runs(db, 2, cap=5)
    with db.session() as session:
        session.get(Run, backfill).priority = 3  # type: ignore[union-attr]
    celery_executor.register_worker(db, "w1@host", 4, utcnow())
    assert executor(db).dispatch(utcnow()) == [manual, backfill]
    priorities = {m.headers["id"]: m.properties["priority"] for m in messages(queue)}
    [manual_token, backfill_token] = tokens(db, [manual, backfill])
    assert priorities[celery_executor.task_id(manual, manual_token)] == 9
    assert priorities[celery_executor.task_id(backfill, backfill_token)] == 6


def test_a_dispatched_run_cancelled_before_its_task_arrives_is_left_cancelled(
        celery_db: Database, queue: str) -> None:
    db = celery_db
    [run_id] = queued_runs(db, 1)
    celery_executor.register_worker(db, "w1@host", 1, utcnow())
    executor(db).dispatch(utcnow())
    [token] = tokens(db, [run_id])
    with db.session() as session:
        assert service.cancel_run(session=session, run_id=run_id).status == "cancelled"
        extract_id = session.get(Run, run_id).extract_id  # type: ignore[union-attr]
        assert service.get_extract(session=session, extract_id=extract_id).status == "active"
    outcome = celery_executor.execute_delivered(db, run_id, token, "run-x")
    assert outcome == "not this task's"
    assert status_of(db, run_id)[0] == "cancelled"


def test_a_lost_message_is_dispatched_again_and_the_late_old_copy_is_ignored(
        celery_db: Database, queue: str) -> None:
    db = celery_db
    [run_id] = queued_runs(db, 1)
    now = utcnow()
    celery_executor.register_worker(db, "w1@host", 1, now)
    executor(db).dispatch(now)
    [old_token] = tokens(db, [run_id])
    messages(queue)  # the message is lost

    assert recovery.requeue_lost_dispatches(db, now + timedelta(seconds=59)) == []
    assert recovery.requeue_lost_dispatches(db, now + timedelta(seconds=61)) == [run_id]
    status, log = status_of(db, run_id)
    assert status == "queued" and any("its message was lost" in line for line in log)
    later = now + timedelta(seconds=62)
    celery_executor.register_worker(db, "w1@host", 1, later)
    assert executor(db).dispatch(later) == [run_id]
    assert celery_executor.execute_delivered(db, run_id, old_token, "run-old") == \
        "not this task's"
    assert status_of(db, run_id)[0] == "dispatched"
    [new_token] = tokens(db, [run_id])
    assert celery_executor.execute_delivered(db, run_id, new_token, "run-new") == "succeeded"


def test_a_copy_of_a_task_whose_run_executes_on_a_live_worker_leaves_it_alone(
        celery_db: Database, queue: str) -> None:
    db = celery_db
    [run_id] = queued_runs(db, 1)
    celery_executor.register_worker(db, "w1@host", 1, utcnow())
    executor(db).dispatch(utcnow())
    [token] = tokens(db, [run_id])
    with liveness.holding(db, run_id) as taken:  # a live worker executes the run
        assert taken
        assert liveness.is_held(db, run_id)
        assert celery_executor.execute_delivered(db, run_id, token, "run-copy") == \
            "executing elsewhere"
    assert status_of(db, run_id)[0] == "dispatched"
    assert not liveness.is_held(db, run_id)


def test_with_the_broker_down_a_dispatched_run_goes_back_to_the_queue_at_once(
        pg_db: Database, queue: str) -> None:
    db = with_settings(pg_db, executor="celery", celery_queue=queue,
                       broker_url="amqp://guest:guest@127.0.0.1:1//")
    [run_id] = queued_runs(db, 1)
    celery_executor.register_worker(db, "w1@host", 1, utcnow())
    assert executor(db).dispatch(utcnow()) == []
    status, log = status_of(db, run_id)
    assert status == "queued"
    assert "the broker did not take its task" in log[-1] and "queued again" in log[-1]


def test_the_worker_in_celery_mode_dispatches_and_executes_nothing_itself(
        celery_db: Database, queue: str) -> None:
    db = celery_db
    [run_id] = queued_runs(db, 1)
    worker = Worker(db, fire_schedules=False)
    assert worker.celery is not None
    celery_executor.register_worker(db, "w1@host", 1, utcnow())
    assert worker.dispatch(utcnow()) == [run_id]
    assert worker.executor.in_flight() == []
    assert status_of(db, run_id)[0] == "dispatched"


def test_the_sidebar_state_of_the_local_executor(pg_db: Database) -> None:
    with pg_db.session() as session:
        assert service.executor_state(session=session) == service.ExecutorState("local")


def test_the_sidebar_shows_the_executor_and_the_live_celery_workers(
        celery_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    import streamlit as st

    from dashboard import navigation
    from tests.dashboard.conftest import open_page

    settings = celery_db.settings
    for name, value in {"VAR_DIR": str(settings.var_dir), "SECRET_KEY": settings.secret_key,
                        "DATABASE_URL": settings.database_url,
                        "WAREHOUSE_URL": settings.warehouse_url, "EXECUTOR": "celery",
                        "BROKER_URL": settings.broker_url, "EMBEDDED_WORKER": "false",
                        "CELERY_QUEUE": settings.celery_queue}.items():
        monkeypatch.setenv(f"EXTRACTS_{name}", value)
    now = utcnow()
    celery_executor.register_worker(celery_db, "w1@host", 2, now)
    celery_executor.register_worker(celery_db, "w2@host", 3, now)
    celery_executor.register_worker(celery_db, "gone@host", 4, now - timedelta(minutes=5))
    st.cache_resource.clear()
    st.cache_data.clear()
    try:
        at = open_page(navigation.EXTRACTS)
    finally:
        st.cache_resource.clear()
        st.cache_data.clear()

    captions = [c.value for c in at.sidebar.caption]
    assert "Runs execute on Celery: 2 live Celery workers, 5 slots." in captions, captions


def test_a_transient_failure_goes_back_to_the_queue_with_a_not_before_time_not_to_celery(
        celery_db: Database, queue: str) -> None:
    db = celery_db
    with db.session() as session:
        connection = service.create_connection(session=session, data={
            "datasource": "sample_ads", "title": "Flaky", "config": {"failure_rate": 1.0}})
        extract = make_extract(session, accounts=[connection.accounts[0].id])
        [run] = service.run_extract(session=session, extract_id=extract.id,
                                    date_from=NOW.date(), date_to=NOW.date(), now=NOW)
    now = utcnow()
    celery_executor.register_worker(db, "w1@host", 1, now)
    assert executor(db).dispatch(now) == [run.id]
    [token] = tokens(db, [run.id])
    messages(queue)

    assert celery_executor.execute_delivered(db, run.id, token, "run-1") == "queued"
    with db.session() as session:
        again = session.get(Run, run.id)
        assert again is not None
        assert (again.status, again.attempts, again.claim_token) == ("queued", 1, None)
        not_before = again.queued_at
    delay = timedelta(seconds=db.settings.retry_base_delay)
    assert not_before >= now + delay - timedelta(seconds=1)
    assert executor(db).dispatch(not_before - timedelta(seconds=1)) == []  # not yet due
    assert messages(queue) == []  # no countdown message waits in the broker either
    celery_executor.register_worker(db, "w1@host", 1, not_before)
    assert executor(db).dispatch(not_before) == [run.id]


def test_a_celery_run_past_run_timeout_is_stopped_and_ended_cancelled_once_its_worker_is_gone(
        celery_db: Database, queue: str) -> None:
    db = with_settings(celery_db, run_timeout=60, cancel_grace=0)
    [run_id] = queued_runs(db, 1)
    now = utcnow()
    with db.session() as session:
        run = session.get(Run, run_id)
        assert run is not None
        run.status, run.attempts, run.claim_token = "running", 1, "t" * 32
        run.worker_id = f"elsewhere:4242:{celery_executor.task_id(run_id, 'x' * 32)}"
        run.started_at, run.heartbeat_at = now - timedelta(seconds=61), now
    worker = Worker(db, fire_schedules=False)

    with liveness.holding(db, run_id):  # its worker lives: it is asked to stop, not ended
        worker.tick(now)
        status, log = status_of(db, run_id)
        assert status == "running"
        assert any(line.startswith("timed out after 60 s") for line in log), log
    worker._due.pop("cancel")
    worker.tick(now + timedelta(seconds=1))  # its worker is gone (terminated)

    status, log = status_of(db, run_id)
    assert status == "cancelled"
    with db.session() as session:
        run = session.get(Run, run_id)
        assert run is not None and run.claim_token is None
        assert run.error == ("cancelled: timed out (RUN_TIMEOUT); its task was terminated "
                             "after 0 s; the window's data was left as it was")


def test_dispatchers_asking_at_once_never_fill_one_free_slot_twice(
        celery_db: Database, queue: str) -> None:
    from concurrent.futures import ThreadPoolExecutor
    from functools import partial

    from core.worker import run_queue

    db = celery_db
    ids = queued_runs(db, 8, cap=8)
    for slots in range(1, 5):  # one free slot each time, eight dispatchers asking at once
        with ThreadPoolExecutor(8) as pool:
            ask = partial(run_queue.dispatch_next, db, slots=slots, queue=queue)
            taken = [t for t in pool.map(ask, [utcnow()] * 8) if t]
        assert len(taken) == 1, taken
    assert [status_of(db, i)[0] for i in ids].count("dispatched") == 4
