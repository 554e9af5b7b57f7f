"""The run queue: claiming the next run a worker may start (within every cap), heartbeats,
timeouts, and putting unfinished runs back on shutdown.

The database holds the truth about runs; these functions change it with guarded UPDATEs,
so any number of workers (threads, processes, hosts) may call them at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, select, text, update
from sqlalchemy.orm import Session, aliased

from core import run_log, runner
from core.db import Database
from core.models import Connection, Extract, Run
from core.services.common import refresh_status
from core.vocabulary import BUSY_RUN_STATUSES, LogLevel, RunStatus
from core.worker import guarded

TIMED_OUT = "timed out"
DISPATCH_LOCK = 7_420_117  # any constant; names the dispatchers' advisory lock


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
            Run.status == RunStatus.RUNNING, Run.worker_id == worker_id)) or 0
        if mine >= limit:
            return None
        return _take_next(session, now, lambda: {
            "status": RunStatus.RUNNING, "worker_id": worker_id, "started_at": now,
            "heartbeat_at": now, "attempts": Run.attempts + 1,
            "claim_token": runner.new_claim_token()})


@dataclass(frozen=True)
class Dispatched:
    """A run marked dispatched: the token its task must carry, and its priority."""

    run_id: int
    token: str
    priority: int


def dispatch_next(db: Database, now: datetime, *, slots: int, queue: str
                  ) -> Dispatched | None:
    """Mark the next queued run dispatched (executor = celery), or None.

    The same choice and caps as `claim_next`, a dispatched run counting as running, with at
    most `slots` runs dispatched or running in all (the live Celery workers' slots). The
    run is not started: the task that carries it starts it, if it still carries `token`.
    `heartbeat_at` says when it was dispatched (see recovery.requeue_lost_dispatches).
    Dispatchers take turns (a transaction-scoped advisory lock), so that several of them
    never count the same free slot twice.
    """
    with db.session() as session:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": DISPATCH_LOCK})
        busy = session.scalar(select(func.count()).select_from(Run).where(
            Run.status.in_(BUSY_RUN_STATUSES))) or 0
        if busy >= slots:
            return None
        token = runner.new_claim_token()
        run_id = _take_next(session, now, lambda: {
            "status": RunStatus.DISPATCHED, "worker_id": None, "heartbeat_at": now,
            "claim_token": token})
        if run_id is None:
            return None
        run = session.get(Run, run_id)
        assert run is not None
        session.refresh(run)
        run_log.append(run, now, LogLevel.INFO, f"dispatched to the Celery queue {queue}")
        return Dispatched(run_id, token, run.priority)


def _take_next(session: Session, now: datetime, values: Callable[[], dict[str, Any]]
               ) -> int | None:
    """Give the next claimable run `values()` with a guarded UPDATE; its id, or None."""
    other = aliased(Run)
    other_extract = aliased(Extract)
    extract_busy = exists().where(other.extract_id == Run.extract_id,
                                  other.status.in_(BUSY_RUN_STATUSES))
    on_connection = (select(func.count()).select_from(other)
                     .join(other_extract, other_extract.id == other.extract_id)
                     .where(other_extract.connection_id == Extract.connection_id,
                            other.status.in_(BUSY_RUN_STATUSES))
                     .scalar_subquery())
    candidates = session.execute(
        select(Run.id, Run.extract_id, Extract.connection_id,
               Connection.max_concurrent_runs)
        .join(Extract, Extract.id == Run.extract_id)
        .join(Connection, Connection.id == Extract.connection_id)
        .where(Run.status == RunStatus.QUEUED, Run.queued_at <= now, ~extract_busy,
               on_connection < Connection.max_concurrent_runs)
        .order_by(Run.priority, Run.id).limit(5)).all()
    for run_id, extract_id, connection_id, cap in candidates:
        # PostgreSQL: serialise claims per connection so two workers cannot both take
        # its last slot (SQLite's BEGIN IMMEDIATE already serialises every claim).
        session.execute(select(Connection.id).where(Connection.id == connection_id)
                        .with_for_update())
        still_busy = exists().where(other.extract_id == extract_id,
                                    other.status.in_(BUSY_RUN_STATUSES))
        running = (select(func.count()).select_from(other)
                   .join(other_extract, other_extract.id == other.extract_id)
                   .where(other_extract.connection_id == connection_id,
                          other.status.in_(BUSY_RUN_STATUSES))
                   .scalar_subquery())
        claimed = guarded.rows_updated(session, update(Run).where(
            Run.id == run_id, Run.status == RunStatus.QUEUED, ~still_busy, running < cap,
        ).values(**values()))
        if claimed:
            return int(run_id)
    return None


def requeue_dispatched(db: Database, run_id: int, token: str, now: datetime, why: str
                       ) -> bool:
    """Put a dispatched run whose task was never sent back in the queue."""
    with db.session() as session:
        if not guarded.rows_updated(session, update(Run).where(
                Run.id == run_id, Run.status == RunStatus.DISPATCHED, Run.claim_token == token)
                .values(status=RunStatus.QUEUED, claim_token=None)):
            return False
        run = session.get(Run, run_id)
        assert run is not None
        session.refresh(run)
        run_log.append(run, now, LogLevel.WARNING, f"{why}; queued again")
        return True


def start_dispatched(db: Database, run_id: int, token: str, worker_id: str,
                     now: datetime) -> bool:
    """Move a dispatched run to running on this worker, if it still carries `token` (the
    task's copy is the current one); False otherwise (cancelled, queued again, started)."""
    with db.session() as session:
        return bool(guarded.rows_updated(session, update(Run).where(
            Run.id == run_id, Run.status == RunStatus.DISPATCHED, Run.claim_token == token)
            .values(status=RunStatus.RUNNING, worker_id=worker_id, started_at=now,
                    heartbeat_at=now, attempts=Run.attempts + 1,
                    claim_token=runner.new_claim_token())))


def take_over(db: Database, run_id: int, worker_id: str, now: datetime) -> bool:
    """Continue a running run whose worker is gone (the caller knows it: the run's liveness
    lock was free) on this worker, as its next attempt, with a fresh claim, so a load of
    the old worker can never commit. A cancelled run ends cancelled instead. False when the
    run is not running, or has no attempts left (recovery then fails it)."""
    with db.session() as session:
        run = session.scalar(select(Run).where(Run.id == run_id).with_for_update()
                             .execution_options(populate_existing=True))
        if run is None or run.status != RunStatus.RUNNING:
            return False
        if run.cancel_requested:
            _end_cancelled(session, run, now, "its worker was gone")
            return False
        if run.attempts >= run.max_attempts:
            return False
        gone = run.worker_id
        run.worker_id = worker_id
        run.started_at = now
        run.heartbeat_at = now
        run.attempts += 1
        run.claim_token = runner.new_claim_token()
        run_log.append(run, now, LogLevel.WARNING,
                       f"worker {gone} is gone (its task was delivered again); attempt "
                       f"{run.attempts} on worker {worker_id}")
        return True


def end_cancelled(db: Database, run_id: int, now: datetime, why: str) -> bool:
    """End a running run that was asked to stop and whose worker is gone (its task was
    terminated) as cancelled; the window keeps its data. False if it is not such a run."""
    with db.session() as session:
        run = session.scalar(select(Run).where(Run.id == run_id).with_for_update()
                             .execution_options(populate_existing=True))
        if run is None or run.status != RunStatus.RUNNING or not run.cancel_requested:
            return False
        _end_cancelled(session, run, now, why)
        return True


def _end_cancelled(session: Session, run: Run, now: datetime, why: str) -> None:
    timed_out = any(str(line.get("message", "")).startswith(TIMED_OUT) for line in run.log)
    reason = f"{TIMED_OUT} (RUN_TIMEOUT)" if timed_out else "by request"
    run.status = RunStatus.CANCELLED
    run.claim_token = None
    run.finished_at = now
    run.heartbeat_at = now
    run.error = f"cancelled: {reason}; {why}; the window's data was left as it was"
    run_log.append(run, now, LogLevel.WARNING, run.error)
    refresh_status(session, run.extract)


def heartbeat(db: Database, worker_id: str, run_ids: list[int], now: datetime) -> None:
    """Tell recovery that this worker's runs are alive, even while a chunk takes long."""
    if not run_ids:
        return
    with db.session() as session:
        guarded.rows_updated(session, update(Run).where(
            Run.id.in_(run_ids), Run.status == RunStatus.RUNNING, Run.worker_id == worker_id)
            .values(heartbeat_at=now))


def time_out_runs(db: Database, worker_id: str | None, now: datetime) -> list[int]:
    """Ask this worker's runs (None: every worker's) that passed RUN_TIMEOUT to stop; they
    end as cancelled."""
    timeout = db.settings.run_timeout
    mine = Run.worker_id == worker_id if worker_id is not None else Run.worker_id.isnot(None)
    with db.session() as session:
        overdue = list(session.scalars(select(Run).where(
            Run.status == RunStatus.RUNNING, mine,
            Run.cancel_requested.is_(False),
            Run.started_at <= now - timedelta(seconds=timeout))))
        for run in overdue:
            run.cancel_requested = True
            run_log.append(run, now, LogLevel.WARNING,
                           f"{TIMED_OUT} after {timeout} s (RUN_TIMEOUT); stopping before "
                           "the next chunk")
        return [run.id for run in overdue]


def release_runs(db: Database, worker_id: str, run_ids: list[int], now: datetime) -> list[int]:
    """Put this worker's unfinished runs back in the queue (on shutdown); not an attempt.

    Their claim tokens are cleared, so a load still under way can no longer commit. The
    rows are locked first: a load committing at this moment either finished its run (which
    then stays finished) or finds its claim gone.
    """
    released = []
    with db.session() as session:
        for run in session.scalars(select(Run).where(Run.id.in_(run_ids),
                                                     Run.status == RunStatus.RUNNING,
                                                     Run.worker_id == worker_id)
                                   .with_for_update()
                                   .execution_options(populate_existing=True)):
            run.status = RunStatus.QUEUED
            run.worker_id = None
            run.claim_token = None
            run.attempts = max(run.attempts - 1, 0)
            run.queued_at = now
            run_log.append(run, now, LogLevel.WARNING,
                           "released unfinished: the worker was shutting down; queued again")
            released.append(run.id)
    return released
