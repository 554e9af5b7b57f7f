"""Run history for team leads: daily aggregates, headline figures, freshness, coverage, gaps
and volume anomalies.

Everything is grouped and filtered in the database. Days are local days of a timezone the
caller picks: the UTC offset is constant between DST transitions, so a run's local day is
`date(queued_at + offset)` with one offset per stretch between transitions (a CASE over the
few transitions a range holds). Percentiles are nearest-rank, taken in SQL with ROW_NUMBER()
over the durations ordered, so only the one or two rows at the wanted ranks come back.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd
from sqlalchemy import Date, case, cast, func, literal, or_, select
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from core import errors, schedules, schemas
from core.clock import utcnow
from core.db import database_of
from core.models import Connection, DataTable, Extract, Run, Schedule
from core.services.common import ACTIVE_RUN_STATUSES, FINISHED_RUN_STATUSES, load, run_out
from core.services.runs import extract_today, queue_runs, windows

RUN_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
RUN_TRIGGERS = ("schedule", "manual", "backfill", "retry")
TRAILING_RUNS = 14
MIN_TRAILING_RUNS = 3  # fewer earlier runs than this is no baseline to compare against
LOW, HIGH = 0.5, 2.0
TIMELINE_LIMIT = 2000


@dataclass(frozen=True)
class HistoryQuery:
    """Which runs the history shows: those queued on local dates [date_from, date_to] in
    `timezone`, narrowed by the optional filters."""

    date_from: date
    date_to: date
    timezone: str = "UTC"
    datasource: str | None = None
    connection_id: int | None = None
    data_table_id: int | None = None
    extract_id: int | None = None
    trigger: str | None = None
    status: str | None = None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def days(self) -> list[date]:
        """Every local date of the range, oldest first."""
        return [self.date_from + timedelta(days=n)
                for n in range((self.date_to - self.date_from).days + 1)]

    def bounds(self) -> tuple[datetime, datetime]:
        """The UTC instants [start, end) of the range's first and after its last local day."""
        return (local_midnight(self.date_from, self.tz),
                local_midnight(self.date_to + timedelta(days=1), self.tz))

    def previous(self) -> HistoryQuery:
        """The same filters over the period of the same length just before."""
        length = timedelta(days=len(self.days))
        return replace(self, date_from=self.date_from - length,
                       date_to=self.date_from - timedelta(days=1))

    def check(self) -> None:
        """Raise Invalid naming every bad part."""
        problems = []
        if self.date_from > self.date_to:
            problems.append(errors.Problem("date_from", f"date_from {self.date_from} is after "
                                                        f"date_to {self.date_to}"))
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(errors.Problem("timezone", f"unknown timezone {self.timezone!r}; "
                                                       "use an IANA name such as Europe/Berlin"))
        if self.trigger is not None and self.trigger not in RUN_TRIGGERS:
            problems.append(errors.Problem("trigger", f"must be one of {', '.join(RUN_TRIGGERS)},"
                                                      f" not {self.trigger!r}"))
        if self.status is not None and self.status not in RUN_STATUSES:
            problems.append(errors.Problem("status", f"must be one of {', '.join(RUN_STATUSES)}, "
                                                     f"not {self.status!r}"))
        if problems:
            raise errors.Invalid(problems)


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The UTC instant a local day starts (the first existing wall time on DST days)."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def default_query(timezone: str, now: datetime | None = None, days: int = 30) -> HistoryQuery:
    """The last `days` local days up to today, no filters."""
    today = (now or utcnow()).astimezone(ZoneInfo(timezone)).date()
    return HistoryQuery(date_from=today - timedelta(days=days - 1), date_to=today,
                        timezone=timezone)


# -- SQL building blocks ----------------------------------------------------------------------

