"""Volume anomalies: succeeded runs whose rows per day of window are far from the median of
the extract's previous succeeded runs."""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from core.models import Extract, Run
from core.services.common import load
from core.services.history.query import HistoryQuery, run_filters
from core.vocabulary import RunStatus

TRAILING_RUNS = 14
MIN_TRAILING_RUNS = 3  # fewer earlier runs than this is no baseline to compare against
LOW, HIGH = 0.5, 2.0
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


def volume_anomalies(*, session: Session, query: HistoryQuery) -> pd.DataFrame:
    """Succeeded runs in the range whose rows per day of window fall below half or above
    twice the median of the extract's previous 14 succeeded runs (needs 3 of them)."""
    query.check()
    if query.status not in (None, RunStatus.SUCCEEDED):
        return pd.DataFrame(columns=ANOMALY_COLUMNS)
    start, _ = query.bounds()
    columns = _loaded_columns(session)
    by_extract: dict[int, list[Any]] = defaultdict(list)
    for row in session.execute(
            select(*columns).where(*run_filters(query), Run.status == RunStatus.SUCCEEDED)
            .order_by(Run.extract_id, Run.finished_at, Run.id)):
        by_extract[row[1]].append(row)
    # Each extract's last 14 succeeded runs (by finish time) queued before the range: one
    # statement, one index seek per extract (the correlated LIMIT runs once per extract).
    earlier = aliased(Run)
    conditions = [earlier.extract_id == Extract.id, earlier.status == RunStatus.SUCCEEDED,
                  earlier.queued_at < start]
    if query.trigger is not None:
        conditions.append(earlier.trigger == query.trigger)
    latest_before = (select(earlier.id).where(*conditions)
                     .order_by(earlier.finished_at.desc(), earlier.id.desc())
                     .limit(TRAILING_RUNS).correlate(Extract))
    before: dict[int, list[Any]] = defaultdict(list)
    if by_extract:
        for row in session.execute(
                select(*columns).select_from(Extract).join(Run, Run.id.in_(latest_before))
                .where(Extract.id.in_(list(by_extract)))
                .order_by(Run.extract_id, Run.finished_at, Run.id)):
            before[row[1]].append(row)
    found: list[dict[str, Any]] = []
    for extract_id, runs in by_extract.items():
        found += _flag([*before[extract_id], *runs], len(before[extract_id]))
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
