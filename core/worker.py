"""The worker: the run queue and its executor, retries, recovery, schedules and the lease.

The database holds the truth about runs (queued, running, finished). `claim_next` takes the
next queued run a worker may start; an executor only carries a claimed run to a thread that
calls `runner.execute_run`. Schedules are APScheduler jobs mirroring the Schedule rows; only
the process holding the "scheduler" lease fires them, and each fire time is recorded in
`schedule_fires`, so a fire time queues one run even if two processes both believe they
hold the lease.

`python -m core.worker` runs a worker on its own; `start_embedded(db)` runs one inside the
dashboard process (once per process).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import queue
import secrets
import signal
import socket
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.executors.pool import ThreadPoolExecutor as JobThreadPool
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_RUNNING
from sqlalchemy import event, exists, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.dml import Update

from core import errors, runner, schedules
from core.clock import utcnow
from core.config import Settings, get_settings
from core.db import Database, open_database
from core.models import Connection, Extract, Lease, Run, Schedule, ScheduleFire, Template
from core.services import runs as run_service
from core.services.common import PRIORITY, refresh_status, schedule_dict

log = logging.getLogger(__name__)

STALE_AFTER = timedelta(seconds=60)  # a running run without a heartbeat for this long is dead
HEARTBEAT_EVERY = timedelta(seconds=10)
RECOVER_EVERY = timedelta(seconds=15)
SCHEDULER_LEASE = "scheduler"
# Takeover within 30 s of a holder's death: the lease lapses after 25 s, and the others ask
# every 2 s.
LEASE_TTL = timedelta(seconds=25)
LEASE_RENEW_EVERY = timedelta(seconds=8)
LEASE_POLL_EVERY = timedelta(seconds=2)  # how often a process without the lease asks for it
SYNC_EVERY = timedelta(seconds=2)  # schedule changes reach APScheduler within this (+ a tick)
MISFIRE_GRACE = timedelta(hours=1)  # a fire missed by less than this still happens, once
TICK_SECONDS = 0.5
SHUTDOWN_GRACE_SECONDS = 20.0
WORKER_STOPPED = "worker stopped during the run"
TIMED_OUT = "timed out"


def worker_name() -> str:
    """A worker id unique across hosts, processes and restarts."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def _line(at: datetime, level: str, message: str) -> dict[str, Any]:
    return {"at": at.isoformat(), "level": level, "message": message}


def _updated(session: Session, statement: Update) -> int:
    """Rows changed by a guarded UPDATE (0 means someone else got there first)."""
    result: Any = session.execute(statement.execution_options(synchronize_session=False))
    return int(result.rowcount)


# ----------------------------------------------------------------------------- run queue


def claim_next(db: Database, worker_id: str, now: datetime, *,
               max_workers: int | None = None) -> int | None:
    """Claim the next queued run this worker may start, or None.

    A run is claimable when it is due (`queued_at` <= now; retries wait out their backoff),
    its extract has no running run, its connection is below `max_concurrent_runs`, and this
    worker runs fewer than `max_workers` (default MAX_WORKERS). Manual runs go first, then
    retries, scheduled and backfill runs; oldest first within each.
    """
    limit = max_workers if max_workers is not None else db.settings.max_workers
    with db.session() as session:
        mine = session.scalar(select(func.count()).select_from(Run).where(
            Run.status == "running", Run.worker_id == worker_id)) or 0
        if mine >= limit:
            return None
        other = aliased(Run)
        other_extract = aliased(Extract)
        extract_busy = exists().where(other.extract_id == Run.extract_id,
                                      other.status == "running")
        on_connection = (select(func.count()).select_from(other)
                         .join(other_extract, other_extract.id == other.extract_id)
                         .where(other_extract.connection_id == Extract.connection_id,
                                other.status == "running")
                         .scalar_subquery())
        candidates = session.execute(
            select(Run.id, Run.extract_id, Extract.connection_id,
                   Connection.max_concurrent_runs)
            .join(Extract, Extract.id == Run.extract_id)
            .join(Connection, Connection.id == Extract.connection_id)
            .where(Run.status == "queued", Run.queued_at <= now, ~extract_busy,
                   on_connection < Connection.max_concurrent_runs)
            .order_by(Run.priority, Run.id).limit(5)).all()
        for run_id, extract_id, connection_id, cap in candidates:
            # PostgreSQL: serialise claims per connection so two workers cannot both take
            # its last slot (SQLite's BEGIN IMMEDIATE already serialises every claim).
            session.execute(select(Connection.id).where(Connection.id == connection_id)
                            .with_for_update())
            still_busy = exists().where(other.extract_id == extract_id,
                                        other.status == "running")
            running = (select(func.count()).select_from(other)
                       .join(other_extract, other_extract.id == other.extract_id)
                       .where(other_extract.connection_id == connection_id,
                              other.status == "running")
                       .scalar_subquery())
            claimed = _updated(session, update(Run).where(
                Run.id == run_id, Run.status == "queued", ~still_busy, running < cap,
            ).values(status="running", worker_id=worker_id, started_at=now,
                     heartbeat_at=now, attempts=Run.attempts + 1))
            if claimed:
                return int(run_id)
        return None


