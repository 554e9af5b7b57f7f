"""The Celery executor (EXECUTOR=celery): runs travel to Celery workers through RabbitMQ.

The database stays the truth about runs; Celery only carries them.

Dispatcher side, in `python -m core.worker`: `CeleryExecutor.dispatch` marks the next
queued runs `dispatched` (the claim SQL and caps of the local executor, within the live
Celery workers' slots), commits, then publishes one `execute_run(run_id, token)` message
each, at the run's priority. `stop_cancelled` terminates (revokes) the task of a run that
was asked to stop and did not within CANCEL_GRACE.

Worker side, in `celery -A core.celery_app worker`: `execute_delivered` takes the run's
liveness lock, moves the run `dispatched -> running` with a guarded update (or, if its
worker is gone, takes the running run over), then calls `executors.carry_out`. A copy of a
task whose run executes on a live worker, or whose token is no longer the run's, exits
without touching it. The Celery workers register themselves (`register_worker`), so the
dispatcher and the dashboard know how many are live.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.db import Database
from core.models import CeleryWorker, Run
from core.vocabulary import RunStatus
from core.worker import executors, liveness, run_queue

log = logging.getLogger(__name__)

TASK_NAME = "extracts.execute_run"
MAX_PRIORITY = 9  # the queue's x-max-priority; RabbitMQ delivers higher numbers first
WORKER_TTL = timedelta(seconds=30)  # a Celery worker not seen for this long is not live
REGISTER_EVERY = 10.0  # seconds between a Celery worker's renewals of its registration
HEARTBEAT_EVERY = 10.0  # seconds between a Celery run's heartbeats, even inside a long chunk


def message_priority(run_priority: int) -> int:
    """A run's priority (0 manual ... 3 backfill) as a RabbitMQ message priority."""
    return max(0, MAX_PRIORITY - run_priority)


def task_id(run_id: int, token: str) -> str:
    """The Celery task id of one dispatch of a run."""
    return f"run-{run_id}-{token[:12]}"


