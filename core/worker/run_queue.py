"""The run queue: claiming the next run a worker may start (within every cap), heartbeats,
timeouts, and putting unfinished runs back on shutdown.

The database holds the truth about runs; these functions change it with guarded UPDATEs,
so any number of workers (threads, processes, hosts) may call them at once.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import exists, func, select, update
from sqlalchemy.orm import aliased

from core import run_log, runner
from core.db import Database
from core.models import Connection, Extract, Run
from core.vocabulary import LogLevel, RunStatus
from core.worker import guarded

TIMED_OUT = "timed out"


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
        other = aliased(Run)
        other_extract = aliased(Extract)
        extract_busy = exists().where(other.extract_id == Run.extract_id,
                                      other.status == RunStatus.RUNNING)
        on_connection = (select(func.count()).select_from(other)
                         .join(other_extract, other_extract.id == other.extract_id)
                         .where(other_extract.connection_id == Extract.connection_id,
                                other.status == RunStatus.RUNNING)
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
                                        other.status == RunStatus.RUNNING)
            running = (select(func.count()).select_from(other)
                       .join(other_extract, other_extract.id == other.extract_id)
                       .where(other_extract.connection_id == connection_id,
                              other.status == RunStatus.RUNNING)
                       .scalar_subquery())
            claimed = guarded.rows_updated(session, update(Run).where(
                Run.id == run_id, Run.status == RunStatus.QUEUED, ~still_busy, running < cap,
            ).values(status=RunStatus.RUNNING, worker_id=worker_id, started_at=now,
                     heartbeat_at=now, attempts=Run.attempts + 1,
                     claim_token=runner.new_claim_token()))
            if claimed:
                return int(run_id)
        return None


def heartbeat(db: Database, worker_id: str, run_ids: list[int], now: datetime) -> None:
    """Tell recovery that this worker's runs are alive, even while a chunk takes long."""
    if not run_ids:
        return
    with db.session() as session:
        guarded.rows_updated(session, update(Run).where(
            Run.id.in_(run_ids), Run.status == RunStatus.RUNNING, Run.worker_id == worker_id)
            .values(heartbeat_at=now))


def time_out_runs(db: Database, worker_id: str, now: datetime) -> list[int]:
    """Ask this worker's runs that passed RUN_TIMEOUT to stop; they end as cancelled."""
    timeout = db.settings.run_timeout
    with db.session() as session:
        overdue = list(session.scalars(select(Run).where(
            Run.status == RunStatus.RUNNING, Run.worker_id == worker_id,
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