def retry_delay(settings: Settings) -> Callable[[int], float]:
    """Seconds to wait after failed attempt n: RETRY_BASE_DELAY * 2**(n-1)."""
    def delay(attempt: int) -> float:
        return float(settings.retry_base_delay * 2 ** (attempt - 1))
    return delay


def carry_out(db: Database, run_id: int, worker_id: str,
              clock: Callable[[], datetime] = utcnow) -> str | None:
    """Execute a claimed run, then apply what follows from its outcome; return its status.

    This is what an executor runs in its thread (or, later, a Celery task).
    """
    try:
        result = runner.execute_run(db=db, run_id=run_id, worker_id=worker_id, clock=clock,
                                    retry_delay=retry_delay(db.settings))
    except errors.ExtractsError as exc:  # deleted meanwhile, or taken over by recovery
        log.warning("run %s not executed: %s", run_id, exc)
        return None
    if result.status == "failed":
        auto_pause(db, result.extract_id, clock())
    elif result.status == "cancelled":
        _explain_timeout(db, run_id)
    log.info("run %s of extract %s %s%s", run_id, result.extract_id, result.status,
             f": {result.error}" if result.error else "")
    return result.status


def _explain_timeout(db: Database, run_id: int) -> None:
    with db.session() as session:
        run = session.get(Run, run_id)
        if run is None:
            return
        reasons = [str(line["message"]).split(";")[0] for line in run.log
                   if str(line.get("message", "")).startswith(TIMED_OUT)]
        if reasons:
            run.error = f"cancelled: {reasons[-1]}; the window's data was left as it was"


def auto_pause(db: Database, extract_id: int, now: datetime) -> bool:
    """Pause an extract whose last AUTO_PAUSE_AFTER finished runs all failed; say so."""
    count = db.settings.auto_pause_after
    with db.session() as session:
        extract = session.get(Extract, extract_id)
        if extract is None or extract.is_paused:
            return False
        last = session.execute(
            select(Run.status, Run.error).where(Run.extract_id == extract_id,
                                                Run.status.in_(("succeeded", "failed")))
            .order_by(Run.finished_at.desc(), Run.id.desc()).limit(count)).all()
        if len(last) < count or any(status != "failed" for status, _ in last):
            return False
        extract.is_paused = True
        extract.error_text = (f"paused after {count} consecutive failed runs; the last one "
                              f"failed with: {last[0][1]}. Fix the cause, then resume.")
        refresh_status(session, extract)
        log.warning("extract %s paused after %s consecutive failed runs", extract_id, count)
        return True


def time_out_runs(db: Database, worker_id: str, now: datetime) -> list[int]:
    """Ask this worker's runs that passed RUN_TIMEOUT to stop; they end as cancelled."""
    timeout = db.settings.run_timeout
    with db.session() as session:
        overdue = list(session.scalars(select(Run).where(
            Run.status == "running", Run.worker_id == worker_id,
            Run.cancel_requested.is_(False),
            Run.started_at <= now - timedelta(seconds=timeout))))
        for run in overdue:
            run.cancel_requested = True
            run.log = [*run.log, _line(now, "warning", f"{TIMED_OUT} after {timeout} s "
                                                       "(RUN_TIMEOUT); stopping before the "
                                                       "next chunk")]
        return [run.id for run in overdue]


