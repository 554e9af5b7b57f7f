"""Execute one run: fetch -> select and filter -> load the window -> record the outcome."""

from __future__ import annotations

import logging
import secrets
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import db as database
from core import drift, errors, filters, run_log, schemas
from core.clock import utcnow
from core.connectors import registry
from core.connectors.base import (
    AccountSpec,
    FetchRequest,
    FetchResult,
    FieldSpec,
    Filter,
    Note,
    SourceError,
    TransientError,
)
from core.db import Database
from core.models import Run, SourceState
from core.redact import Redactor
from core.services.alerts import events as alert_events
from core.services.catalog import connection_info
from core.services.common import field_specs, load, refresh_status, run_out, template_spec
from core.vocabulary import FINISHED_RUN_STATUSES, LogLevel, RunStatus
from core.warehouse import Window, arrow

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 5.0
# Runs on a worker's threads may create or widen one data table at once; SQLite refuses
# ("database is locked") a schema change racing another, so they take turns in a process.
_SCHEMA_LOCK = threading.Lock()


@dataclass(frozen=True)
class _Plan:
    """Everything a run needs, read once so no session stays open while it fetches."""

    request: FetchRequest
    datasource: str
    table_name: str
    table_title: str
    fields: list[FieldSpec]
    window: Window
    account: AccountSpec
    claim_token: str


def new_claim_token() -> str:
    """A fresh token for one claim of a run (the fence its load commits behind)."""
    return secrets.token_hex(16)


def locked_run(session: Session, run_id: int) -> Run:
    """The run's row, locked until the session's transaction ends (FOR UPDATE on
    PostgreSQL; SQLite's BEGIN IMMEDIATE already holds the write lock)."""
    run = session.scalar(select(Run).where(Run.id == run_id).with_for_update()
                         .execution_options(populate_existing=True))
    if run is None:
        raise errors.NotFound(f"run {run_id} does not exist")
    return run


def _check_claim(run: Run, worker_id: str, token: str) -> None:
    """Raise unless the run is still running on this worker's claim, with no cancel."""
    if run.status != RunStatus.RUNNING or run.claim_token != token:
        raise errors.ClaimLost(
            f"worker {worker_id} lost run {run.id} (now {run.status}; released or recovered "
            "meanwhile); its load was rolled back")
    if run.cancel_requested:
        raise errors.Cancelled("cancelled by request")


def _claim(db: Database, run_id: int, worker_id: str, now: datetime) -> _Plan:
    with db.session() as session:
        run = locked_run(session, run_id)
        if run.status == RunStatus.QUEUED:
            run.status = RunStatus.RUNNING
            run.worker_id = worker_id
            run.started_at = now
            run.attempts += 1
            run.claim_token = new_claim_token()
        elif run.status != RunStatus.RUNNING or run.worker_id != worker_id:
            raise errors.Conflict(f"run {run_id} is {run.status}; only a queued run (or one "
                                  "this worker claimed) can be executed")
        elif run.claim_token is None:
            run.claim_token = new_claim_token()
        run.heartbeat_at = now
        run_log.append(run, now, LogLevel.INFO,
                       f"attempt {run.attempts} started ({run.trigger}, window "
                       f"{run.date_from} to {run.date_to})")
        extract = run.extract
        refresh_status(session, extract)
        specs = field_specs(extract.template)
        account = AccountSpec(extract.account.external_id, extract.account.name)
        request = FetchRequest(
            connection=connection_info(session, extract.connection), account=account,
            template=template_spec(extract.template),
            # A filter may name a field that is not stored: fetch it too, to filter on.
            fields=tuple(dict.fromkeys([*extract.fields, *(f["field"] for f in extract.filters)])),
            filters=tuple(Filter(f["field"], f["operator"], f.get("value"))
                          for f in extract.filters),
            options=dict(extract.template_options), date_from=run.date_from,
            date_to=run.date_to, today=now.date(),
            state=saved.state if (saved := session.get(SourceState, extract.id)) else None,
        )
        return _Plan(
            request=request, datasource=extract.connection.datasource,
            table_name=extract.data_table.table_name, table_title=extract.data_table.title,
            fields=[specs[name] for name in extract.fields],
            window=Window(extract.id, extract.template.date_field, run.date_from, run.date_to),
            account=account, claim_token=run.claim_token,
        )


