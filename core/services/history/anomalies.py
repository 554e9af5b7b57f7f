"""Volume anomalies: succeeded runs whose rows per day of window are far from the median of
the extract's previous succeeded runs."""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import func, literal, select
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from core.models import Extract, Run
from core.services.common import load
from core.services.history.query import HistoryQuery, extract_scope, run_filters
from core.vocabulary import RunStatus

TRAILING_RUNS = 14
MIN_TRAILING_RUNS = 3  # fewer earlier runs than this is no baseline to compare against
LOW, HIGH = 0.5, 2.0
EPOCH = datetime(1, 1, 1, tzinfo=UTC)  # before any run's finish
ANOMALY_COLUMNS = ["run_id", "extract_id", "extract", "day", "queued_at", "rows", "rows_per_day",
                   "median_rows_per_day", "ratio", "direction"]


@dataclass(frozen=True)
class Anomaly:
    """A succeeded run whose rows per day are far from the extract's trailing median."""

    run_id: int
    rows_per_day: float
    median_rows_per_day: float
    ratio: float
    direction: str

    @property
    def label(self) -> str:
        arrow = "▼" if self.direction == "low" else "▲"
        return f"{arrow} {self.ratio:.1f}× the median ({self.median_rows_per_day:,.0f}/day)"


def _window_days(session: Session) -> ColumnElement[Any]:
    """SQL for the days a run's window spans (1 without dates)."""
    if session.get_bind().dialect.name == "sqlite":
        span: Any = func.julianday(Run.date_to) - func.julianday(Run.date_from) + 1
    else:
        span = Run.date_to - Run.date_from + 1
    return func.coalesce(span, 1)


def _loaded_columns(session: Session) -> tuple[Any, ...]:
    """(run id, extract id, rows, window days) of a succeeded run: four numbers, cheap to read."""
    return Run.id, Run.extract_id, Run.rows, _window_days(session)


def _median(ordered: list[float]) -> float:
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def _flag(sequence: Sequence[Any], first: int) -> list[dict[str, Any]]:
    """Anomalies among sequence[first:] (rows of _loaded_columns, oldest first), each against
    the median rows per day of the up to 14 runs before it (a sliding sorted window)."""
    per_day = [(rows or 0) / (days or 1) for _, _, rows, days in sequence]
    window = sorted(per_day[max(0, first - TRAILING_RUNS):first])
    found = []
    for index in range(first, len(sequence)):
        value = per_day[index]
        if len(window) >= MIN_TRAILING_RUNS:
            median = _median(window)
            ratio = value / median if median > 0 else 1.0
            if ratio < LOW or ratio > HIGH:
                run_id, extract_id, rows, _ = sequence[index]
                found.append({"run_id": run_id, "extract_id": extract_id, "rows": rows,
                              "rows_per_day": value, "median_rows_per_day": median,
                              "ratio": ratio, "direction": "low" if ratio < LOW else "high"})
        insort(window, value)
        if len(window) > TRAILING_RUNS:
            del window[bisect_left(window, per_day[index - TRAILING_RUNS])]
    return found


def _in_range(session: Session, query: HistoryQuery, columns: tuple[Any, ...]
              ) -> Sequence[Any]:
    """The range's succeeded runs (rows of `columns`), by extract and finish time.

    Read from ix_runs_extract_finished alone (the table's rows are wide: the log), one seek per
    extract from the range's start: a run finishes after it was queued. Should a run break that
    (a clock set back), the count over ix_runs_history tells, and the runs are read from the
    table instead."""
    start, _ = query.bounds()
    anyhow = run_filters(replace(query, status=None))
    succeeded = Run.status == RunStatus.SUCCEEDED
    in_scope = Run.extract_id.in_(select(Extract.id).where(*extract_scope(query)))
    # On the Core connection (no ORM row loading), kept as plain tuples: tens of thousands of
    # rows that the garbage collector would otherwise walk again and again.
    connection = session.connection()
    found = [tuple(row) for row in connection.execute(
        select(*columns).where(in_scope, Run.finished_at >= start, succeeded, *anyhow)
        .order_by(Run.extract_id, Run.finished_at, Run.id))]
    # Counted with a FILTER, not in the WHERE: an equality on the status would lead SQLite,
    # without ANALYZE's statistics, to ix_runs_queue and every succeeded run's row.
    expected = connection.scalar(select(func.count().filter(succeeded)).where(*anyhow))
    if expected == len(found):
        return found
    return [tuple(row) for row in connection.execute(
        select(*columns).where(succeeded, *anyhow)
        .order_by(Run.extract_id, Run.finished_at, Run.id))]