def heartbeat(db: Database, worker_id: str, run_ids: list[int], now: datetime) -> None:
    """Tell recovery that this worker's runs are alive, even while a chunk takes long."""
    if not run_ids:
        return
    with db.session() as session:
        _updated(session, update(Run).where(Run.id.in_(run_ids), Run.status == "running",
                                            Run.worker_id == worker_id)
                 .values(heartbeat_at=now))


def recover_stale_runs(db: Database, now: datetime,
                       stale_after: timedelta = STALE_AFTER) -> list[int]:
    """Fail runs whose worker stopped (no heartbeat for `stale_after`); queue a retry run
    for each with attempts left. Returns the ids of the runs marked failed."""
    cutoff = now - stale_after
    failed: list[int] = []
    finished_extracts: set[int] = set()
    with db.session() as session:
        stale = session.execute(select(Run.id, Run.heartbeat_at).where(
            Run.status == "running",
            or_(Run.heartbeat_at < cutoff,
                Run.heartbeat_at.is_(None) & (Run.started_at < cutoff)))).all()
        for run_id, beat in stale:
            # Guarded on the heartbeat we saw: a second recoverer (or a late heartbeat) wins.
            guard = Run.heartbeat_at.is_(None) if beat is None else Run.heartbeat_at == beat
            if not _updated(session, update(Run).where(Run.id == run_id,
                                                       Run.status == "running", guard)
                            .values(status="failed")):
                continue
            run = session.get(Run, run_id)
            assert run is not None
            session.refresh(run)
            run.finished_at = now
            run.error = WORKER_STOPPED
            run.log = [*run.log, _line(now, "error", f"{WORKER_STOPPED} (worker "
                                                     f"{run.worker_id}, last heartbeat "
                                                     f"{beat.isoformat() if beat else 'never'})")]
            extract = run.extract
            if run.attempts < run.max_attempts:
                [retry] = run_service.queue_runs(session, extract, "retry",
                                                 [(run.date_from, run.date_to)], now)
                retry.attempts = run.attempts
                retry.max_attempts = run.max_attempts
                retry.log = [*run.log, _line(now, "info", f"retry of run {run.id}")]
                run.log = [*run.log, _line(now, "info", "queued again as a retry")]
            else:
                extract.error_text = WORKER_STOPPED
                finished_extracts.add(extract.id)
            refresh_status(session, extract)
            failed.append(run_id)
            log.warning("run %s: %s; %s", run_id, WORKER_STOPPED,
                        "retrying" if run.attempts < run.max_attempts else "no attempts left")
    for extract_id in finished_extracts:
        auto_pause(db, extract_id, now)
    return failed


def release_runs(db: Database, worker_id: str, run_ids: list[int], now: datetime) -> list[int]:
    """Put this worker's unfinished runs back in the queue (on shutdown); not an attempt."""
    released = []
    with db.session() as session:
        for run in session.scalars(select(Run).where(Run.id.in_(run_ids),
                                                     Run.status == "running",
                                                     Run.worker_id == worker_id)):
            run.status = "queued"
            run.worker_id = None
            run.attempts = max(run.attempts - 1, 0)
            run.queued_at = now
            run.log = [*run.log, _line(now, "warning", "released unfinished: the worker was "
                                                       "shutting down; queued again")]
            released.append(run.id)
    return released


class LocalExecutor:
    """Carries claimed runs to a pool of threads. The seam where a Celery executor would go:
    nothing above it knows how a claimed run gets executed."""

    def __init__(self, max_workers: int) -> None:
        self.max_workers = max_workers
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="run")
        self._futures: dict[int, Future[Any]] = {}
        self._lock = threading.Lock()

    def submit(self, run_id: int, work: Callable[[], Any],
               done: Callable[[], None] | None = None) -> None:
        future = self._pool.submit(work)
        with self._lock:
            self._futures[run_id] = future

        def forget(_: Future[Any]) -> None:
            with self._lock:
                self._futures.pop(run_id, None)
            if done is not None:
                done()

        future.add_done_callback(forget)

    def in_flight(self) -> list[int]:
        with self._lock:
            return list(self._futures)

    def free_slots(self) -> int:
        return self.max_workers - len(self.in_flight())

    def shutdown(self, timeout: float) -> list[int]:
        """Wait up to `timeout` seconds for the runs in flight; return those still going."""
        with self._lock:
            futures = list(self._futures.values())
        wait(futures, timeout=timeout)
        self._pool.shutdown(wait=False, cancel_futures=True)
        return self.in_flight()