def _shaped(plan: _Plan, result: FetchResult, notes: list[str]) -> Iterator[pa.Table]:
    """Chunks cut to the selected fields, cast to their types, filtered, and kept inside
    the run's window, all with pyarrow.compute (the window is checked only where the source
    could not push it down)."""
    names = [f.name for f in plan.fields]
    types = {f.name: f.type for f in plan.request.template.fields}
    typed_filters = []
    for raw in plan.request.filters:
        item, _ = filters.check({"field": raw.field, "operator": raw.operator,
                                 "value": raw.value},
                                {f.name: f for f in plan.request.template.fields}, "filters")
        if item is not None:
            typed_filters.append(item)
    window = plan.window
    date_field = window.date_field
    check_window = (not result.window_applied and date_field is not None
                    and window.date_from is not None and window.date_to is not None)
    wanted = list(dict.fromkeys([*names, *plan.request.fields,
                                 *([date_field] if check_window and date_field else [])]))
    dropped = 0
    for chunk in result.chunks:
        missing = [n for n in plan.request.fields if n not in chunk.schema.names]
        if missing:
            raise SourceError(f"the source returned no column for field(s) {', '.join(missing)}")
        table = arrow.conform(chunk, [n for n in wanted if n in chunk.schema.names], types)
        if not result.filters_applied:
            table = filters.apply(table, typed_filters, types)
        if check_window and date_field in table.column_names and table.num_rows:
            days = table.column(date_field)
            inside = pc.fill_null(pc.and_(
                pc.greater_equal(days, pa.scalar(window.date_from, pa.date32())),
                pc.less_equal(days, pa.scalar(window.date_to, pa.date32()))), False)
            kept = table.filter(inside)
            dropped += table.num_rows - kept.num_rows
            table = kept
        yield table.select(names)
    if dropped:
        notes.append(f"dropped {dropped} row(s) the source returned outside the window")


