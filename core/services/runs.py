"""Runs: queueing manual and historical runs, reading and cancelling them."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import errors, run_log, schedules, schemas
from core.clock import utcnow
from core.db import database_of
from core.models import Extract, Run
from core.services.common import load, refresh_status, run_out
from core.vocabulary import (
    ACTIVE_RUN_STATUSES,
    FINISHED_RUN_STATUSES,
    PRIORITY,
    LogLevel,
    RunStatus,
    RunTrigger,
)

MAX_ATTEMPTS = 3


def windows(date_from: date, date_to: date, chunk_days: int) -> list[tuple[date, date]]:
    """[date_from, date_to] cut into consecutive windows of at most `chunk_days`, oldest first."""
    out = []
    start = date_from
    while start <= date_to:
        end = min(start + timedelta(days=chunk_days - 1), date_to)
        out.append((start, end))
        start = end + timedelta(days=1)
    return out


def queue_runs(session: Session, extract: Extract, trigger: RunTrigger,
               spans: list[tuple[date | None, date | None]], now: datetime) -> list[Run]:
    """Add queued runs of an extract, in the order given, and mark it syncing."""
    database = session.info.get("database")
    attempts = database.settings.retry_attempts if database is not None else MAX_ATTEMPTS
    runs = [Run(extract_id=extract.id, status=RunStatus.QUEUED, trigger=trigger,
                priority=PRIORITY[trigger], date_from=start, date_to=end, queued_at=now,
                max_attempts=attempts, log=[])
            for start, end in spans]
    session.add_all(runs)
    refresh_status(session, extract)
    return runs


def lookback_of(extract: Extract) -> int:
    """Days a run with no dates reaches back: the first schedule's lookback."""
    template = extract.template
    lookback = extract.schedules[0].lookback if extract.schedules else "default"
    return schedules.lookback_days(lookback, default_lookback_days=template.default_lookback_days,
                                   depth_limit_days=template.depth_limit_days)


def extract_today(extract: Extract, now: datetime) -> date:
    """Today's date where the extract's first schedule lives (UTC without schedules)."""
    timezone = extract.schedules[0].timezone if extract.schedules else "UTC"
    return now.astimezone(ZoneInfo(timezone)).date()


def run_extract(*, session: Session, extract_id: int, date_from: date | None = None,
                date_to: date | None = None, now: datetime | None = None
                ) -> list[schemas.RunOut]:
    """Queue a manual run of one extract for a date window (split into chunks if long).

    A window already queued for the extract (not yet running) is not queued twice: the
    request joins that run, which then goes at a manual run's priority, and the answer marks
    it `already_queued`. Backfill runs are not joined (editing the historical start date
    cancels them). A window that is running gets one run after it.
    """
    now = now or utcnow()
    extract = load(session, Extract, extract_id, "extract")
    if extract.template.date_field is None:
        if date_from is not None or date_to is not None:
            raise errors.Invalid(f"template {extract.template.title!r} has no date field, so a "
                                 "run always loads everything; leave date_from and date_to "
                                 "empty", field="date_from")
        spans: list[tuple[date | None, date | None]] = [(None, None)]
    else:
        today = extract_today(extract, now)
        date_to = date_to or today
        date_from = date_from or date_to - timedelta(days=lookback_of(extract) - 1)
        problems = []
        if date_from > date_to:
            problems.append(errors.Problem("date_from", f"date_from {date_from} is after "
                                                        f"date_to {date_to}"))
        if date_to > today:
            problems.append(errors.Problem("date_to", f"date_to {date_to} is in the future; "
                                                      f"use {today} or earlier"))
        depth = extract.template.depth_limit_days
        if depth is not None and date_from < today - timedelta(days=depth):
            problems.append(errors.Problem(
                "date_from", f"date_from {date_from} is older than the template's depth limit "
                             f"of {depth} days; use {today - timedelta(days=depth)} or later"))
        if problems:
            raise errors.Invalid(problems)
        chunk = database_of(session).settings.backfill_chunk_days
        spans = list(windows(date_from, date_to, chunk))
    return _queue_or_join(session, extract, spans, now)