# ----------------------------------------------------------------------------- schedules


def fire_schedule(db: Database, schedule_id: int, now: datetime, *,
                  grace: timedelta = MISFIRE_GRACE) -> int | None:
    """Serve a schedule's latest fire time that is due: queue its run (once) and return the
    run id; None when nothing is due, the time was already served, or the extract is paused.

    Due means a fire time in (the last one served, now], no older than `grace` and after
    the extract was last edited. The window is [today - lookback + 1, today], today being
    the fire time's date in the schedule's timezone.
    """
    return fire_schedules(db, [schedule_id], now, grace=grace)[schedule_id]


def fire_schedules(db: Database, schedule_ids: list[int], now: datetime, *,
                   grace: timedelta = MISFIRE_GRACE) -> dict[int, int | None]:
    """`fire_schedule` for many schedules in one transaction (hundreds fire at 00:00)."""
    fired: dict[int, int | None] = dict.fromkeys(schedule_ids)
    with db.session() as session:
        rows = session.execute(
            select(Schedule, Extract, Template, ScheduleFire.fired_at)
            .join(Extract, Extract.id == Schedule.extract_id)
            .join(Template, Template.id == Extract.template_id)
            .outerjoin(ScheduleFire, ScheduleFire.schedule_id == Schedule.id)
            .where(Schedule.id.in_(schedule_ids))).all()
        due: list[tuple[Schedule, Extract, tuple[Any, Any], datetime]] = []
        for schedule, extract, template, served in rows:
            floor = max(now - grace, extract.updated_at, served or now - grace)
            fire = schedules.last_fire(schedules.trigger_for(schedule_dict(schedule)),
                                       floor, now)
            if fire is None or not _serve(session, schedule.id, fire, served):
                continue  # nothing due, or another process served this fire time
            if extract.is_paused:
                continue
            span: tuple[Any, Any] = (None, None)
            if template.date_field is not None:
                today = fire.astimezone(ZoneInfo(schedule.timezone)).date()
                days = schedules.lookback_days(
                    schedule.lookback, default_lookback_days=template.default_lookback_days,
                    depth_limit_days=template.depth_limit_days)
                span = (today - timedelta(days=days - 1), today)
            due.append((schedule, extract, span, fire))
        # A run of the same window that still waits will do for this fire too.
        waiting = {tuple(row) for row in session.execute(
            select(Run.extract_id, Run.date_from, Run.date_to).where(
                Run.extract_id.in_({extract.id for _, extract, _, _ in due}),
                Run.status == "queued", Run.trigger == "schedule"))}
        queued: list[tuple[Schedule, Run, datetime]] = []
        for schedule, extract, span, fire in due:
            if (extract.id, *span) in waiting:
                continue
            waiting.add((extract.id, *span))
            run = Run(extract_id=extract.id, status="queued", trigger="schedule",
                      priority=PRIORITY["schedule"], date_from=span[0], date_to=span[1],
                      queued_at=now, max_attempts=db.settings.retry_attempts, log=[])
            session.add(run)
            extract.status = "syncing"  # what refresh_status says with a run queued
            queued.append((schedule, run, fire))
        session.flush()
        for schedule, run, fire in queued:
            fired[schedule.id] = run.id
            log.info("schedule %s of extract %s fired for %s: run %s (%s to %s)", schedule.id,
                     run.extract_id, fire.isoformat(), run.id, run.date_from, run.date_to)
    return fired


def _serve(session: Session, schedule_id: int, fire: datetime, served: datetime | None
           ) -> bool:
    """Record that `fire` of a schedule is served; False if it already was (by anyone)."""
    if served is not None:
        return bool(_updated(session, update(ScheduleFire).where(
            ScheduleFire.schedule_id == schedule_id, ScheduleFire.fired_at < fire)
            .values(fired_at=fire)))
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    result: Any = session.execute(insert(ScheduleFire).values(
        schedule_id=schedule_id, fired_at=fire).on_conflict_do_nothing())
    return bool(result.rowcount)


@dataclass(frozen=True)
class _ScheduleRow:
    id: int
    data: tuple[Any, ...]
    floor: datetime | None