def execute_run(*, db: Database, run_id: int, worker_id: str = "inline",
                clock: Callable[[], datetime] = utcnow,
                retry_delay: Callable[[int], float] | None = None,
                stop: threading.Event | None = None) -> schemas.RunOut:
    """Execute one run synchronously and record its outcome; the window is all or nothing.

    With `retry_delay` (seconds to wait after attempt n), a run that failed transiently and
    has attempts left goes back to the queue, eligible again after that delay. The load
    commits only while the run still carries this claim's token and no cancel was asked
    for, checked with the run's row locked, in the transaction that records the outcome;
    otherwise it is rolled back and ClaimLost (or a cancelled outcome) follows. Once `stop`
    is set the run stops before its next chunk with WorkerStopping, its load rolled back.
    """
    started = clock()
    plan = _claim(db, run_id, worker_id, started)
    notes: list[str] = []
    fetched: list[FetchResult] = []

    def all_notes() -> list[Note]:
        """What the source logged (FetchResult.notes, at its levels), then the run's own
        notes (warnings), redacted."""
        return [(level, redact(text) or "") for level, text in [
            *(fetched[0].notes if fetched else []),
            *((LogLevel.WARNING, note) for note in notes)]]
    last_beat = time.monotonic()
    recorded: list[schemas.RunOut] = []

    def before_chunk() -> None:
        nonlocal last_beat
        if stop is not None and stop.is_set():
            raise errors.WorkerStopping(f"worker {worker_id} is shutting down; the load of "
                                        f"run {run_id} was rolled back")
        if time.monotonic() - last_beat < HEARTBEAT_SECONDS:
            return
        last_beat = time.monotonic()
        with db.session() as session:
            run = load(session, Run, run_id, "run")
            _check_claim(run, worker_id, plan.claim_token)
            run.heartbeat_at = clock()

    def commit_guard(rows: int, commit: Callable[[], None]) -> None:
        with db.session() as session:
            run = locked_run(session, run_id)
            _check_claim(run, worker_id, plan.claim_token)
            commit()
            if fetched and fetched[0].state is not None:
                keep_state(session, plan.window.extract_id, fetched[0].state, clock())
            recorded.append(_apply(session, run, status=RunStatus.SUCCEEDED, error=None,
                                   rows=rows, notes=all_notes(),
                                   detail=None, started=started, finished=clock()))

    def cancel_check_final() -> None:
        nonlocal last_beat
        last_beat = float("-inf")  # not 0.0: the monotonic clock may have started < 5 s ago
        before_chunk()

    status, error, rows = RunStatus.SUCCEEDED, None, 0
    retry: Callable[[int], float] | None = None
    detail: str | None = None
    # A source may echo a secret (a key in a URL, a password in a connection string): none
    # reaches the run's error, its log or the worker's output.
    connection = plan.request.connection
    redact = Redactor(connection.secrets, user=connection.config.get("username"))
    try:
        notes += drift.check_run(db=db, request=plan.request, extract_id=plan.window.extract_id)
        with _SCHEMA_LOCK:
            db.warehouse.ensure_table(plan.table_name, plan.fields, plan.window.date_field,
                                      plan.table_title)
        result = registry.get(plan.datasource).fetch(plan.request)
        fetched.append(result)
        chunks = _shaped(plan, result, notes)

        def guarded() -> Iterator[pa.Table]:
            yield from chunks
            cancel_check_final()

        rows = db.warehouse.replace_window(
            table_name=plan.table_name, window=plan.window, fields=plan.fields,
            chunks=guarded(),
            system_values={"account_id": plan.account.external_id,
                           "account_name": plan.account.name,
                           "__insert_date": started, "__extract_id": plan.window.extract_id,
                           "__run_id": run_id},
            before_chunk=before_chunk, commit_guard=commit_guard,
        )
        if recorded:
            return recorded[0]
    except errors.ClaimLost as exc:
        _note_lost(db, run_id, exc, clock())
        raise
    except errors.WorkerStopping:
        raise  # the worker puts the run back in the queue
    except errors.Cancelled as exc:
        status = RunStatus.CANCELLED
        error = f"cancelled: {exc}; the window's data was left as it was"
    except TransientError as exc:
        status, error = RunStatus.FAILED, f"temporary source error: {exc}"
        retry = retry_delay
    except (SourceError, errors.ExtractsError) as exc:
        status, error = RunStatus.FAILED, str(exc)
    except Exception as exc:  # a bug or an unexpected library error: record, never hide
        status = RunStatus.FAILED
        error, retry, detail = _unexpected(db, exc, retry_delay)
    finally:
        # A source left half-read (cancel, timeout, a failure) is stopped now, not when the
        # garbage collector gets to it: a subprocess source is killed on close.
        for result in fetched:
            close = getattr(result.chunks, "close", None)
            if close is not None:
                close()
    return _record(db, run_id, status=status, error=redact(error), rows=rows,
                   notes=all_notes(), detail=redact(detail),
                   started=started, finished=clock(), retry=retry, worker_id=worker_id)


def keep_state(session: Session, extract_id: int, state: object, now: datetime) -> None:
    """Keep the state a source ended the extract's read with, in the outcome's transaction."""
    row = session.get(SourceState, extract_id)
    if row is None:
        session.add(SourceState(extract_id=extract_id, state=state, updated_at=now))
    else:
        row.state = state
        row.updated_at = now


def _unexpected(db: Database, exc: Exception, retry_delay: Callable[[int], float] | None
                ) -> tuple[str, Callable[[int], float] | None, str | None]:
    """The error, retry and detail of a failure no layer named: a full disk and a lock held
    past the busy timeout are said in the database's words, without a traceback."""
    if full := database.disk_full(exc):
        # The load was rolled back; its pages still fill the write-ahead log. Give them
        # back first, or recording the outcome would find the disk as full.
        db.release_space()
        return (f"{full}: the window's data was left as it was; free space on the disk of "
                "the database, then run it again"), None, None
    if busy := database.locked(exc):
        return (f"temporary database error: {busy} (another write held the lock longer "
                f"than the busy timeout, {db.settings.busy_timeout} s)"), retry_delay, None
    return f"{type(exc).__name__}: {exc}", None, traceback.format_exc(limit=8)