def celery_worker_id(task: str) -> str:
    """A Celery run's worker id: host, process and the task it executes (host:pid:task)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{task}"


def task_of(worker_id: str | None) -> str | None:
    """The task id in a Celery run's worker id, or None for a local worker's."""
    task = (worker_id or "").rsplit(":", 1)[-1]
    return task if task.startswith("run-") else None


# -- the live Celery workers


@dataclass(frozen=True)
class LiveWorkers:
    """The Celery workers seen within WORKER_TTL and how many runs they take at once."""

    workers: int
    slots: int


def register_worker(db: Database, name: str, slots: int, now: datetime) -> None:
    """Say that the Celery worker `name` lives and executes `slots` runs at once."""
    with db.session() as session:
        session.merge(CeleryWorker(name=name, slots=slots, seen_at=now))
        session.execute(delete(CeleryWorker).where(
            CeleryWorker.seen_at < now - timedelta(days=1)))


def unregister_worker(db: Database, name: str) -> None:
    """The Celery worker `name` stops: it no longer counts as live."""
    with db.session() as session:
        session.execute(delete(CeleryWorker).where(CeleryWorker.name == name))


def live_workers(session: Session, now: datetime) -> LiveWorkers:
    """How many Celery workers are live at `now`, and their slots."""
    workers, slots = session.execute(
        select(func.count(), func.coalesce(func.sum(CeleryWorker.slots), 0))
        .where(CeleryWorker.seen_at > now - WORKER_TTL)).one()
    return LiveWorkers(int(workers), int(slots))


@contextmanager
def registered(db: Database, name: str, slots: int,
               clock: Callable[[], datetime] = utcnow) -> Iterator[None]:
    """Keep the Celery worker `name` registered (renewed on a thread) for the block."""
    stop = threading.Event()

    def renew() -> None:
        while True:
            try:
                register_worker(db, name, slots, clock())
            except Exception:
                log.exception("celery worker %s: could not renew its registration", name)
            if stop.wait(REGISTER_EVERY):
                return

    thread = threading.Thread(target=renew, name="celery-registration", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)
        unregister_worker(db, name)


# -- the dispatcher's side


class CeleryExecutor:
    """Hands queued runs to Celery workers; nothing executes in this process."""

    def __init__(self, db: Database, app: Any) -> None:
        self.db = db
        self.app = app
        self.queue = db.settings.celery_queue
        self._cancel_seen: dict[tuple[int, str], datetime] = {}
        self._revoked: set[tuple[int, str]] = set()

    def dispatch(self, now: datetime) -> list[int]:
        """Dispatch queued runs while the live Celery workers have free slots."""
        with self.db.session() as session:
            slots = live_workers(session, now).slots
        dispatched: list[int] = []
        while slots:
            taken = run_queue.dispatch_next(self.db, now, slots=slots, queue=self.queue)
            if taken is None:
                break
            if not self.publish(taken, now):
                break
            dispatched.append(taken.run_id)
        return dispatched

    def publish(self, run: run_queue.Dispatched, now: datetime) -> bool:
        """Send the run's task; if the broker refuses, queue the run again at once."""
        try:
            self.app.send_task(TASK_NAME, args=(run.run_id, run.token),
                               task_id=task_id(run.run_id, run.token), queue=self.queue,
                               routing_key=self.queue,
                               priority=message_priority(run.priority))
        except Exception as exc:
            why = f"the broker did not take its task ({type(exc).__name__}: {exc})"
            run_queue.requeue_dispatched(self.db, run.run_id, run.token, now, why)
            log.error("run %s: %s; queued again", run.run_id, why)
            return False
        return True

    def stop_cancelled(self, now: datetime) -> list[int]:
        """Terminate the tasks of runs asked to stop (cancel, RUN_TIMEOUT) that still run
        CANCEL_GRACE seconds later; once their worker is gone, end them cancelled. Returns
        the runs ended so."""
        grace = timedelta(seconds=self.db.settings.cancel_grace)
        with self.db.session() as session:
            asked: list[tuple[int, str]] = [
                (run_id, worker_id) for run_id, worker_id in session.execute(
                    select(Run.id, Run.worker_id).where(Run.status == RunStatus.RUNNING,
                                                        Run.cancel_requested.is_(True)))
                if worker_id is not None and task_of(worker_id) is not None]
        self._cancel_seen = {key: self._cancel_seen.get(key, now) for key in asked}
        self._revoked &= set(asked)
        ended = []
        for key in asked:
            run_id, worker_id = key
            if now - self._cancel_seen[key] < grace:
                continue
            if key not in self._revoked:
                self.app.control.revoke(task_of(worker_id), terminate=True, signal="SIGKILL")
                self._revoked.add(key)
                log.warning("run %s did not stop within %s s of its cancel; its task was "
                            "terminated", run_id, grace.seconds)
            if not liveness.is_held(self.db, run_id) and run_queue.end_cancelled(
                    self.db, run_id, now, f"its task was terminated after {grace.seconds} s"):
                ended.append(run_id)
        return ended


# -- the Celery worker's side


def execute_delivered(db: Database, run_id: int, token: str, task: str, *,
                      clock: Callable[[], datetime] = utcnow) -> str:
    """Execute the run a delivered task carries, if this copy is the one to do it; say
    what became of it (the run's status, or why this copy left it alone)."""
    worker_id = celery_worker_id(task)
    with liveness.holding(db, run_id) as free:
        if not free:
            log.info("run %s executes on a live worker; this copy of its task leaves it",
                     run_id)
            return "executing elsewhere"
        now = clock()
        if not (run_queue.start_dispatched(db, run_id, token, worker_id, now)
                or run_queue.take_over(db, run_id, worker_id, now)):
            log.info("run %s is no longer this task's to execute; left alone", run_id)
            return "not this task's"
        with _heartbeats(db, run_id, worker_id, clock):
            status = executors.carry_out(db, run_id, worker_id, clock)
        return status or "lost"


@contextmanager
def _heartbeats(db: Database, run_id: int, worker_id: str,
                clock: Callable[[], datetime]) -> Iterator[None]:
    """Beat the run's heartbeat on a thread for the block, even inside one long chunk."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(HEARTBEAT_EVERY):
            try:
                run_queue.heartbeat(db, worker_id, [run_id], clock())
            except Exception:
                log.exception("run %s: heartbeat failed", run_id)

    thread = threading.Thread(target=beat, name=f"heartbeat-{run_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