def _before(session: Session, query: HistoryQuery, columns: tuple[Any, ...],
            extract_ids: list[int]) -> dict[int, list[Any]]:
    """Each extract's last 14 succeeded runs (by finish time) queued before the range.

    One statement: per extract, the 14th latest finish is found with a backward seek on
    ix_runs_extract_finished, then the runs finished since are read from that index alone
    (ties with the 14th are trimmed here)."""
    start, _ = query.bounds()
    earlier = aliased(Run)
    conditions = [earlier.extract_id == Extract.id, earlier.status == RunStatus.SUCCEEDED,
                  earlier.queued_at < start]
    trigger = []
    if query.trigger is not None:
        conditions.append(earlier.trigger == query.trigger)
        trigger.append(Run.trigger == query.trigger)
    fourteenth = (select(earlier.finished_at).where(*conditions)
                  .order_by(earlier.finished_at.desc())
                  .limit(1).offset(TRAILING_RUNS - 1).correlate(Extract).scalar_subquery())
    # Materialized first, so each extract's bound is known before its runs are sought, with
    # or without ANALYZE's statistics (else SQLite may scan the runs and look the bound up).
    cutoffs = (select(Extract.id.label("extract_id"),
                      func.coalesce(fourteenth, literal(EPOCH, Run.finished_at.type))
                      .label("since"))
               .where(Extract.id.in_(extract_ids)).cte("cutoffs").prefix_with("MATERIALIZED"))
    before: dict[int, list[Any]] = defaultdict(list)
    for row in session.connection().execute(
            select(*columns).select_from(cutoffs)
            .join(Run, Run.extract_id == cutoffs.c.extract_id)
            .where(Run.status == RunStatus.SUCCEEDED, Run.queued_at < start,
                   Run.finished_at >= cutoffs.c.since, *trigger)
            .order_by(Run.extract_id, Run.finished_at, Run.id)):
        before[row[1]].append(tuple(row))
    return {extract_id: runs[-TRAILING_RUNS:] for extract_id, runs in before.items()}


def volume_anomalies(*, session: Session, query: HistoryQuery) -> pd.DataFrame:
    """Succeeded runs in the range whose rows per day of window fall below half or above
    twice the median of the extract's previous 14 succeeded runs (needs 3 of them)."""
    query.check()
    if query.status not in (None, RunStatus.SUCCEEDED):
        return pd.DataFrame(columns=ANOMALY_COLUMNS)
    columns = _loaded_columns(session)
    by_extract: dict[int, list[Any]] = defaultdict(list)
    for row in _in_range(session, query, columns):
        by_extract[row[1]].append(row)
    before = _before(session, query, columns, list(by_extract)) if by_extract else {}
    found: list[dict[str, Any]] = []
    for extract_id, runs in by_extract.items():
        earlier = before.get(extract_id, [])
        found += _flag([*earlier, *runs], len(earlier))
    if not found:
        return pd.DataFrame(columns=ANOMALY_COLUMNS)
    details = {run_id: (queued, title) for run_id, queued, title in session.execute(
        select(Run.id, Run.queued_at, Extract.title).join(Extract, Extract.id == Run.extract_id)
        .where(Run.id.in_([f["run_id"] for f in found])))}
    tz = query.tz
    records = []
    for f in found:
        queued, title = details[f["run_id"]]
        records.append({**f, "extract": title, "day": queued.astimezone(tz).date(),
                        "queued_at": queued.astimezone(tz)})
    records.sort(key=lambda r: (r["queued_at"], r["run_id"]))
    return pd.DataFrame(records, columns=ANOMALY_COLUMNS)


def run_anomalies(*, session: Session, extract_id: int, limit: int = 200
                  ) -> dict[int, Anomaly]:
    """Run id -> anomaly, among the extract's latest `limit` succeeded runs (for its runs
    table)."""
    load(session, Extract, extract_id, "extract")
    latest = list(reversed(session.execute(
        select(*_loaded_columns(session))
        .where(Run.extract_id == extract_id, Run.status == RunStatus.SUCCEEDED)
        .order_by(Run.finished_at.desc(), Run.id.desc()).limit(limit + TRAILING_RUNS)).all()))
    first = max(0, len(latest) - limit)
    return {f["run_id"]: Anomaly(f["run_id"], f["rows_per_day"], f["median_rows_per_day"],
                                 f["ratio"], f["direction"])
            for f in _flag(latest, first)}