def schedules_fingerprint(session: Session) -> tuple[Any, ...]:
    """A cheap summary that changes whenever a schedule is added, edited, removed or paused
    (edits replace schedule rows and touch the extract's updated_at)."""
    counts = session.execute(select(func.count(Schedule.id), func.coalesce(func.sum(
        Schedule.id), 0), func.max(Schedule.id))).one()
    latest = session.scalar(select(func.max(Extract.updated_at)))
    paused = session.execute(select(func.count(Extract.id), func.coalesce(func.sum(
        Extract.id), 0)).where(Extract.is_paused.is_(True))).one()
    return (*counts, latest, *paused)


_SCHEDULE_COLUMNS = (Schedule.frequency, Schedule.every_hours, Schedule.minute, Schedule.hour,
                     Schedule.weekday, Schedule.day_of_month, Schedule.cron, Schedule.timezone,
                     Schedule.lookback)


def active_schedules(session: Session) -> list[_ScheduleRow]:
    """The schedules that should fire (their extract is not paused)."""
    rows = session.execute(
        select(Schedule.id, *_SCHEDULE_COLUMNS, Extract.updated_at, ScheduleFire.fired_at)
        .join(Extract, Extract.id == Schedule.extract_id)
        .outerjoin(ScheduleFire, ScheduleFire.schedule_id == Schedule.id)
        .where(Extract.is_paused.is_(False)).order_by(Schedule.id)).all()
    return [_ScheduleRow(id=row[0], data=tuple(row[1:10]),
                         floor=max(d for d in (row[10], row[11]) if d is not None))
            for row in rows]


def _schedule_data(values: tuple[Any, ...]) -> dict[str, Any]:
    return dict(zip((c.key for c in _SCHEDULE_COLUMNS), values, strict=True))


FIRE_BATCH = 500


def _fire_job(worker: Worker, schedule_id: int) -> None:
    """APScheduler job: hand a due schedule to the worker's firing thread (if this process
    holds the scheduler lease). Many schedules share a fire time (00:00); the firing thread
    serves all that are waiting in one transaction instead of one each."""
    if worker.is_leader:
        worker.to_fire.put(schedule_id)


# ----------------------------------------------------------------------------- lease


def acquire_lease(db: Database, name: str, holder: str, now: datetime,
                  ttl: timedelta = LEASE_TTL) -> bool:
    """Take or renew the lease `name` for `holder` until now + ttl; False if another holds it."""
    with db.session() as session:
        if session.get(Lease, name) is None:
            try:
                with session.begin_nested():
                    session.add(Lease(name=name, holder=holder, expires_at=now + ttl))
                return True
            except IntegrityError:
                return False
        return bool(_updated(session, update(Lease).where(
            Lease.name == name, or_(Lease.holder == holder, Lease.expires_at <= now))
            .values(holder=holder, expires_at=now + ttl)))


def release_lease(db: Database, name: str, holder: str) -> None:
    """Give the lease up at once so another process can take over without waiting."""
    with db.session() as session:
        _updated(session, update(Lease).where(Lease.name == name, Lease.holder == holder)
                 .values(expires_at=datetime(2000, 1, 1, tzinfo=UTC)))


# ----------------------------------------------------------------------------- the worker


