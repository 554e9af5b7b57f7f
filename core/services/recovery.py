"""Recovery in one click: stop a backfill or everything queued, retry exactly the windows
whose last run failed, and how long an extract has been failing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import errors, schemas
from core.clock import utcnow
from core.db import database_of
from core.models import Extract, Run
from core.services import runs
from core.services.common import load, refresh_status, run_out
from core.vocabulary import ACTIVE_RUN_STATUSES, RunStatus, RunTrigger


@dataclass(frozen=True)
class Failing:
    """An extract's unbroken streak of failed runs since its last success."""

    count: int
    since: datetime


def _cancel(session: Session, extract_id: int, query: object, now: datetime) -> int:
    load(session, Extract, extract_id, "extract")
    done = 0
    for run_id in list(session.scalars(query)):  # type: ignore[call-overload]
        try:
            runs.cancel_run(session=session, run_id=run_id, now=now)
            done += 1
        except errors.Conflict:
            continue  # it finished between the read and the lock: nothing left to stop
    return done


def cancel_backfill(*, session: Session, extract_id: int, now: datetime | None = None) -> int:
    """Cancel an extract's whole historical backfill: its queued chunks now, the running one
    before its next chunk. Returns how many runs were cancelled or asked to stop."""
    query = select(Run.id).where(Run.extract_id == extract_id,
                                 Run.trigger == RunTrigger.BACKFILL,
                                 Run.status.in_(ACTIVE_RUN_STATUSES)).order_by(Run.id)
    return _cancel(session, extract_id, query, now or utcnow())


def cancel_queued(*, session: Session, extract_id: int, now: datetime | None = None) -> int:
    """Cancel every queued run of an extract (a running one carries on). Returns how many."""
    query = select(Run.id).where(Run.extract_id == extract_id,
                                 Run.status == RunStatus.QUEUED).order_by(Run.id)
    return _cancel(session, extract_id, query, now or utcnow())


def _spans(days: list[date], chunk_days: int) -> list[tuple[date, date]]:
    """Consecutive days joined into windows of at most `chunk_days`, newest first."""
    spans: list[tuple[date, date]] = []
    for day in sorted(days):
        if spans and spans[-1][1] + timedelta(days=1) == day and \
                (day - spans[-1][0]).days < chunk_days:
            spans[-1] = (spans[-1][0], day)
        else:
            spans.append((day, day))
    return list(reversed(spans))


def failed_windows(*, session: Session, extract_id: int) -> list[tuple[date | None,
                                                                         date | None]]:
    """The windows whose last run failed (newest first): every date whose latest finished run
    (by finish time) failed, joined into windows; dates a queued or running run covers are
    left out. A template without a date field has one window, everything."""
    extract = load(session, Extract, extract_id, "extract")
    ordered = session.execute(
        select(Run.status, Run.date_from, Run.date_to).where(
            Run.extract_id == extract_id,
            Run.status.in_([RunStatus.SUCCEEDED, RunStatus.FAILED, *ACTIVE_RUN_STATUSES]))
        .order_by(Run.finished_at, Run.id)).all()
    if extract.template.date_field is None:
        finished = [s for s, _, _ in ordered if s not in ACTIVE_RUN_STATUSES]
        pending = any(s in ACTIVE_RUN_STATUSES for s, _, _ in ordered)
        return [(None, None)] if finished and finished[-1] == RunStatus.FAILED \
            and not pending else []
    last: dict[date, str] = {}
    pending_days: set[date] = set()
    for status, start, end in ordered:
        if start is None or end is None:
            continue
        days = (start + timedelta(days=n) for n in range((end - start).days + 1))
        if status in ACTIVE_RUN_STATUSES:
            pending_days.update(days)
        else:
            last.update(dict.fromkeys(days, status))
    failed = [d for d, s in last.items() if s == RunStatus.FAILED and d not in pending_days]
    chunk = database_of(session).settings.backfill_chunk_days
    return list(_spans(failed, chunk))


def retry_failed_windows(*, session: Session, extract_id: int, now: datetime | None = None
                         ) -> list[schemas.RunOut]:
    """Queue a retry run for exactly the windows whose last run failed (none: nothing)."""
    extract = load(session, Extract, extract_id, "extract")
    spans = failed_windows(session=session, extract_id=extract_id)
    queued = runs.queue_runs(session, extract, RunTrigger.RETRY, spans, now or utcnow())
    session.flush()
    refresh_status(session, extract)
    return [run_out(run) for run in queued]


def failing_since(*, session: Session, extract_ids: list[int]) -> dict[int, Failing]:
    """Per extract that is failing: how many runs failed in a row since its last successful
    one (by finish time), and when the first of them finished. Absent when not failing."""
    if not extract_ids:
        return {}
    last_success = (select(func.max(Run.finished_at))
                    .where(Run.extract_id == Extract.id, Run.status == RunStatus.SUCCEEDED)
                    .correlate(Extract).scalar_subquery())
    rows = session.execute(
        select(Run.extract_id, func.count(), func.min(Run.finished_at))
        .join(Extract, Extract.id == Run.extract_id)
        .where(Run.extract_id.in_(extract_ids), Run.status == RunStatus.FAILED,
               (last_success.is_(None)) | (Run.finished_at > last_success))
        .group_by(Run.extract_id))
    return {extract_id: Failing(count, since) for extract_id, count, since in rows
            if count and since is not None}
