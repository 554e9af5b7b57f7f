"""Per-day series of the run history (runs, durations, rows by table), one day's timeline,
and failures grouped by message. Everything is grouped and filtered in the database."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import date, datetime
from typing import Any

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.models import DataTable, Extract, Run
from core.services.history.query import (
    HistoryQuery,
    as_date,
    day_of_run,
    percentiles,
    run_filters,
)
from core.vocabulary import FINISHED_RUN_STATUSES, RunStatus

TIMELINE_LIMIT = 2000
FAILURE_COLUMNS = ["error", "failures", "first_seen", "last_seen", "extracts", "extract_titles",
                   "latest_run_id"]


def daily_runs(*, session: Session, query: HistoryQuery) -> pd.DataFrame:
    """Per local day: runs by status, all runs, success rate (succeeded of finished; NaN on a
    day nothing finished) and rows loaded. Every day of the range, empty ones as zeros."""
    query.check()
    day = day_of_run(session, query)
    counts: dict[date, dict[str, int]] = defaultdict(dict)
    rows: dict[date, int] = defaultdict(int)
    for value, status, runs, loaded in session.execute(
            select(day, Run.status, func.count(), func.sum(Run.rows))
            .where(*run_filters(query)).group_by(day, Run.status)):
        counts[as_date(value)][status] = runs
        if status == RunStatus.SUCCEEDED:
            rows[as_date(value)] += int(loaded or 0)
    statuses = [str(s) for s in RunStatus]
    records = []
    for d in query.days:
        by_status = {s: counts[d].get(s, 0) for s in statuses}
        finished = by_status[RunStatus.SUCCEEDED] + by_status[RunStatus.FAILED]
        records.append({"day": d, **by_status, "runs": sum(by_status.values()),
                        "success_rate": by_status[RunStatus.SUCCEEDED] / finished if finished
                        else float("nan"), "rows": rows[d]})
    return pd.DataFrame(records, columns=["day", *statuses, "runs", "success_rate", "rows"])


def daily_durations(*, session: Session, query: HistoryQuery) -> pd.DataFrame:
    """Per local day: finished runs with a duration, and their p50 and p95 seconds (NaN on
    days without any)."""
    query.check()
    day = day_of_run(session, query)
    found = {as_date(k): v for k, v in percentiles(session, run_filters(query), day).items()}
    counts = {as_date(k): n for k, n in session.execute(
        select(day, func.count()).where(*run_filters(query),
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
    day = day_of_run(session, query)
    result = session.execute(
        select(day, DataTable.title, func.sum(Run.rows))
        .join(Extract, Extract.id == Run.extract_id)
        .join(DataTable, DataTable.id == Extract.data_table_id)
        .where(*run_filters(query), Run.status == RunStatus.SUCCEEDED)
        .group_by(day, DataTable.title).order_by(day, DataTable.title))
    return pd.DataFrame([{"day": as_date(d), "data_table": title, "rows": int(rows or 0)}
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
        .where(*run_filters(one_day)).order_by(Run.queued_at, Run.id).limit(limit))
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
    if query.status not in (None, RunStatus.FAILED):
        return pd.DataFrame(columns=FAILURE_COLUMNS)
    message = func.coalesce(Run.error, "")
    per_extract = session.execute(
        select(message, Extract.title, func.count(), func.min(Run.queued_at),
               func.max(Run.queued_at), func.max(Run.id))
        .join(Extract, Extract.id == Run.extract_id)
        .where(*run_filters(query), Run.status == RunStatus.FAILED)
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
    tz = query.tz
    return pd.DataFrame(
        [{"error": error, "failures": g["count"], "first_seen": g["first"].astimezone(tz),
          "last_seen": g["last"].astimezone(tz), "extracts": len(g["titles"]),
          "extract_titles": sorted(g["titles"]), "latest_run_id": g["latest"]}
         for error, g in ranked],
        columns=FAILURE_COLUMNS)