def _queue_or_join(session: Session, extract: Extract,
                   spans: list[tuple[date | None, date | None]], now: datetime
                   ) -> list[schemas.RunOut]:
    """Manual runs for `spans`, in order, each joining a queued run that covers its window."""
    queued = list(session.scalars(select(Run).where(
        Run.extract_id == extract.id, Run.status == RunStatus.QUEUED,
        Run.trigger != RunTrigger.BACKFILL).order_by(Run.id)))
    joined = [next((run for run in queued if _covers(run, start, end)), None)
              for start, end in spans]
    fresh = iter(queue_runs(session, extract, RunTrigger.MANUAL,
                            [span for span, run in zip(spans, joined, strict=True)
                             if run is None], now))
    for run in joined:
        if run is not None:
            run.priority = min(run.priority, PRIORITY[RunTrigger.MANUAL])
    session.flush()  # the new runs get their ids
    return [run_out(next(fresh)) if run is None else
            run_out(run).model_copy(update={"already_queued": True}) for run in joined]


def _covers(run: Run, start: date | None, end: date | None) -> bool:
    """Whether `run` loads at least the window [start, end] (no window: everything)."""
    if run.date_from is None or run.date_to is None:
        return True
    return start is not None and end is not None and run.date_from <= start and \
        end <= run.date_to


def queue_backfill(session: Session, extract: Extract, start: date, now: datetime) -> list[Run]:
    """Queue backfill runs from `start` up to the day before the data already loaded or
    queued (or today), newest chunk first."""
    db = database_of(session)
    table = extract.data_table
    date_field = extract.template.date_field
    assert date_field is not None
    earliest = db.warehouse.earliest_date(table.table_name, extract.id, date_field)
    pending = session.scalar(select(func.min(Run.date_from)).where(
        Run.extract_id == extract.id, Run.trigger == RunTrigger.BACKFILL,
        Run.status.in_(ACTIVE_RUN_STATUSES)))
    known = [d for d in (earliest, pending) if d is not None]
    end = min(known) - timedelta(days=1) if known else extract_today(extract, now)
    if start > end:
        return []
    spans = windows(start, end, db.settings.backfill_chunk_days)
    return queue_runs(session, extract, RunTrigger.BACKFILL, list(reversed(spans)), now)


def cancel_queued_backfill(session: Session, extract: Extract, before: date | None,
                           now: datetime) -> int:
    """Cancel the extract's queued backfill runs; with `before`, only what lies before that
    date (a run straddling it is trimmed to start there)."""
    query = select(Run).where(Run.extract_id == extract.id,
                              Run.trigger == RunTrigger.BACKFILL,
                              Run.status == RunStatus.QUEUED)
    if before is not None:
        query = query.where(Run.date_from < before)
    runs = []
    for run in session.scalars(query):
        if before is not None and run.date_to is not None and run.date_to >= before:
            run.date_from = before
            continue
        _mark_cancelled(run, now, "historical start date changed")
        runs.append(run)
    refresh_status(session, extract)
    return len(runs)


def _mark_cancelled(run: Run, now: datetime, why: str) -> None:
    run.status = RunStatus.CANCELLED
    run.finished_at = now
    run.error = f"cancelled: {why}"
    run_log.append(run, now, LogLevel.WARNING, run.error)


def list_runs(*, session: Session, extract_id: int | None = None, status: str | None = None,
              limit: int = 100, offset: int = 0) -> list[schemas.RunOut]:
    """Runs, newest first, optionally of one extract or status."""
    query = select(Run).order_by(Run.id.desc()).limit(limit).offset(offset)
    if extract_id is not None:
        load(session, Extract, extract_id, "extract")
        query = query.where(Run.extract_id == extract_id)
    if status is not None:
        query = query.where(Run.status == status)
    return [run_out(r) for r in session.scalars(query)]


def get_run(*, session: Session, run_id: int) -> schemas.RunOut:
    """One run with its log."""
    return run_out(load(session, Run, run_id, "run"), with_log=True)


