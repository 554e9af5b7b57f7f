"""Recovery: a run whose worker died is failed and retried; an extract whose runs keep
failing is paused, with the reason where its owner will look."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update

from core import run_log
from core.db import Database
from core.models import Extract, Run
from core.services import runs as run_service
from core.services.alerts import events as alert_events
from core.services.common import refresh_status
from core.vocabulary import FINISHED_RUN_STATUSES, LogLevel, RunStatus, RunTrigger
from core.worker import guarded

log = logging.getLogger(__name__)

STALE_AFTER = timedelta(seconds=60)  # a running run without a heartbeat for this long is dead
WORKER_STOPPED = "worker stopped during the run"
# A dispatched run whose task has not started it by then lost its message (the dispatcher
# died before publishing, the broker dropped it): it is queued again. A copy of the old
# message arriving later carries the old token and leaves the run alone.
DISPATCH_TIMEOUT = timedelta(seconds=60)


def requeue_lost_dispatches(db: Database, now: datetime,
                            timeout: timedelta = DISPATCH_TIMEOUT) -> list[int]:
    """Queue again the runs dispatched more than `timeout` ago that no task started."""
    requeued = []
    with db.session() as session:
        lost = session.execute(select(Run.id, Run.claim_token).where(
            Run.status == RunStatus.DISPATCHED, Run.heartbeat_at < now - timeout)).all()
        for run_id, token in lost:
            if not guarded.rows_updated(session, update(Run).where(
                    Run.id == run_id, Run.status == RunStatus.DISPATCHED,
                    Run.claim_token == token)
                    .values(status=RunStatus.QUEUED, claim_token=None)):
                continue
            run = session.get(Run, run_id)
            assert run is not None
            session.refresh(run)
            run_log.append(run, now, LogLevel.WARNING,
                           f"dispatched but not started within {int(timeout.total_seconds())}"
                           " s (its message was lost); queued again")
            requeued.append(run_id)
            log.warning("run %s: dispatched but never started; queued again", run_id)
    return requeued


def recover_stale_runs(db: Database, now: datetime,
                       stale_after: timedelta = STALE_AFTER) -> list[int]:
    """Fail runs whose worker stopped (no heartbeat for `stale_after`); queue a retry run
    for each with attempts left. Returns the ids of the runs marked failed.

    The failed run's claim token is cleared: its worker, should it wake up, cannot commit.
    """
    cutoff = now - stale_after
    failed: list[int] = []
    finished_extracts: set[int] = set()
    with db.session() as session:
        stale = session.execute(select(Run.id, Run.heartbeat_at).where(
            Run.status == RunStatus.RUNNING,
            or_(Run.heartbeat_at < cutoff,
                Run.heartbeat_at.is_(None) & (Run.started_at < cutoff)))).all()
        for run_id, beat in stale:
            # Guarded on the heartbeat we saw: a second recoverer (or a late heartbeat) wins.
            guard = Run.heartbeat_at.is_(None) if beat is None else Run.heartbeat_at == beat
            if not guarded.rows_updated(session, update(Run).where(
                    Run.id == run_id, Run.status == RunStatus.RUNNING, guard)
                    .values(status=RunStatus.FAILED, claim_token=None)):
                continue
            run = session.get(Run, run_id)
            assert run is not None
            session.refresh(run)
            run.finished_at = now
            run.error = WORKER_STOPPED
            run_log.append(run, now, LogLevel.ERROR,
                           f"{WORKER_STOPPED} (worker {run.worker_id}, last heartbeat "
                           f"{beat.isoformat() if beat else 'never'})")
            extract = run.extract
            if run.attempts < run.max_attempts:
                [retry] = run_service.queue_runs(session, extract, RunTrigger.RETRY,
                                                 [(run.date_from, run.date_to)], now)
                retry.attempts = run.attempts
                retry.max_attempts = run.max_attempts
                retry.log = list(run.log)
                run_log.append(retry, now, LogLevel.INFO, f"retry of run {run.id}")
                run_log.append(run, now, LogLevel.INFO, "queued again as a retry")
            else:
                extract.error_text = WORKER_STOPPED
                finished_extracts.add(extract.id)
            refresh_status(session, extract)
            if run.attempts >= run.max_attempts:  # final: alerts ride in this transaction
                alert_events.after_outcome(session, run, now)
            failed.append(run_id)
            log.warning("run %s: %s; %s", run_id, WORKER_STOPPED,
                        "retrying" if run.attempts < run.max_attempts else "no attempts left")
    for extract_id in finished_extracts:
        auto_pause(db, extract_id, now)
    return failed


def auto_pause(db: Database, extract_id: int, now: datetime) -> bool:
    """Pause an extract whose last AUTO_PAUSE_AFTER finished runs all failed; say so."""
    count = db.settings.auto_pause_after
    with db.session() as session:
        extract = session.get(Extract, extract_id)
        if extract is None or extract.is_paused:
            return False
        last = session.execute(
            select(Run.status, Run.error).where(Run.extract_id == extract_id,
                                                Run.status.in_(FINISHED_RUN_STATUSES))
            .order_by(Run.finished_at.desc(), Run.id.desc()).limit(count)).all()
        if len(last) < count or any(status != RunStatus.FAILED for status, _ in last):
            return False
        extract.is_paused = True
        extract.error_text = (f"paused after {count} consecutive failed runs; the last one "
                              f"failed with: {last[0][1]}. Fix the cause, then resume.")
        refresh_status(session, extract)
        alert_events.on_auto_pause(session, extract, now)
        log.warning("extract %s paused after %s consecutive failed runs", extract_id, count)
        return True
