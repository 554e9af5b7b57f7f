"""Which runs the history shows, and the SQL building blocks every history aggregate shares.

Days are local days of a timezone the caller picks: the UTC offset is constant between DST
transitions, so a run's local day is `date(queued_at + offset)` with one offset per stretch
between transitions (a CASE over the few transitions a range holds). Percentiles are
nearest-rank, taken in SQL with ROW_NUMBER() over the durations ordered, so only the one or
two rows at the wanted ranks come back.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Date, case, cast, func, literal, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from core import errors
from core.clock import utcnow
from core.models import Connection, Extract, Run
from core.vocabulary import FINISHED_RUN_STATUSES, RunStatus, RunTrigger


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
        triggers, statuses = list(RunTrigger), list(RunStatus)
        if self.trigger is not None and self.trigger not in triggers:
            problems.append(errors.Problem("trigger", f"must be one of {', '.join(triggers)},"
                                                      f" not {self.trigger!r}"))
        if self.status is not None and self.status not in statuses:
            problems.append(errors.Problem("status", f"must be one of {', '.join(statuses)}, "
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


# -- local days --------------------------------------------------------------------------------

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


def day_of_run(session: Session, query: HistoryQuery) -> ColumnElement[Any]:
    """SQL for the local day a run was queued on, in the query's timezone."""
    start, end = query.bounds()
    # A range reaching far before the first run would only add DST branches to the CASE.
    first = session.scalar(select(func.min(Run.queued_at)))
    return local_day(session, Run.queued_at, query.tz, max(start, first or start), end)


def as_date(value: Any) -> date:
    """A date as the database returns it (a date, or ISO text on SQLite)."""
    return value if isinstance(value, date) else date.fromisoformat(str(value))


# -- filters -----------------------------------------------------------------------------------

def extract_scope(query: HistoryQuery) -> list[ColumnElement[bool]]:
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


def run_filters(query: HistoryQuery, *, dated: bool = True) -> list[ColumnElement[bool]]:
    """Conditions on Run for the range and every filter."""
    conditions: list[ColumnElement[bool]] = []
    if dated:
        start, end = query.bounds()
        conditions += [Run.queued_at >= start, Run.queued_at < end]
    scope = extract_scope(query)
    if scope:
        conditions.append(Run.extract_id.in_(select(Extract.id).where(*scope)))
    if query.trigger is not None:
        conditions.append(Run.trigger == query.trigger)
    if query.status is not None:
        conditions.append(Run.status == query.status)
    return conditions


# -- percentiles -------------------------------------------------------------------------------

def percentiles(session: Session, where: Sequence[ColumnElement[bool]],
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
