"""volume_anomalies reads the runs from indexes in two statements; it must flag exactly the runs
the definition flags, on a history with the awkward cases (runs finished before they were
queued, ties in finish time, windows without dates, triggers, scopes, timezones)."""

from __future__ import annotations

import random
import statistics
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import Extract, Run
from core.services import history
from core.services.history import HistoryQuery
from tests.conftest import make_extract

pytestmark = pytest.mark.both_databases

FIRST_DAY = datetime(2026, 9, 1, tzinfo=UTC)


def _seed(session: Session, seed: int = 18) -> list[int]:
    """Six extracts on three data tables, 70 runs each over 70 days."""
    rng = random.Random(seed)
    ids = [make_extract(session, accounts=[n % 3 + 1], data_table_title=f"Table {n % 3}").id
           for n in range(6)]
    tie = FIRST_DAY + timedelta(days=50, hours=3)  # several runs finish at this very moment
    runs = []
    for extract_id in ids:
        for n in range(70):
            queued = FIRST_DAY + timedelta(days=n, minutes=rng.randrange(24 * 60))
            finished = queued + timedelta(seconds=rng.randrange(1, 4000))
            roll = rng.random()
            if roll < 0.05:
                finished = queued - timedelta(hours=rng.randrange(1, 60))  # a clock set back
            elif roll < 0.1:
                finished = tie
            status = rng.choices(["succeeded", "failed", "cancelled"], [88, 9, 3])[0]
            span = rng.randrange(1, 8)
            window = (None, None) if rng.random() < 0.05 else (
                queued.date() - timedelta(days=span - 1), queued.date())
            per_day = 100 * (rng.choice((0.3, 3.0)) if rng.random() < 0.1 else
                             rng.uniform(0.8, 1.2))
            runs.append(Run(
                extract_id=extract_id, status=status,
                trigger=rng.choices(["schedule", "manual"], [80, 20])[0],
                queued_at=queued, started_at=queued, finished_at=finished,
                rows=int(per_day * span) if status == "succeeded" else None,
                duration_seconds=1.0, date_from=window[0], date_to=window[1], log=[]))
    session.add_all(runs)
    session.flush()
    return ids


def _expected(session: Session, query: HistoryQuery, extract_ids: set[int]
              ) -> list[dict[str, Any]]:
    """The definition, run over every run in Python: each succeeded run in the range against
    the median rows per day of the extract's 14 succeeded runs before it, those queued
    before the range first (the latest 14 by finish time), then the range's by finish time."""
    start, end = query.bounds()
    succeeded = [r for r in session.scalars(select(Run).where(Run.status == "succeeded"))
                 if r.extract_id in extract_ids
                 and (query.trigger is None or r.trigger == query.trigger)]
    found = []
    for extract_id in sorted(extract_ids):
        mine = sorted((r for r in succeeded if r.extract_id == extract_id),
                      key=lambda r: (r.finished_at, r.id))
        earlier = [r for r in mine if r.queued_at < start][-14:]
        in_range = [r for r in mine if start <= r.queued_at < end]
        sequence = earlier + in_range
        for index in range(len(earlier), len(sequence)):
            trailing = [_per_day(r) for r in sequence[max(0, index - 14):index]]
            if len(trailing) < 3:
                continue
            median = statistics.median(trailing)
            run = sequence[index]
            ratio = _per_day(run) / median if median > 0 else 1.0
            if ratio < 0.5 or ratio > 2.0:
                found.append({"run_id": run.id, "rows": run.rows,
                              "median": round(median, 9), "ratio": round(ratio, 9),
                              "direction": "low" if ratio < 0.5 else "high",
                              "day": run.queued_at.astimezone(query.tz).date()})
    queued = {r.id: r.queued_at for r in succeeded}
    return sorted(found, key=lambda f: (queued[f["run_id"]], f["run_id"]))


def _per_day(run: Run) -> float:
    days = ((run.date_to - run.date_from).days + 1
            if run.date_from is not None and run.date_to is not None else 1)
    return (run.rows or 0) / days


def _flagged(session: Session, query: HistoryQuery) -> list[dict[str, Any]]:
    frame = history.volume_anomalies(session=session, query=query)
    return [{"run_id": r.run_id, "rows": r.rows, "median": round(float(r.median_rows_per_day), 9),
             "ratio": round(float(r.ratio), 9), "direction": r.direction, "day": r.day}
            for r in frame.itertuples()]


def test_volume_anomalies_flag_what_the_definition_flags(session: Session) -> None:
    ids = _seed(session)
    everyone = set(ids)
    cases = [
        (HistoryQuery(date_from=date(2026, 10, 1), date_to=date(2026, 10, 30)), everyone),
        (HistoryQuery(date_from=date(2026, 10, 20), date_to=date(2026, 10, 26),
                      timezone="Europe/Berlin"), everyone),  # across the DST change
        (HistoryQuery(date_from=date(2026, 9, 1), date_to=date(2026, 9, 10),
                      timezone="America/New_York"), everyone),  # little history before
        (HistoryQuery(date_from=date(2026, 10, 21), date_to=date(2026, 11, 20)), everyone),
        (HistoryQuery(date_from=date(2026, 10, 1), date_to=date(2026, 10, 30),
                      trigger="schedule"), everyone),
        (HistoryQuery(date_from=date(2026, 10, 1), date_to=date(2026, 10, 30),
                      extract_id=ids[2]), {ids[2]}),
        (HistoryQuery(date_from=date(2026, 9, 20), date_to=date(2026, 10, 30),
                      data_table_id=_table_of(session, ids[1])), {ids[1], ids[4]}),
    ]
    flagged_somewhere = 0
    for query, scope in cases:
        expected = _expected(session, query, scope)
        assert _flagged(session, query) == expected, query
        flagged_somewhere += len(expected)
    assert flagged_somewhere > 20  # the history does hold anomalies to find


def test_a_run_finished_before_it_was_queued_is_still_counted(session: Session) -> None:
    """A run in the range that finished before the range began (a clock set back) is not in
    the seek from the range's start; it must still be found and flagged."""
    extract_id = make_extract(session).id
    for n in range(5):
        queued = datetime(2026, 10, 1 + n, 1, tzinfo=UTC)
        session.add(Run(extract_id=extract_id, status="succeeded", trigger="schedule",
                        queued_at=queued, finished_at=queued + timedelta(minutes=5), rows=100,
                        date_from=queued.date(), date_to=queued.date(), log=[]))
    odd = Run(extract_id=extract_id, status="succeeded", trigger="schedule",
              queued_at=datetime(2026, 11, 2, 1, tzinfo=UTC),
              finished_at=datetime(2026, 10, 30, 1, tzinfo=UTC), rows=900,
              date_from=date(2026, 11, 2), date_to=date(2026, 11, 2), log=[])
    session.add(odd)
    session.flush()

    query = HistoryQuery(date_from=date(2026, 11, 1), date_to=date(2026, 11, 3))
    frame = history.volume_anomalies(session=session, query=query)

    assert list(frame["run_id"]) == [odd.id]
    assert list(frame["ratio"]) == [pytest.approx(9.0)]


def _table_of(session: Session, extract_id: int) -> int:
    extract = session.get(Extract, extract_id)
    assert extract is not None
    return extract.data_table_id