def _note_lost(db: Database, run_id: int, exc: errors.ClaimLost, now: datetime) -> None:
    """Say on the run, and in the worker's log, that this worker lost it."""
    log.warning("%s", exc)
    with db.session() as session:
        run = session.get(Run, run_id)
        if run is not None:
            run_log.append(run, now, LogLevel.WARNING, str(exc))


def _record(db: Database, run_id: int, *, status: RunStatus, error: str | None, rows: int,
            notes: list[Note], detail: str | None, started: datetime, finished: datetime,
            retry: Callable[[int], float] | None = None, worker_id: str | None = None
            ) -> schemas.RunOut:
    with db.session() as session:
        run = locked_run(session, run_id)
        if worker_id is not None and (run.status != RunStatus.RUNNING
                                      or run.worker_id != worker_id):
            # Recovery or a shutdown took the run from this worker meanwhile: what they
            # recorded stands (a retry reloads the window; a reload never duplicates rows).
            run_log.append(run, finished, LogLevel.WARNING,
                           f"late outcome '{status}' of worker {worker_id} ignored")
            return run_out(run, with_log=True)
        return _apply(session, run, status=status, error=error, rows=rows, notes=notes,
                      detail=detail, started=started, finished=finished, retry=retry)


def _apply(session: Session, run: Run, *, status: RunStatus, error: str | None, rows: int,
           notes: list[Note], detail: str | None, started: datetime, finished: datetime,
           retry: Callable[[int], float] | None = None) -> schemas.RunOut:
    """Write a run's outcome in `session`; the run is finished (or queued for a retry) and
    no longer claimed."""
    run.status = status
    run.claim_token = None
    run.finished_at = finished
    run.heartbeat_at = finished
    run.duration_seconds = round((finished - started).total_seconds(), 3)
    run.error = error
    run.rows = rows if status == RunStatus.SUCCEEDED else None
    lines = [run_log.line(finished, level, text) for level, text in notes]
    if status == RunStatus.SUCCEEDED:
        lines.append(run_log.line(finished, LogLevel.INFO, f"loaded {rows} rows in "
                                                           f"{run.duration_seconds:.2f}s"))
    else:
        lines.append(run_log.line(
            finished, LogLevel.ERROR if status == RunStatus.FAILED else LogLevel.WARNING,
            error or status))
    if detail:
        lines.append(run_log.line(finished, LogLevel.DEBUG, detail))
    if status == RunStatus.FAILED and retry is not None and run.attempts < run.max_attempts:
        # Same run, next attempt: back in the queue, not claimable before `queued_at`.
        run.status = RunStatus.QUEUED
        run.worker_id = None
        run.finished_at = None
        run.queued_at = finished + timedelta(seconds=retry(run.attempts))
        lines.append(run_log.line(finished, LogLevel.INFO,
                                  f"attempt {run.attempts + 1} of {run.max_attempts} "
                                  f"queued for {run.queued_at.isoformat()}"))
    run.log = [*run.log, *lines]
    extract = run.extract
    if status == RunStatus.SUCCEEDED:
        extract.last_sync = finished
    # A paused extract's error_text says why it is paused; a manual run's outcome is on
    # the run and must not hide that reason.
    if status == RunStatus.SUCCEEDED and not extract.is_paused:
        extract.error_text = None
    elif (status == RunStatus.FAILED and run.status == RunStatus.FAILED
          and not extract.is_paused):
        extract.error_text = error  # only once no attempts are left
    refresh_status(session, extract)
    session.flush()
    if run.status in FINISHED_RUN_STATUSES:  # alerts ride in the outcome's transaction
        alert_events.after_outcome(session, run, finished)
    return run_out(run, with_log=True)

