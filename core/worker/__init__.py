"""The worker: the run queue and its executor, retries, recovery, schedules and the lease.

The database holds the truth about runs (queued, running, finished). The worker claims
the next queued run it may start and hands it to an executor, which only carries it to a
thread that calls `runner.execute_run`. Schedules are APScheduler jobs mirroring the
Schedule rows; only the process holding the "scheduler" lease keeps and fires them, and
each fire time is recorded in `schedule_fires`, so a fire time queues one run.

    run_queue.py      claims (caps, priorities), heartbeats, timeouts, release on shutdown
    executors.py      LocalExecutor (threads, the default) and `carry_out`
    celery_executor.py  CeleryExecutor (EXECUTOR=celery): dispatch to Celery workers
    liveness.py       whether a Celery run's worker is alive (a PostgreSQL advisory lock)
    recovery.py       stale runs -> failed and retried; auto-pause after repeated failures
    firing.py         a due schedule -> one queued run per fire time
    schedule_jobs.py  APScheduler jobs mirroring the Schedule rows, the firing thread
    lease.py          who fires schedules: acquire, release, and the Keeper thread
    deliverer.py      the alerts outbox: its own thread sends, retries, reminds
    __main__.py       `python -m core.worker`

Here: the Worker, which runs all of these on its threads, and `start_embedded(db)`, which
runs one inside the dashboard or API process (once per process).
"""

from __future__ import annotations

import atexit
import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from core import db as database
from core.clock import utcnow
from core.db import Database
from core.models import SCHEDULER_LEASE, Run
from core.vocabulary import RunStatus
from core.worker import (
    celery_executor,
    deliverer,
    executors,
    lease,
    recovery,
    run_queue,
    schedule_jobs,
)

log = logging.getLogger(__name__)

HEARTBEAT_EVERY = timedelta(seconds=10)
RECOVER_EVERY = timedelta(seconds=15)
SYNC_EVERY = timedelta(seconds=2)  # schedule changes reach APScheduler within this (+ a tick)
TICK_SECONDS = 0.5
# A dispatcher learns that a Celery worker's slot came free only by looking: it looks more
# often (a few small queries each time), or runs shorter than a tick would leave slots idle.
CELERY_TICK_SECONDS = 0.1
CANCEL_CHECK_EVERY = timedelta(seconds=1)
STOP_WAIT_SECONDS = 5.0  # after the grace, runs told to stop roll back within this