def _offset_minutes(tz: ZoneInfo, moment: datetime) -> int:
    offset = moment.astimezone(tz).utcoffset()
    return int(offset.total_seconds() // 60) if offset is not None else 0


def offset_segments(tz: ZoneInfo, start: datetime, end: datetime
                    ) -> list[tuple[datetime | None, int]]:
    """[(from, offset minutes)] covering [start, end): the first `from` is None, each next
    one the UTC instant of a DST transition."""
    segments: list[tuple[datetime | None, int]] = [(None, _offset_minutes(tz, start))]
    probe = start
    while probe < end:
        step = min(probe + timedelta(days=1), end)
        if _offset_minutes(tz, step) != segments[-1][1]:
            low, high = probe, step
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                if _offset_minutes(tz, middle) == segments[-1][1]:
                    low = middle
                else:
                    high = middle
            segments.append((high.replace(microsecond=0), _offset_minutes(tz, high)))
        probe = step
    return segments


def local_day(session: Session, column: Any, tz: ZoneInfo, start: datetime,
              end: datetime) -> ColumnElement[Any]:
    """SQL for the local date of a UTC timestamp column, exact for moments in [start, end)."""
    if session.get_bind().dialect.name != "sqlite":
        return cast(func.timezone(tz.key, func.timezone("UTC", column)), Date)

    def shifted(minutes: int) -> ColumnElement[Any]:
        return func.date(column, f"{minutes:+d} minutes")

    segments = offset_segments(tz, start, end)
    if len(segments) == 1:
        return shifted(segments[0][1])
    whens = [(column < boundary, shifted(minutes))
             for (_, minutes), (boundary, _) in pairwise(segments)
             if boundary is not None]
    return case(*whens, else_=shifted(segments[-1][1]))


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _extract_scope(query: HistoryQuery) -> list[ColumnElement[bool]]:
    """Conditions on Extract for the extract-level filters."""
    conditions: list[ColumnElement[bool]] = []
    if query.extract_id is not None:
        conditions.append(Extract.id == query.extract_id)
    if query.connection_id is not None:
        conditions.append(Extract.connection_id == query.connection_id)
    if query.data_table_id is not None:
        conditions.append(Extract.data_table_id == query.data_table_id)
    if query.datasource is not None:
        conditions.append(Extract.connection_id.in_(
            select(Connection.id).where(Connection.datasource == query.datasource)))
    return conditions


def _run_filters(query: HistoryQuery, *, dated: bool = True) -> list[ColumnElement[bool]]:
    """Conditions on Run for the range and every filter."""
    conditions: list[ColumnElement[bool]] = []
    if dated:
        start, end = query.bounds()
        conditions += [Run.queued_at >= start, Run.queued_at < end]
    scope = _extract_scope(query)
    if scope:
        conditions.append(Run.extract_id.in_(select(Extract.id).where(*scope)))
    if query.trigger is not None:
        conditions.append(Run.trigger == query.trigger)
    if query.status is not None:
        conditions.append(Run.status == query.status)
    return conditions


def _day_of_run(session: Session, query: HistoryQuery) -> ColumnElement[Any]:
    start, end = query.bounds()
    # A range reaching far before the first run would only add DST branches to the CASE.
    first = session.scalar(select(func.min(Run.queued_at)))
    return local_day(session, Run.queued_at, query.tz, max(start, first or start), end)


def _percentiles(session: Session, where: Sequence[ColumnElement[bool]],
                 group: ColumnElement[Any] | None, ranks: Sequence[int] = (50, 95)
                 ) -> dict[Any, dict[int, float]]:
    """Nearest-rank percentiles of finished runs' durations, per group, computed in SQL."""
    values = (select((group if group is not None else literal(0)).label("g"),
                     Run.duration_seconds.label("d"))
              .where(*where, Run.status.in_(FINISHED_RUN_STATUSES),
                     Run.duration_seconds.is_not(None))
              # Computed once: SQLite would evaluate the local-day CASE again for each window.
              .cte("durations").prefix_with("MATERIALIZED"))
    inner = select(values.c.g, values.c.d,
                   func.row_number().over(partition_by=values.c.g,
                                          order_by=values.c.d).label("rn"),
                   func.count().over(partition_by=values.c.g).label("n")).subquery()
    # The nearest rank of percentile p among n values is ceil(p * n / 100).
    wanted = [inner.c.rn == (inner.c.n * p + 99) // 100 for p in ranks]
    out: dict[Any, dict[int, float]] = defaultdict(dict)
    for g, duration, rn, n in session.execute(
            select(inner.c.g, inner.c.d, inner.c.rn, inner.c.n).where(or_(*wanted))):
        for p in ranks:
            if rn == (n * p + 99) // 100:
                out[g][p] = float(duration)
    return out


# -- daily series ------------------------------------------------------------------------------

def daily_runs(*, session: Session, query: HistoryQuery) -> pd.DataFrame:
    """Per local day: runs by status, all runs, success rate (succeeded of finished; NaN on a
    day nothing finished) and rows loaded. Every day of the range, empty ones as zeros."""
    query.check()
    day = _day_of_run(session, query)
    counts: dict[date, dict[str, int]] = defaultdict(dict)
    rows: dict[date, int] = defaultdict(int)
    for value, status, runs, loaded in session.execute(
            select(day, Run.status, func.count(), func.sum(Run.rows))
            .where(*_run_filters(query)).group_by(day, Run.status)):
        counts[_as_date(value)][status] = runs
        if status == "succeeded":
            rows[_as_date(value)] += int(loaded or 0)
    records = []
    for d in query.days:
        by_status = {s: counts[d].get(s, 0) for s in RUN_STATUSES}
        finished = by_status["succeeded"] + by_status["failed"]
        records.append({"day": d, **by_status, "runs": sum(by_status.values()),
                        "success_rate": by_status["succeeded"] / finished if finished
                        else float("nan"), "rows": rows[d]})
    return pd.DataFrame(records, columns=["day", *RUN_STATUSES, "runs", "success_rate", "rows"])


def daily_durations(*, session: Session, query: HistoryQuery) -> pd.DataFrame:
    """Per local day: finished runs with a duration, and their p50 and p95 seconds (NaN on
    days without any)."""
    query.check()
    day = _day_of_run(session, query)
    found = {_as_date(k): v for k, v in
             _percentiles(session, _run_filters(query), day).items()}
    counts = {_as_date(k): n for k, n in session.execute(
        select(day, func.count()).where(*_run_filters(query),
                                        Run.status.in_(FINISHED_RUN_STATUSES),
                                        Run.duration_seconds.is_not(None)).group_by(day))}
    nan = float("nan")
    return pd.DataFrame(
        [{"day": d, "runs": counts.get(d, 0), "p50": found.get(d, {}).get(50, nan),
          "p95": found.get(d, {}).get(95, nan)} for d in query.days],
        columns=["day", "runs", "p50", "p95"])


def daily_rows_by_table(*, session: Session, query: HistoryQuery) -> pd.DataFrame:
    """Rows loaded by succeeded runs per local day and data table (days with none omitted)."""
    query.check()
    day = _day_of_run(session, query)
    result = session.execute(
        select(day, DataTable.title, func.sum(Run.rows))
        .join(Extract, Extract.id == Run.extract_id)
        .join(DataTable, DataTable.id == Extract.data_table_id)
        .where(*_run_filters(query), Run.status == "succeeded")
        .group_by(day, DataTable.title).order_by(day, DataTable.title))
    return pd.DataFrame([{"day": _as_date(d), "data_table": title, "rows": int(rows or 0)}
                         for d, title, rows in result],
                        columns=["day", "data_table", "rows"])


def day_timeline(*, session: Session, query: HistoryQuery, day: date,
                 limit: int = TIMELINE_LIMIT) -> pd.DataFrame:
    """The runs queued on one local day (the range itself is ignored, the other filters not):
    when each was queued, started and finished, in the query's timezone."""
    query.check()
    one_day = replace(query, date_from=day, date_to=day)
    result = session.execute(
        select(Run.id, Run.extract_id, Extract.title, Run.status, Run.trigger, Run.queued_at,
               Run.started_at, Run.finished_at, Run.rows, Run.error)
        .join(Extract, Extract.id == Run.extract_id)
        .where(*_run_filters(one_day)).order_by(Run.queued_at, Run.id).limit(limit))
    tz = query.tz

    def local(moment: datetime | None) -> datetime | None:
        return None if moment is None else moment.astimezone(tz)

    return pd.DataFrame(
        [{"run_id": rid, "extract_id": eid, "extract": title, "status": status,
          "trigger": trigger, "queued_at": local(queued), "started_at": local(started),
          "finished_at": local(finished), "rows": rows, "error": error or ""}
         for rid, eid, title, status, trigger, queued, started, finished, rows, error in result],
        columns=["run_id", "extract_id", "extract", "status", "trigger", "queued_at",
                 "started_at", "finished_at", "rows", "error"])


def failure_groups(*, session: Session, query: HistoryQuery, limit: int = 50) -> pd.DataFrame:
    """Failed runs grouped by error message, most frequent first: count, first and last seen,
    the extracts affected and the latest run (whose log tells the story)."""
    query.check()
    if query.status not in (None, "failed"):
        return pd.DataFrame(columns=["error", "failures", "first_seen", "last_seen",
                                     "extracts", "extract_titles", "latest_run_id"])
    message = func.coalesce(Run.error, "")
    per_extract = session.execute(
        select(message, Extract.title, func.count(), func.min(Run.queued_at),
               func.max(Run.queued_at), func.max(Run.id))
        .join(Extract, Extract.id == Run.extract_id)
        .where(*_run_filters(query), Run.status == "failed")
        # SQLite would pick the narrow ix_runs_queued_at and read every run of the range;
        # this index holds the status, so only the failed runs' rows are read.
        .with_hint(Run, "INDEXED BY ix_runs_history", dialect_name="sqlite")
        .group_by(message, Extract.id, Extract.title)).all()
    merged: dict[str, dict[str, Any]] = {}
    for error, title, count, first, last, latest in per_extract:
        group = merged.setdefault(error, {"count": 0, "first": first, "last": last,
                                          "latest": latest, "titles": []})
        group["count"] += count
        group["first"] = min(group["first"], first)
        group["last"] = max(group["last"], last)
        group["latest"] = max(group["latest"], latest)
        group["titles"].append(title)
    ranked = sorted(merged.items(), key=lambda item: (-item[1]["count"],
                                                      -item[1]["last"].timestamp()))[:limit]
    groups = [(error, g["count"], g["first"], g["last"], len(g["titles"]), g["latest"])
              for error, g in ranked]
    titles = {error: sorted(g["titles"]) for error, g in ranked}
    tz = query.tz
    return pd.DataFrame(
        [{"error": error, "failures": count, "first_seen": first.astimezone(tz),
          "last_seen": last.astimezone(tz), "extracts": extracts,
          "extract_titles": titles[error], "latest_run_id": latest}
         for error, count, first, last, extracts, latest in groups],
        columns=["error", "failures", "first_seen", "last_seen", "extracts",
                 "extract_titles", "latest_run_id"])


# -- health: errors, staleness, freshness ------------------------------------------------------

@dataclass(frozen=True)
class _ExtractRow:
    id: int
    title: str
    status: str
    is_paused: bool
    created_at: datetime
    interval: timedelta | None


NOMINAL_INTERVALS = {"daily": timedelta(days=1), "weekly": timedelta(weeks=1),
                     "monthly": timedelta(days=31)}


def _interval(schedule: Schedule, now: datetime, cache: dict[tuple[Any, ...], timedelta | None]
              ) -> timedelta | None:
    """The time between two fires of a schedule: nominal for the fixed frequencies (a month
    counts 31 days), measured from the next two fires for cron."""
    if schedule.frequency == "hourly":
        return timedelta(hours=schedule.every_hours or 1)
    if schedule.frequency in NOMINAL_INTERVALS:
        return NOMINAL_INTERVALS[schedule.frequency]
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
    scope = _extract_scope(query)
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


@dataclass(frozen=True)
class _Health:
    last_success: datetime | None
    last_failure: datetime | None
    in_error: bool
    stale: bool


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
        select(Extract.id, _latest("succeeded", Run.finished_at, moment),
               _latest("failed", Run.finished_at, moment)).where(*_extract_scope(query)))}
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
        select(Extract.id, _latest("succeeded", Run.date_to))
        .where(*_extract_scope(query))).all())
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
    by_status = dict.fromkeys(RUN_STATUSES, 0)
    rows = 0
    for status, runs, loaded in session.execute(
            select(Run.status, func.count(), func.sum(Run.rows))
            .where(*_run_filters(query)).group_by(Run.status)):
        by_status[status] = runs
        if status == "succeeded":
            rows = int(loaded or 0)
    finished = by_status["succeeded"] + by_status["failed"]
    durations = _percentiles(session, _run_filters(query), None).get(0, {})
    return {"runs": sum(by_status.values()),
            "success_rate": by_status["succeeded"] / finished if finished else None,
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


# -- volume anomalies --------------------------------------------------------------------------

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


ANOMALY_COLUMNS = ["run_id", "extract_id", "extract", "day", "queued_at", "rows", "rows_per_day",
                   "median_rows_per_day", "ratio", "direction"]


def volume_anomalies(*, session: Session, query: HistoryQuery) -> pd.DataFrame:
    """Succeeded runs in the range whose rows per day of window fall below half or above
    twice the median of the extract's previous 14 succeeded runs (needs 3 of them)."""
    query.check()
    if query.status not in (None, "succeeded"):
        return pd.DataFrame(columns=ANOMALY_COLUMNS)
    start, _ = query.bounds()
    columns = _loaded_columns(session)
    by_extract: dict[int, list[Any]] = defaultdict(list)
    for row in session.execute(
            select(*columns).where(*_run_filters(query), Run.status == "succeeded")
            .order_by(Run.extract_id, Run.finished_at, Run.id)):
        by_extract[row[1]].append(row)
    # Each extract's last 14 succeeded runs (by finish time) queued before the range: one
    # statement, one index seek per extract (the correlated LIMIT runs once per extract).
    earlier = aliased(Run)
    conditions = [earlier.extract_id == Extract.id, earlier.status == "succeeded",
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


def run_anomalies(*, session: Session, extract_id: int, limit: int = 200
                  ) -> dict[int, Anomaly]:
    """Run id -> anomaly, among the extract's latest `limit` succeeded runs (for its runs
    table)."""
    load(session, Extract, extract_id, "extract")
    latest = list(reversed(session.execute(
        select(*_loaded_columns(session))
        .where(Run.extract_id == extract_id, Run.status == "succeeded")
        .order_by(Run.finished_at.desc(), Run.id.desc()).limit(limit + TRAILING_RUNS)).all()))
    first = max(0, len(latest) - limit)
    return {f["run_id"]: Anomaly(f["run_id"], f["rows_per_day"], f["median_rows_per_day"],
                                 f["ratio"], f["direction"])
            for f in _flag(latest, first)}


# -- coverage and gaps -------------------------------------------------------------------------

@dataclass(frozen=True)
class Coverage:
    """Which dates of an extract's data are loaded, being loaded, or missing, from its
    historical start (or first loaded date) to its today."""

    extract_id: int
    title: str
    start: date | None
    today: date
    loaded: frozenset[date]
    pending: frozenset[date]
    gaps: tuple[tuple[date, date], ...]

    @property
    def missing_days(self) -> int:
        return sum((end - start).days + 1 for start, end in self.gaps)


def _days_of(spans: Iterable[tuple[date | None, date | None]], low: date | None = None,
             high: date | None = None) -> set[date]:
    out: set[date] = set()
    for start, end in spans:
        if start is None or end is None:
            continue
        if low is not None:
            start = max(start, low)
        if high is not None:
            end = min(end, high)
        out.update(start + timedelta(days=n) for n in range((end - start).days + 1))
    return out


def _runs_of(extract: Extract) -> Any:
    return select(Run.date_from, Run.date_to).where(Run.extract_id == extract.id).distinct()


def _coverage(session: Session, extract: Extract, now: datetime) -> Coverage:
    today = extract_today(extract, now)
    spans = session.execute(_runs_of(extract).where(Run.status == "succeeded")).all()
    loaded = _days_of(spans, high=today)
    pending = _days_of(session.execute(
        _runs_of(extract).where(Run.status.in_(ACTIVE_RUN_STATUSES))).all(), high=today)
    start = extract.sync_historical_data or (min(loaded) if loaded else None)
    depth = extract.template.depth_limit_days
    if start is not None and depth is not None:
        start = max(start, today - timedelta(days=depth))
    gaps: list[tuple[date, date]] = []
    covered = loaded | pending
    day = start
    while day is not None and day <= today:
        if day not in covered:
            if gaps and gaps[-1][1] == day - timedelta(days=1):
                gaps[-1] = (gaps[-1][0], day)
            else:
                gaps.append((day, day))
        day += timedelta(days=1)
    return Coverage(extract.id, extract.title, start, today, frozenset(loaded),
                    frozenset(pending), tuple(gaps))


def coverage(*, session: Session, extract_id: int, now: datetime | None = None
             ) -> Coverage | None:
    """The extract's coverage calendar; None when its template has no date field."""
    extract = load(session, Extract, extract_id, "extract")
    if extract.template.date_field is None:
        return None
    return _coverage(session, extract, now or utcnow())


def fill_gaps(*, session: Session, extract_id: int, now: datetime | None = None
              ) -> list[schemas.RunOut]:
    """Queue backfill runs for exactly the missing dates of the extract's coverage."""
    now = now or utcnow()
    extract = load(session, Extract, extract_id, "extract")
    if extract.template.date_field is None:
        raise errors.Invalid(f"template {extract.template.title!r} has no date field, so a run "
                             "always loads everything; there are no dates to fill")
    found = _coverage(session, extract, now)
    chunk = database_of(session).settings.backfill_chunk_days
    spans: list[tuple[date | None, date | None]] = [
        span for start, end in found.gaps for span in windows(start, end, chunk)]
    if not spans:
        return []
    # Newest first, as a historical backfill: recent dates matter most.
    runs = queue_runs(session, extract, "backfill", list(reversed(spans)), now)
    session.flush()
    return [run_out(r) for r in runs]


def extract_titles(*, session: Session) -> dict[int, str]:
    """Extract id -> title, for filters."""
    return dict(session.execute(select(Extract.id, Extract.title).order_by(Extract.title)).all())


def connection_datasources(*, session: Session) -> list[str]:
    """The datasources that have a connection, for filters."""
    return list(session.scalars(select(Connection.datasource).distinct()
                                .order_by(Connection.datasource)))