def cancel_run(*, session: Session, run_id: int, now: datetime | None = None
               ) -> schemas.RunOut:
    """Cancel a queued (or dispatched, not yet started) run now; ask a running one to stop
    before its next chunk.

    The run's row is locked first: a load commits only after checking, with the same row
    locked, that no cancel was asked for; so once this answers, the window is never
    replaced by the run, and a run that committed first answers that it already finished.
    """
    now = now or utcnow()
    run = session.scalar(select(Run).where(Run.id == run_id).with_for_update()
                         .execution_options(populate_existing=True))
    if run is None:
        raise errors.NotFound(f"run {run_id} does not exist")
    if run.status in (RunStatus.QUEUED, RunStatus.DISPATCHED):
        run.claim_token = None  # a dispatched run's task then finds it is not its to start
        _mark_cancelled(run, now, "by request")
        refresh_status(session, run.extract)
    elif run.status == RunStatus.RUNNING:
        run.cancel_requested = True
        run_log.append(run, now, LogLevel.WARNING,
                       "cancel requested; stopping before the next chunk")
    else:
        raise errors.Conflict(f"run {run_id} is already {run.status}; only queued or running "
                              "runs can be cancelled")
    session.flush()
    return run_out(run, with_log=True)


def run_window(*, session: Session, extract_id: int, now: datetime | None = None
               ) -> tuple[date, date] | None:
    """The window a run with no dates would load, and the extract's today; None for a
    template without a date field."""
    extract = load(session, Extract, extract_id, "extract")
    if extract.template.date_field is None:
        return None
    today = extract_today(extract, now or utcnow())
    return today - timedelta(days=lookback_of(extract) - 1), today


def last_run_rows(*, session: Session, extract_ids: list[int]) -> dict[int, int | None]:
    """Rows loaded by each extract's latest finished run (absent when it has none)."""
    latest_ids = (select(func.max(Run.id))
                  .where(Run.extract_id.in_(extract_ids),
                         Run.status.in_(FINISHED_RUN_STATUSES))
                  .group_by(Run.extract_id))
    rows = session.execute(select(Run.extract_id, Run.rows).where(Run.id.in_(latest_ids)))
    return {extract_id: count for extract_id, count in rows}


def recent_statuses(*, session: Session, extract_ids: list[int], limit: int = 10
                    ) -> dict[int, list[str]]:
    """The statuses of each extract's last `limit` runs, oldest first (absent: no runs)."""
    if not extract_ids:
        return {}
    numbered = (select(Run.extract_id, Run.id, Run.status,
                       func.row_number().over(partition_by=Run.extract_id,
                                              order_by=Run.id.desc()).label("n"))
                .where(Run.extract_id.in_(extract_ids)).subquery())
    out: dict[int, list[str]] = {}
    for extract_id, status in session.execute(
            select(numbered.c.extract_id, numbered.c.status).where(numbered.c.n <= limit)
            .order_by(numbered.c.extract_id, numbered.c.id)):
        out.setdefault(extract_id, []).append(status)
    return out


def runs_stamp(*, session: Session) -> str:
    """A value that changes whenever a run is queued, changes status or is deleted (with its
    extract): caches of what the runs add up to are keyed on it.

    Every change of status leaves or enters queued, dispatched or running, so the newest
    run id, the count and id sum of the runs in each of those and the number of extracts
    tell it; they are read from ix_runs_queue's few active entries, not all the runs (a
    count per status of 200,000 runs took 10 ms, and the History page asks 8 times)."""
    newest = session.scalar(select(func.max(Run.id)))
    active = session.execute(
        select(Run.status, func.count(), func.sum(Run.id))
        .where(Run.status.in_(ACTIVE_RUN_STATUSES)).group_by(Run.status)
        .order_by(Run.status)).all()
    extracts = session.scalar(select(func.count()).select_from(Extract))
    return f"{newest}:{extracts}:" + ",".join(f"{status}={count}/{ids}"
                                              for status, count, ids in active)