def worker_name() -> str:
    """A worker id unique across hosts, processes and restarts."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class Worker:
    """Claims and executes queued runs; while it holds the lease, fires schedules too."""

    def __init__(self, db: Database, *, worker_id: str | None = None,
                 clock: Callable[[], datetime] = utcnow, max_workers: int | None = None,
                 fire_schedules: bool = True, run_queue: bool = True,
                 deliver_alerts: bool = True) -> None:
        self.db = db
        self.worker_id = worker_id or worker_name()
        self.clock = clock
        self.max_workers = max_workers or db.settings.max_workers
        self.fire_schedules = fire_schedules
        self.run_queue = run_queue
        self.executor = executors.LocalExecutor(self.max_workers)
        # EXECUTOR=celery: this worker dispatches to Celery workers and executes nothing.
        self.celery = _celery_executor(db) if db.settings.executor == "celery" else None
        self.lease = lease.Keeper(db, SCHEDULER_LEASE, self.worker_id, clock=clock,
                                  on_change=self.wake)
        self.scheduler = schedule_jobs.new_scheduler()
        self.jobs = schedule_jobs.ScheduleJobs(db, self.scheduler, self.lease, clock=clock,
                                               on_fired=self.wake)
        self.is_leader = False  # keeps schedule jobs: follows the lease at every tick
        # Alerts go out on their own thread; staleness checks and reminders on the leader.
        self.deliverer = deliverer.Deliverer(
            db, clock=clock, checks=lambda: self.is_leader,
            busy=lambda: bool(self.executor.in_flight())) if deliver_alerts else None
        self._term: datetime | None = None  # the hold the jobs were synced for
        self._due: dict[str, datetime] = {}
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # -- one step of the loop; tests call these with an explicit `now`

    def tick(self, now: datetime) -> None:
        """Everything the loop does once: schedules, housekeeping, dispatch."""
        if self.fire_schedules:
            self.follow_lease(now)
        if self.is_leader and self._is_due("sync", now):
            self.sync_schedules(now)
        if self._is_due("heartbeat", now):
            run_queue.heartbeat(self.db, self.worker_id, self.executor.in_flight(), now)
            # A Celery run's worker does not know RUN_TIMEOUT's clock: the dispatcher asks.
            run_queue.time_out_runs(self.db, None if self.celery else self.worker_id, now)
        if self._is_due("recover", now):
            recovery.recover_stale_runs(self.db, now)
            recovery.requeue_lost_dispatches(self.db, now)
        if self.celery is not None and self._is_due("cancel", now):
            self.celery.stop_cancelled(now)
        if self.run_queue and not self.jobs.is_firing():  # firing on time goes first
            self.dispatch(now)

    def _is_due(self, what: str, now: datetime) -> bool:
        every = {"sync": SYNC_EVERY, "heartbeat": HEARTBEAT_EVERY,
                 "recover": RECOVER_EVERY, "cancel": CANCEL_CHECK_EVERY}[what]
        if now < self._due.get(what, datetime.min.replace(tzinfo=UTC)):
            return False
        self._due[what] = now + every
        return True

    def dispatch(self, now: datetime) -> list[int]:
        """Claim queued runs while this worker has free threads; hand them to the executor
        (with EXECUTOR=celery: dispatch them to the live Celery workers' free slots)."""
        if self.celery is not None:
            return self.celery.dispatch(max(now, self.clock()))
        started = []
        while not self._stopping.is_set() and self.executor.free_slots() > 0:
            # The clock moves while the loop claims; a run starts when it is claimed.
            run_id = run_queue.claim_next(self.db, self.worker_id, max(now, self.clock()),
                                          max_workers=self.max_workers)
            if run_id is None:
                break
            self.executor.submit(
                run_id, partial(executors.carry_out, self.db, run_id, self.worker_id,
                                self.clock),
                done=self.wake)
            started.append(run_id)
        return started

    def renew_lease(self, now: datetime) -> bool:
        """Take or keep the scheduler lease as of `now`, then follow it (as the lease's
        own thread does on a running worker)."""
        held = self.lease.renew(now)
        self.follow_lease(now)
        return held

    def follow_lease(self, now: datetime) -> None:
        """Keep schedule jobs while the lease is held at `now`; drop them once it is not.

        Each new hold syncs every job afresh, even one that began between two ticks right
        after the last ended: fires dropped in between are caught up then, once.
        """
        term = self.lease.since if self.lease.holds(now) else None
        if term == self._term:
            return
        self._term = term
        self.is_leader = term is not None
        self.jobs.clear()
        if self.is_leader:
            self.sync_schedules(now, force=True)

    def sync_schedules(self, now: datetime, *, force: bool = False) -> bool:
        """Make the schedule jobs mirror the Schedule rows (see ScheduleJobs.sync)."""
        return self.jobs.sync(now, force=force)

    def job_ids(self) -> list[str]:
        """The schedule jobs this worker keeps."""
        return self.jobs.ids()

    def next_fire_times(self) -> dict[str, datetime | None]:
        """Each schedule job's next fire time as APScheduler sees it."""
        return self.jobs.next_fire_times()

    # -- the loop

    @property
    def stopped(self) -> bool:
        return self._stopping.is_set()

    def wake(self) -> None:
        """Run the loop now (a run finished or was queued) instead of at the next tick."""
        self._wake.set()

    def _on_flush(self, session: Session, _context: Any) -> None:
        if any(isinstance(o, Run) and o.status == RunStatus.QUEUED
               for o in (*session.new, *session.dirty)):
            session.info["worker_wake"] = True

    def _on_commit(self, session: Session) -> None:
        if session.info.pop("worker_wake", False):
            self.wake()

    def start(self) -> Worker:
        """Start the scheduler, the lease's thread, the firing thread and the loop."""
        if self._thread is not None:
            return self
        # A run queued in this process (dashboard, API) is claimed at once, not next tick.
        event.listen(self.db.sessions, "after_flush", self._on_flush)
        event.listen(self.db.sessions, "after_commit", self._on_commit)
        self.scheduler.start(paused=not self.fire_schedules)
        if self.fire_schedules:
            self.lease.start()
        self._thread = threading.Thread(target=self._loop, name="worker", daemon=True)
        self._thread.start()
        self.jobs.start()
        if self.deliverer is not None:
            self.deliverer.start()
        if self.celery is not None:
            log.info("worker %s started: dispatching runs to Celery (queue %s)",
                     self.worker_id, self.celery.queue)
        else:
            log.info("worker %s started: %s threads", self.worker_id, self.max_workers)
        return self

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self.tick(self.clock())
            except Exception as exc:
                self._loop_failed(exc)
            self._wake.wait(TICK_SECONDS if self.celery is None else CELERY_TICK_SECONDS)
            self._wake.clear()

    def _loop_failed(self, exc: Exception) -> None:
        """Say why a loop step failed: a full disk or a held lock in one line (they last, and
        a traceback at every tick would bury the log), anything else with its traceback."""
        full = database.disk_full(exc)
        if full:
            self.db.release_space()  # a rolled-back load's log may be what fills the disk
        fault = full or database.locked(exc)
        if fault:
            log.error("worker %s: loop step failed: %s; trying again", self.worker_id, fault)
        else:
            log.exception("worker %s: loop step failed; trying again", self.worker_id)

    def stop(self, grace: float | None = None,
             stop_wait: float = STOP_WAIT_SECONDS) -> list[int]:
        """Stop claiming and firing; let runs in flight finish for up to `grace` seconds
        (default SHUTDOWN_GRACE),
        then put the unfinished ones back in the queue (their claims cleared, so their
        loads can no longer commit), tell them to stop before their next chunk and wait up
        to `stop_wait` seconds for their loads to roll back. Returns the released run ids."""
        if self._stopping.is_set():
            return []
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            event.remove(self.db.sessions, "after_flush", self._on_flush)
            event.remove(self.db.sessions, "after_commit", self._on_commit)
            self._thread.join(timeout=10)
        self.jobs.stop()
        if self.deliverer is not None:
            self.deliverer.stop()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        self.lease.stop()  # nothing fires any more: give the lease up for the next holder
        self.is_leader = False
        self._term = None
        unfinished = self.executor.shutdown(
            self.db.settings.shutdown_grace if grace is None else grace)
        released = run_queue.release_runs(self.db, self.worker_id, unfinished, self.clock())
        if unfinished:
            still = self.executor.stop_runs(stop_wait)
            if still:
                log.warning("worker %s: runs %s did not stop within %s s; exiting without "
                            "them (their loads cannot commit)", self.worker_id, still,
                            stop_wait)
        log.info("worker %s stopped%s", self.worker_id,
                 f"; released runs {released}" if released else "")
        return released


def _celery_executor(db: Database) -> celery_executor.CeleryExecutor:
    from core import celery_app  # imports Celery only when it is the executor

    return celery_executor.CeleryExecutor(db, celery_app.make_app(db.settings))


_EMBEDDED: Worker | None = None
_EMBEDDED_LOCK = threading.Lock()
_EXIT_HOOKED = False


def start_embedded(db: Database) -> Worker | None:
    """Start this process's one embedded worker (idempotent, thread-safe); None when
    EMBEDDED_WORKER is off. Later calls return the same worker, whatever `db` they pass."""
    global _EMBEDDED, _EXIT_HOOKED
    if not db.settings.embedded_worker:
        return None
    with _EMBEDDED_LOCK:
        if _EMBEDDED is None or _EMBEDDED.stopped:
            _EMBEDDED = Worker(db).start()
            if not _EXIT_HOOKED:
                atexit.register(stop_embedded)
                _EXIT_HOOKED = True
        return _EMBEDDED


def stop_embedded() -> None:
    """Stop the embedded worker, if one runs (at exit, and in tests)."""
    global _EMBEDDED
    with _EMBEDDED_LOCK:
        worker, _EMBEDDED = _EMBEDDED, None
    if worker is not None:
        worker.stop()