class Worker:
    """Claims and executes queued runs; while it holds the lease, fires schedules too."""

    def __init__(self, db: Database, *, worker_id: str | None = None,
                 clock: Callable[[], datetime] = utcnow, max_workers: int | None = None,
                 fire_schedules: bool = True, run_queue: bool = True) -> None:
        self.db = db
        self.worker_id = worker_id or worker_name()
        self.clock = clock
        self.max_workers = max_workers or db.settings.max_workers
        self.fire_schedules = fire_schedules
        self.run_queue = run_queue
        self.executor = LocalExecutor(self.max_workers)
        self.scheduler = BackgroundScheduler(
            timezone=ZoneInfo("UTC"),
            executors={"default": JobThreadPool(4)},
            job_defaults={"coalesce": True, "max_instances": 1,
                          "misfire_grace_time": int(MISFIRE_GRACE.total_seconds())})
        self.is_leader = False
        self.to_fire: queue.SimpleQueue[int] = queue.SimpleQueue()
        self.firing = threading.Lock()
        self._jobs: dict[str, tuple[Any, ...]] = {}
        self._fingerprint: tuple[Any, ...] | None = None
        self._due: dict[str, datetime] = {}
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._firer: threading.Thread | None = None
        self._lock = threading.Lock()

    # -- one step of the loop; tests call these with an explicit `now`

    def tick(self, now: datetime) -> None:
        """Everything the loop does once: lease, schedules, housekeeping, dispatch."""
        if self.fire_schedules and self._is_due("lease", now):
            self.renew_lease(now)
        if self.is_leader and self._is_due("sync", now):
            self.sync_schedules(now)
        if self._is_due("heartbeat", now):
            heartbeat(self.db, self.worker_id, self.executor.in_flight(), now)
            time_out_runs(self.db, self.worker_id, now)
        if self._is_due("recover", now):
            recover_stale_runs(self.db, now)
        if self.run_queue and not self.firing.locked():  # firing on time goes first
            self.dispatch(now)

    def _is_due(self, what: str, now: datetime) -> bool:
        every = {"lease": LEASE_RENEW_EVERY if self.is_leader else LEASE_POLL_EVERY,
                 "sync": SYNC_EVERY, "heartbeat": HEARTBEAT_EVERY,
                 "recover": RECOVER_EVERY}[what]
        if now < self._due.get(what, datetime.min.replace(tzinfo=UTC)):
            return False
        self._due[what] = now + every
        return True

    def dispatch(self, now: datetime) -> list[int]:
        """Claim queued runs while this worker has free threads; hand them to the executor."""
        started = []
        while not self._stopping.is_set() and self.executor.free_slots() > 0:
            # The clock moves while the loop claims; a run starts when it is claimed.
            run_id = claim_next(self.db, self.worker_id, max(now, self.clock()),
                                max_workers=self.max_workers)
            if run_id is None:
                break
            self.executor.submit(run_id, partial(carry_out, self.db, run_id, self.worker_id,
                                                 self.clock), done=self.wake)
            started.append(run_id)
        return started

    def renew_lease(self, now: datetime) -> bool:
        """Take or keep the scheduler lease; start or stop firing schedules accordingly."""
        held = acquire_lease(self.db, SCHEDULER_LEASE, self.worker_id, now)
        if held and not self.is_leader:
            log.info("worker %s holds the scheduler lease; firing schedules", self.worker_id)
            self.is_leader = True
            self._fingerprint = None
            self.sync_schedules(now)
        elif not held and self.is_leader:
            log.warning("worker %s lost the scheduler lease", self.worker_id)
            self.is_leader = False
            self._remove_jobs()
        return held

    def sync_schedules(self, now: datetime, *, force: bool = False) -> bool:
        """Make APScheduler's jobs mirror the Schedule rows of unpaused extracts; a job
        whose fire time was missed within the grace period runs at once. Returns whether
        anything was compared (the fingerprint had changed)."""
        with self.db.session() as session:
            fingerprint = schedules_fingerprint(session)
            if fingerprint == self._fingerprint and not force:
                return False
            rows = active_schedules(session)
        with self._lock:
            wanted = {f"schedule:{row.id}": row for row in rows}
            for job_id in set(self._jobs) - set(wanted):
                self._remove_job(job_id)
            changed = [job_id for job_id, row in wanted.items()
                       if self._jobs.get(job_id) != row.data]
            # Thousands of jobs at start or takeover: each add would wake the scheduler's
            # thread to look at its jobs again; pause it meanwhile (a second or two).
            pause = len(changed) > 200 and self.scheduler.state == STATE_RUNNING
            if pause:
                self.scheduler.pause()
            try:
                for job_id in changed:
                    row = wanted[job_id]
                    trigger = schedules.trigger_for(_schedule_data(row.data))
                    floor = max(now - MISFIRE_GRACE, row.floor or now)
                    # The first fire after the last one served: if it is past, the schedule
                    # missed it (within the grace period) and runs at once, once.
                    first = schedules.next_fire_of(trigger, floor)
                    extra: dict[str, Any] = {}
                    if first is not None:
                        extra["next_run_time"] = now if first <= now else first
                    self.scheduler.add_job(
                        _fire_job, trigger=trigger, args=(self, row.id), id=job_id,
                        name=job_id, replace_existing=True, coalesce=True, max_instances=1,
                        misfire_grace_time=int(MISFIRE_GRACE.total_seconds()), **extra)
                    self._jobs[job_id] = row.data
            finally:
                if pause:
                    self.scheduler.resume()
            self._fingerprint = fingerprint
        return True

    def job_ids(self) -> list[str]:
        return sorted(self._jobs)

    def next_fire_times(self) -> dict[str, datetime | None]:
        """Each schedule job's next fire time as APScheduler sees it."""
        return {job.id: getattr(job, "next_run_time", None)
                for job in self.scheduler.get_jobs()}

    def _remove_job(self, job_id: str) -> None:
        self._jobs.pop(job_id, None)
        with contextlib.suppress(JobLookupError):  # already gone
            self.scheduler.remove_job(job_id)

    def _remove_jobs(self) -> None:
        with self._lock:
            for job_id in list(self._jobs):
                self._remove_job(job_id)
            self._fingerprint = None

    def fire(self, schedule_id: int) -> int | None:
        return fire_schedule(self.db, schedule_id, self.clock())

    def _fire_loop(self) -> None:
        """Serve the schedule ids the APScheduler jobs hand over, in batches."""
        while not self._stopping.is_set():
            try:
                first = self.to_fire.get(timeout=TICK_SECONDS)
            except queue.Empty:
                continue
            batch = [first]
            with contextlib.suppress(queue.Empty):
                while len(batch) < FIRE_BATCH:
                    batch.append(self.to_fire.get_nowait())
            with self.firing:
                try:
                    fired = fire_schedules(self.db, batch, self.clock())
                except Exception:
                    log.exception("schedules %s failed to fire", batch)
                    continue
            if any(run_id is not None for run_id in fired.values()):
                self.wake()

    # -- the loop

    @property
    def stopped(self) -> bool:
        return self._stopping.is_set()

    def wake(self) -> None:
        """Run the loop now (a run finished or was queued) instead of at the next tick."""
        self._wake.set()

    def _on_flush(self, session: Session, _context: Any) -> None:
        if any(isinstance(o, Run) and o.status == "queued"
               for o in (*session.new, *session.dirty)):
            session.info["worker_wake"] = True

    def _on_commit(self, session: Session) -> None:
        if session.info.pop("worker_wake", False):
            self.wake()

    def start(self) -> Worker:
        """Start the scheduler and the loop thread."""
        if self._thread is not None:
            return self
        # A run queued in this process (dashboard, API) is claimed at once, not next tick.
        event.listen(self.db.sessions, "after_flush", self._on_flush)
        event.listen(self.db.sessions, "after_commit", self._on_commit)
        self.scheduler.start(paused=not self.fire_schedules)
        self._thread = threading.Thread(target=self._loop, name="worker", daemon=True)
        self._thread.start()
        self._firer = threading.Thread(target=self._fire_loop, name="worker-fire",
                                       daemon=True)
        self._firer.start()
        log.info("worker %s started: %s threads", self.worker_id, self.max_workers)
        return self

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self.tick(self.clock())
            except Exception:
                log.exception("worker %s: loop step failed; trying again", self.worker_id)
            self._wake.wait(TICK_SECONDS)
            self._wake.clear()

    def stop(self, grace: float = SHUTDOWN_GRACE_SECONDS) -> list[int]:
        """Stop claiming and firing; let runs in flight finish for up to `grace` seconds,
        then put the unfinished ones back in the queue. Returns the released run ids."""
        if self._stopping.is_set():
            return []
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            event.remove(self.db.sessions, "after_flush", self._on_flush)
            event.remove(self.db.sessions, "after_commit", self._on_commit)
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._firer is not None:
            self._firer.join(timeout=10)
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if self.is_leader:
            release_lease(self.db, SCHEDULER_LEASE, self.worker_id)
            self.is_leader = False
        unfinished = self.executor.shutdown(grace)
        released = release_runs(self.db, self.worker_id, unfinished, self.clock())
        log.info("worker %s stopped%s", self.worker_id,
                 f"; released runs {released}" if released else "")
        return released


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


def main() -> int:
    """Run a worker until SIGTERM or Ctrl-C; log to stdout."""
    logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    db = open_database(get_settings())
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("received %s; stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    worker = Worker(db).start()
    while not stop.wait(1.0):
        pass
    worker.stop()
    db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
