"""Schedule jobs: APScheduler jobs mirroring the Schedule rows (kept while this process
holds the scheduler lease), and the thread that fires the ones that come due.

Many schedules share a fire time (00:00): a due job only hands its schedule id over, and
the firing thread serves all that are waiting in one transaction instead of one each.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.executors.pool import ThreadPoolExecutor as JobThreadPool
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_RUNNING
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import schedules
from core.db import Database
from core.models import Extract, Schedule, ScheduleFire
from core.worker import firing, lease

log = logging.getLogger(__name__)

FIRE_BATCH = 500
WAIT_SECONDS = 0.5  # how long the firing thread waits for a due schedule before looking up


def new_scheduler() -> BackgroundScheduler:
    """APScheduler as the worker runs it: in UTC, one job instance at a time, and a fire
    missed by less than MISFIRE_GRACE still happens, once."""
    grace = int(firing.MISFIRE_GRACE.total_seconds())
    return BackgroundScheduler(
        timezone=ZoneInfo("UTC"), executors={"default": JobThreadPool(4)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": grace})


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


def _fire_job(jobs: ScheduleJobs, schedule_id: int) -> None:
    """APScheduler job: hand a due schedule over to the firing thread."""
    jobs.hand_over(schedule_id)


class ScheduleJobs:
    """The jobs of one process's scheduler, and its firing thread. A schedule fires only
    while `keeper` holds the scheduler lease; `on_fired` is told when runs were queued."""

    def __init__(self, db: Database, scheduler: BackgroundScheduler, keeper: lease.Keeper, *,
                 clock: Callable[[], datetime], on_fired: Callable[[], None]) -> None:
        self.db = db
        self.scheduler = scheduler
        self.keeper = keeper
        self.clock = clock
        self.on_fired = on_fired
        self.to_fire: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._firing = threading.Lock()
        self._jobs: dict[str, tuple[Any, ...]] = {}
        self._fingerprint: tuple[Any, ...] | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def sync(self, now: datetime, *, force: bool = False) -> bool:
        """Make the jobs mirror the Schedule rows of unpaused extracts; a job whose fire
        time was missed within the grace period runs at once. Returns whether anything was
        compared (the fingerprint had changed)."""
        with self.db.session() as session:
            fingerprint = schedules_fingerprint(session)
            if fingerprint == self._fingerprint and not force:
                return False
            rows = active_schedules(session)
        with self._lock:
            wanted = {f"schedule:{row.id}": row for row in rows}
            for job_id in set(self._jobs) - set(wanted):
                self._remove(job_id)
            changed = [job_id for job_id, row in wanted.items()
                       if self._jobs.get(job_id) != row.data]
            # Thousands of jobs at start or takeover: each add would wake the scheduler's
            # thread to look at its jobs again; pause it meanwhile (a second or two).
            pause = len(changed) > 200 and self.scheduler.state == STATE_RUNNING
            if pause:
                self.scheduler.pause()
            try:
                for job_id in changed:
                    self._add(job_id, wanted[job_id], now)
            finally:
                if pause:
                    self.scheduler.resume()
            self._fingerprint = fingerprint
        return True

    def clear(self) -> None:
        """Remove every job (the lease went to another process)."""
        with self._lock:
            for job_id in list(self._jobs):
                self._remove(job_id)
            self._fingerprint = None

    def ids(self) -> list[str]:
        """The ids of the jobs, one per schedule that fires."""
        return sorted(self._jobs)

    def next_fire_times(self) -> dict[str, datetime | None]:
        """Each job's next fire time as APScheduler sees it."""
        return {job.id: getattr(job, "next_run_time", None)
                for job in self.scheduler.get_jobs()}

    def hand_over(self, schedule_id: int) -> None:
        """Queue a due schedule for the firing thread, if the lease is held."""
        if self.keeper.holds(self.clock()):
            self.to_fire.put(schedule_id)

    def is_firing(self) -> bool:
        """Whether a batch is being fired now (claims wait: firing on time goes first)."""
        return self._firing.locked()

    def start(self) -> None:
        """Start the firing thread."""
        self._thread = threading.Thread(target=self._serve, name="worker-fire", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the firing thread after the batch it fires."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _add(self, job_id: str, row: _ScheduleRow, now: datetime) -> None:
        trigger = schedules.trigger_for(_schedule_data(row.data))
        floor = max(now - firing.MISFIRE_GRACE, row.floor or now)
        # The first fire after the last one served: if it is past, the schedule missed it
        # (within the grace period) and runs at once, once.
        first = schedules.next_fire_of(trigger, floor)
        extra: dict[str, Any] = {}
        if first is not None:
            extra["next_run_time"] = now if first <= now else first
        self.scheduler.add_job(
            _fire_job, trigger=trigger, args=(self, row.id), id=job_id, name=job_id,
            replace_existing=True, coalesce=True, max_instances=1,
            misfire_grace_time=int(firing.MISFIRE_GRACE.total_seconds()), **extra)
        self._jobs[job_id] = row.data

    def _remove(self, job_id: str) -> None:
        self._jobs.pop(job_id, None)
        with contextlib.suppress(JobLookupError):  # already gone
            self.scheduler.remove_job(job_id)

    def _serve(self) -> None:
        """Serve the schedule ids the jobs hand over, in batches."""
        while not self._stopping.is_set():
            try:
                first = self.to_fire.get(timeout=WAIT_SECONDS)
            except queue.Empty:
                continue
            batch = [first]
            with contextlib.suppress(queue.Empty):
                while len(batch) < FIRE_BATCH:
                    batch.append(self.to_fire.get_nowait())
            now = self.clock()
            if not self.keeper.holds(now):
                log.warning("schedules %s not fired: the scheduler lease ran out; the next "
                            "holder fires them", batch)
                continue
            with self._firing:
                try:
                    fired = firing.fire_schedules(self.db, batch, now,
                                                  lease_holder=self.keeper.holder)
                except Exception:
                    log.exception("schedules %s failed to fire", batch)
                    continue
            if any(run_id is not None for run_id in fired.values()):
                self.on_fired()
