"""How the extracts stand: in error, stale, how fresh their data is; and the headline figures
of a period against the period of the same length before it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import schedules
from core.clock import utcnow
from core.models import Extract, Run, Schedule
from core.services.history.query import HistoryQuery, extract_scope, percentiles, run_filters
from core.vocabulary import Frequency, RunStatus

NOMINAL_INTERVALS = {Frequency.DAILY: timedelta(days=1), Frequency.WEEKLY: timedelta(weeks=1),
                     Frequency.MONTHLY: timedelta(days=31)}


@dataclass(frozen=True)
class _ExtractRow:
    id: int
    title: str
    status: str
    is_paused: bool
    created_at: datetime
    interval: timedelta | None


@dataclass(frozen=True)
class _Health:
    last_success: datetime | None
    last_failure: datetime | None
    in_error: bool
    stale: bool


def _interval(schedule: Schedule, now: datetime, cache: dict[tuple[Any, ...], timedelta | None]
              ) -> timedelta | None:
    """The time between two fires of a schedule: nominal for the fixed frequencies (a month
    counts 31 days), measured from the next two fires for cron."""
    if schedule.frequency == Frequency.HOURLY:
        return timedelta(hours=schedule.every_hours or 1)
    if schedule.frequency in NOMINAL_INTERVALS:
        return NOMINAL_INTERVALS[Frequency(schedule.frequency)]
    data = {k: getattr(schedule, k) for k in schedules.DEFAULT_SCHEDULE}
    key = tuple(data.values())
    if key not in cache:
        trigger = schedules.trigger_for(data)
        first = schedules.next_fire_of(trigger, now)
        second = schedules.next_fire_of(trigger, first) if first is not None else None
        cache[key] = second - first if first is not None and second is not None else None
    return cache[key]


def _extracts_in_scope(session: Session, query: HistoryQuery, now: datetime
                       ) -> list[_ExtractRow]:
    """The extracts the filters select, each with its shortest schedule interval."""
    scope = extract_scope(query)
    rows = session.execute(select(Extract.id, Extract.title, Extract.status, Extract.is_paused,
                                  Extract.created_at).where(*scope).order_by(Extract.id)).all()
    intervals: dict[int, timedelta] = {}
    cache: dict[tuple[Any, ...], timedelta | None] = {}
    schedule_query = select(Schedule)
    if scope:
        schedule_query = schedule_query.where(
            Schedule.extract_id.in_(select(Extract.id).where(*scope)))
    for schedule in session.scalars(schedule_query):
        interval = _interval(schedule, now, cache)
        if interval is not None:
            known = intervals.get(schedule.extract_id)
            intervals[schedule.extract_id] = min(interval, known) if known else interval
    return [_ExtractRow(i, t, s, p, c, intervals.get(i)) for i, t, s, p, c in rows]


def _latest(status: str, column: Any, moment: datetime | None = None) -> Any:
    """The newest `column` of the extract's runs with `status` (finished by `moment`): one
    index seek per extract on ix_runs_extract_finished / ix_runs_extract_date_to."""
    where = [Run.extract_id == Extract.id, Run.status == status]
    if moment is not None:
        where.append(Run.finished_at <= moment)
    return select(func.max(column)).where(*where).correlate(Extract).scalar_subquery()


def _health_at(session: Session, query: HistoryQuery, extracts: list[_ExtractRow],
               moment: datetime) -> dict[int, _Health]:
    """Each extract's state at `moment`: in error when its latest finished run by then failed;
    stale when, unpaused and scheduled, nothing succeeded within twice its schedule interval."""
    latest = {extract_id: (success, failure) for extract_id, success, failure in session.execute(
        select(Extract.id, _latest(RunStatus.SUCCEEDED, Run.finished_at, moment),
               _latest(RunStatus.FAILED, Run.finished_at, moment))
        .where(*extract_scope(query)))}
    out = {}
    for extract in extracts:
        success, failure = latest.get(extract.id, (None, None))
        in_error = failure is not None and (success is None or failure > success)
        stale = False
        if extract.interval is not None and not extract.is_paused \
                and extract.created_at <= moment:
            since = success or extract.created_at
            stale = moment - since > 2 * extract.interval
        out[extract.id] = _Health(success, failure, in_error, stale)
    return out


def freshness(*, session: Session, query: HistoryQuery, now: datetime | None = None
              ) -> pd.DataFrame:
    """Per extract in the filters' scope: newest date of data loaded (max date_to of succeeded
    runs), last successful sync and its age, schedule interval, stale; worst first (stale,
    then never synced, then oldest)."""
    query.check()
    now = now or utcnow()
    extracts = _extracts_in_scope(session, query, now)
    health = _health_at(session, query, extracts, now)
    newest: dict[int, date | None] = dict(session.execute(
        select(Extract.id, _latest(RunStatus.SUCCEEDED, Run.date_to))
        .where(*extract_scope(query))).all())
    records = []
    for extract in extracts:
        state = health[extract.id]
        age = (now - state.last_success).total_seconds() / 3600 if state.last_success else None
        records.append({
            "extract_id": extract.id, "extract": extract.title, "status": extract.status,
            "newest_date": newest.get(extract.id), "last_success": state.last_success,
            "age_hours": age, "interval_hours": extract.interval.total_seconds() / 3600
            if extract.interval else None, "stale": state.stale})
    frame = pd.DataFrame(records, columns=["extract_id", "extract", "status", "newest_date",
                                           "last_success", "age_hours", "interval_hours",
                                           "stale"])
    if frame.empty:
        return frame
    frame["_never"] = frame["last_success"].isna()
    frame["_age"] = frame["age_hours"].fillna(float("inf"))
    frame = frame.sort_values(["stale", "_never", "_age", "extract_id"],
                              ascending=[False, False, False, True], kind="stable")
    return frame.drop(columns=["_never", "_age"]).reset_index(drop=True)


# -- headline figures --------------------------------------------------------------------------

@dataclass(frozen=True)
class Headline:
    """One headline figure of a period and of the period of the same length before it."""

    label: str
    value: float | None
    previous: float | None
    unit: str  # "count", "percent", "rows" or "seconds"
    higher_is_better: bool | None = None

    @property
    def change(self) -> float | None:
        if self.value is None or self.previous is None:
            return None
        return self.value - self.previous


def _period_figures(session: Session, query: HistoryQuery) -> dict[str, float | None]:
    by_status: dict[str, int] = dict.fromkeys(RunStatus, 0)
    rows = 0
    for status, runs, loaded in session.execute(
            select(Run.status, func.count(), func.sum(Run.rows))
            .where(*run_filters(query)).group_by(Run.status)):
        by_status[status] = runs
        if status == RunStatus.SUCCEEDED:
            rows = int(loaded or 0)
    finished = by_status[RunStatus.SUCCEEDED] + by_status[RunStatus.FAILED]
    durations = percentiles(session, run_filters(query), None).get(0, {})
    return {"runs": sum(by_status.values()),
            "success_rate": by_status[RunStatus.SUCCEEDED] / finished if finished else None,
            "rows": rows, "p50": durations.get(50), "p95": durations.get(95)}


def headline(*, session: Session, query: HistoryQuery, now: datetime | None = None
             ) -> list[Headline]:
    """Runs, success rate, rows loaded, median and p95 duration, extracts in error and stale
    extracts (both as at the period's end, or now), each with the previous period's value."""
    query.check()
    now = now or utcnow()
    previous = query.previous()
    current_figures = _period_figures(session, query)
    previous_figures = _period_figures(session, previous)
    extracts = _extracts_in_scope(session, query, now)
    health = [_health_at(session, query, extracts, min(q.bounds()[1], now))
              for q in (query, previous)]
    error_counts = [float(sum(h.in_error for h in states.values())) for states in health]
    stale_counts = [float(sum(h.stale for h in states.values())) for states in health]

    def pair(key: str) -> tuple[float | None, float | None]:
        return current_figures[key], previous_figures[key]

    return [
        Headline("Runs", *pair("runs"), "count"),
        Headline("Success rate", *pair("success_rate"), "percent", True),
        Headline("Rows loaded", *pair("rows"), "rows"),
        Headline("Median duration", *pair("p50"), "seconds", False),
        Headline("p95 duration", *pair("p95"), "seconds", False),
        Headline("Extracts in error", error_counts[0], error_counts[1], "count", False),
        Headline("Stale extracts", stale_counts[0], stale_counts[1], "count", False),
    ]
