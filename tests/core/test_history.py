"""History aggregations against hand-computed figures on a seeded run history."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from core import errors, service
from core.models import Extract, Run
from core.services import history
from core.services.history import HistoryQuery
from tests.conftest import NOW, make_extract


def at(text: str) -> datetime:
    """An aware UTC datetime from 'YYYY-MM-DD HH:MM'."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def d(text: str) -> date:
    return date.fromisoformat(text)


def add_run(session: Session, extract_id: int, queued: str, status: str = "succeeded", *,
            rows: int | None = None, duration: float | None = None, wait: float = 0,
            trigger: str = "schedule", error: str | None = None,
            window: tuple[str, str] | None = None) -> Run:
    """A finished (or queued/running) run inserted directly, with chosen timestamps."""
    queued_at = at(queued)
    started = queued_at + timedelta(seconds=wait) if status != "queued" else None
    finished = (started + timedelta(seconds=duration or 0)
                if started is not None and status in ("succeeded", "failed", "cancelled")
                else None)
    if window is None:
        window = (queued[:10], queued[:10])
    run = Run(extract_id=extract_id, status=status, trigger=trigger, queued_at=queued_at,
              started_at=started, finished_at=finished,
              rows=rows if status == "succeeded" else None,
              duration_seconds=duration if finished is not None else None,
              date_from=d(window[0]), date_to=d(window[1]), error=error, log=[])
    session.add(run)
    session.flush()
    return run


def q(date_from: str, date_to: str, **filters: Any) -> HistoryQuery:
    return HistoryQuery(date_from=d(date_from), date_to=d(date_to), **filters)


@pytest.fixture
def two(session: Session) -> tuple[int, int]:
    """Two extracts on different data tables (accounts 1 and 2), no runs yet."""
    first = make_extract(session, data_table_title="Campaign stats")
    second = make_extract(session, accounts=[2], data_table_title="Other stats")
    return first.id, second.id


# -- local days ----------------------------------------------------------------------------------

def test_a_late_evening_run_falls_on_the_next_day_east_of_utc(session: Session,
                                                                two: tuple[int, int]) -> None:
    a, _ = two
    add_run(session, a, "2026-11-10 23:30", rows=10, duration=5)

    def day_of_run(timezone: str) -> list[date]:
        frame = history.daily_runs(session=session, query=q("2026-11-09", "2026-11-12",
                                                            timezone=timezone))
        return list(frame.loc[frame["runs"] > 0, "day"])

    assert day_of_run("UTC") == [d("2026-11-10")]
    assert day_of_run("Europe/Berlin") == [d("2026-11-11")]  # 00:30 CET
    assert day_of_run("America/New_York") == [d("2026-11-10")]  # 18:30 EST
    assert day_of_run("Asia/Kathmandu") == [d("2026-11-11")]  # +05:45


def test_local_days_follow_the_dst_change_inside_the_range(session: Session,
                                                           two: tuple[int, int]) -> None:
    a, _ = two
    # Berlin leaves summer time on 2026-10-25 at 01:00 UTC.
    add_run(session, a, "2026-10-24 22:30")  # 00:30 CEST on the 25th
    add_run(session, a, "2026-10-25 22:30")  # 23:30 CET on the 25th
    add_run(session, a, "2026-10-25 23:30")  # 00:30 CET on the 26th

    berlin = history.daily_runs(session=session, query=q("2026-10-20", "2026-10-30",
                                                         timezone="Europe/Berlin"))
    utc = history.daily_runs(session=session, query=q("2026-10-20", "2026-10-30"))

    def counts(frame: Any) -> dict[date, int]:
        return {r.day: r.runs for r in frame.itertuples() if r.runs}

    assert counts(berlin) == {d("2026-10-25"): 2, d("2026-10-26"): 1}
    assert counts(utc) == {d("2026-10-24"): 1, d("2026-10-25"): 2}
    segments = history.offset_segments(ZoneInfo("Europe/Berlin"), at("2026-10-20 00:00"),
                                       at("2026-10-30 00:00"))
    assert segments == [(None, 120), (at("2026-10-25 01:00"), 60)]


def test_range_bounds_are_local_midnights(session: Session) -> None:
    query = q("2026-11-01", "2026-11-02", timezone="Europe/Berlin")
    assert query.bounds() == (at("2026-10-31 23:00"), at("2026-11-02 23:00"))
    assert query.previous() == q("2026-10-30", "2026-10-31", timezone="Europe/Berlin")


# -- daily series --------------------------------------------------------------------------------

def test_daily_runs_counts_by_status_with_empty_and_all_failed_days(
        session: Session, two: tuple[int, int]) -> None:
    a, b = two
    add_run(session, a, "2026-11-01 01:00", rows=100, duration=10)
    add_run(session, b, "2026-11-01 02:00", rows=50, duration=20)
    add_run(session, a, "2026-11-01 03:00", "failed", duration=5, error="boom")
    add_run(session, a, "2026-11-01 04:00", "cancelled")
    # 11-02: nothing at all. 11-03: every run failed. 11-04: only a queued one.
    add_run(session, a, "2026-11-03 01:00", "failed", duration=1, error="boom")
    add_run(session, b, "2026-11-03 01:00", "failed", duration=2, error="boom")
    add_run(session, a, "2026-11-04 01:00", "queued")
    add_run(session, a, "2026-10-31 23:59", rows=999)  # the day before the range

    frame = history.daily_runs(session=session, query=q("2026-11-01", "2026-11-04"))

    assert list(frame["day"]) == [d("2026-11-01"), d("2026-11-02"), d("2026-11-03"),
                                  d("2026-11-04")]
    assert list(frame["succeeded"]) == [2, 0, 0, 0]
    assert list(frame["failed"]) == [1, 0, 2, 0]
    assert list(frame["cancelled"]) == [1, 0, 0, 0]
    assert list(frame["queued"]) == [0, 0, 0, 1]
    assert list(frame["runs"]) == [4, 0, 2, 1]
    assert list(frame["rows"]) == [150, 0, 0, 0]
    rates = list(frame["success_rate"])
    assert rates[0] == pytest.approx(2 / 3)  # cancelled runs are not counted as finished
    assert math.isnan(rates[1]) and rates[2] == 0 and math.isnan(rates[3])


def test_an_empty_range_is_all_zeros(session: Session, two: tuple[int, int]) -> None:
    frame = history.daily_runs(session=session, query=q("2026-01-01", "2026-01-03"))
    assert list(frame["runs"]) == [0, 0, 0]
    durations = history.daily_durations(session=session, query=q("2026-01-01", "2026-01-03"))
    assert durations["p50"].isna().all() and list(durations["runs"]) == [0, 0, 0]
    assert history.daily_rows_by_table(session=session,
                                       query=q("2026-01-01", "2026-01-03")).empty


def test_daily_durations_are_nearest_rank_percentiles(session: Session,
                                                      two: tuple[int, int]) -> None:
    a, _ = two
    for n, seconds in enumerate([50, 10, 40, 20, 30]):  # unsorted on purpose
        add_run(session, a, f"2026-11-01 0{n}:00", rows=1, duration=seconds)
    for n in range(20):
        add_run(session, a, f"2026-11-02 {n:02d}:00", "failed" if n % 2 else "succeeded",
                rows=1, duration=n + 1, error="x")
    add_run(session, a, "2026-11-02 21:00", "cancelled", duration=999)  # not finished

    frame = history.daily_durations(session=session, query=q("2026-11-01", "2026-11-03"))

    # 5 values: p50 is the 3rd (30), p95 the 5th (50). 20 values 1..20: 10th and 19th.
    assert list(frame["runs"]) == [5, 20, 0]
    assert list(frame["p50"])[:2] == [30, 10]
    assert list(frame["p95"])[:2] == [50, 19]
    assert math.isnan(frame["p50"].iloc[2])


def test_rows_by_data_table(session: Session, two: tuple[int, int]) -> None:
    a, b = two
    add_run(session, a, "2026-11-01 01:00", rows=100)
    add_run(session, a, "2026-11-01 05:00", rows=20)
    add_run(session, b, "2026-11-01 02:00", rows=7)
    add_run(session, b, "2026-11-02 02:00", "failed", error="x")

    frame = history.daily_rows_by_table(session=session, query=q("2026-11-01", "2026-11-02"))

    assert frame.to_dict("records") == [
        {"day": d("2026-11-01"), "data_table": "Campaign stats", "rows": 120},
        {"day": d("2026-11-01"), "data_table": "Other stats", "rows": 7}]


def test_filters_narrow_every_aggregate(session: Session, two: tuple[int, int]) -> None:
    a, b = two
    add_run(session, a, "2026-11-01 01:00", rows=100, trigger="manual")
    add_run(session, b, "2026-11-01 02:00", rows=50)
    add_run(session, b, "2026-11-01 03:00", "failed", error="x")
    extract_b = session.get(Extract, b)
    assert extract_b is not None
    data_table_b = extract_b.data_table_id

    def runs(**filters: Any) -> int:
        frame = history.daily_runs(session=session, query=q("2026-11-01", "2026-11-01",
                                                            **filters))
        return int(frame["runs"].sum())

    assert runs() == 3
    assert runs(extract_id=a) == 1
    assert runs(data_table_id=data_table_b) == 2
    assert runs(trigger="manual") == 1
    assert runs(status="failed") == 1
    assert runs(datasource="sample_ads") == 3
    assert runs(datasource="postgres") == 0
    assert runs(connection_id=extract_b.connection_id) == 3
    with pytest.raises(errors.Invalid, match="status"):
        runs(status="done")


# -- headline ------------------------------------------------------------------------------------

def test_headline_compares_with_the_previous_period(session: Session,
                                                    two: tuple[int, int]) -> None:
    a, b = two
    # Previous period 2026-11-19..21: 2 runs, 1 succeeded of 2 finished.
    add_run(session, a, "2026-11-20 01:00", rows=10, duration=100)
    add_run(session, a, "2026-11-20 02:00", "failed", duration=300, error="x")
    # Current period 2026-11-22..24: 4 runs, 3 of 4 finished succeeded.
    add_run(session, a, "2026-11-22 01:00", rows=100, duration=10)
    add_run(session, b, "2026-11-23 01:00", rows=200, duration=20)
    add_run(session, b, "2026-11-24 01:00", rows=300, duration=30)
    add_run(session, b, "2026-11-24 02:00", "failed", duration=40, error="x")

    figures = {h.label: h for h in history.headline(
        session=session, query=q("2026-11-22", "2026-11-24"), now=NOW)}

    assert (figures["Runs"].value, figures["Runs"].previous) == (4, 2)
    assert figures["Runs"].change == 2
    assert figures["Success rate"].value == pytest.approx(0.75)
    assert figures["Success rate"].previous == pytest.approx(0.5)
    assert (figures["Rows loaded"].value, figures["Rows loaded"].previous) == (600, 10)
    # Durations 10, 20, 30, 40: p50 the 2nd (20), p95 the 4th (40); before: 100, 300.
    assert (figures["Median duration"].value, figures["Median duration"].previous) == (20, 100)
    assert (figures["p95 duration"].value, figures["p95 duration"].previous) == (40, 300)
    # At the end of the current period b's latest run failed; at the previous one a's had.
    assert (figures["Extracts in error"].value, figures["Extracts in error"].previous) == (1, 1)


def test_headline_of_an_empty_period(session: Session, two: tuple[int, int]) -> None:
    figures = {h.label: h for h in history.headline(
        session=session, query=q("2026-11-22", "2026-11-24"), now=NOW)}
    assert figures["Runs"].value == 0 and figures["Success rate"].value is None
    assert figures["Median duration"].value is None and figures["Median duration"].change is None


# -- failures ------------------------------------------------------------------------------------

def test_failures_grouped_by_message(session: Session, two: tuple[int, int]) -> None:
    a, b = two
    add_run(session, a, "2026-11-01 01:00", "failed", error="401 Unauthorized")
    add_run(session, b, "2026-11-02 01:00", "failed", error="401 Unauthorized")
    last = add_run(session, a, "2026-11-03 01:00", "failed", error="401 Unauthorized")
    timeout = add_run(session, b, "2026-11-02 05:00", "failed", error="timeout")
    add_run(session, a, "2026-11-02 06:00", rows=3)

    frame = history.failure_groups(session=session, query=q("2026-11-01", "2026-11-03",
                                                            timezone="Europe/Berlin"))

    assert list(frame["error"]) == ["401 Unauthorized", "timeout"]
    top = frame.iloc[0]
    assert (top["failures"], top["extracts"], top["latest_run_id"]) == (3, 2, last.id)
    assert top["first_seen"] == at("2026-11-01 01:00")
    assert top["last_seen"] == at("2026-11-03 01:00")
    assert str(top["first_seen"].tzinfo) == "Europe/Berlin"
    assert sorted(top["extract_titles"]) == sorted(
        e.title for e in (session.get(Extract, a), session.get(Extract, b)) if e)
    assert frame.iloc[1]["latest_run_id"] == timeout.id


def test_failures_are_read_through_the_index_that_holds_the_status(
        session: Session, two: tuple[int, int]) -> None:
    """On SQLite the query names its index: the planner's own pick reads every run of the
    range (3.5 times slower over a 200,000-run history, docs/benchmarks.md)."""
    engine = session.get_bind()
    if engine.dialect.name != "sqlite":
        pytest.skip("an SQLite index hint")
    sent: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", keep)
    try:
        history.failure_groups(session=session, query=q("2026-11-01", "2026-11-03"))
    finally:
        event.remove(engine, "before_cursor_execute", keep)
    [(grouped, parameters)] = [(s, p) for s, p in sent if "GROUP BY" in s]
    assert "FROM runs INDEXED BY ix_runs_history JOIN extracts" in grouped
    plan = session.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + grouped,
                                                parameters).all()
    assert any("ix_runs_history" in row[-1] for row in plan), plan


# -- freshness -----------------------------------------------------------------------------------

def test_freshness_newest_date_age_and_stale_worst_first(session: Session,
                                                         two: tuple[int, int]) -> None:
    a, b = two
    c = make_extract(session, accounts=[3]).id
    for extract_id in (a, b, c):
        extract = session.get(Extract, extract_id)
        assert extract is not None
        extract.created_at = NOW - timedelta(days=30)
    # a: daily, last success 1 day ago (fresh). b: last success 3 days ago (stale).
    # c: never succeeded (stale); paused it would not be.
    add_run(session, a, "2026-11-27 09:00", rows=1, duration=60,
            window=("2026-11-20", "2026-11-27"))
    add_run(session, a, "2026-11-28 09:00", "failed", duration=1, error="x")
    add_run(session, b, "2026-11-25 09:00", rows=1, duration=60,
            window=("2026-11-18", "2026-11-25"))
    add_run(session, b, "2026-11-24 09:00", rows=1, window=("2026-11-01", "2026-11-26"))

    frame = history.freshness(session=session, query=q("2026-11-01", "2026-11-28"), now=NOW)

    assert list(frame["extract_id"]) == [c, b, a]
    assert list(frame["stale"]) == [True, True, False]
    rows = frame.set_index("extract_id")
    assert rows.loc[a, "newest_date"] == d("2026-11-27")
    assert rows.loc[b, "newest_date"] == d("2026-11-26")  # the max date_to, not the latest run
    assert rows.loc[a, "age_hours"] == pytest.approx(25 - 1 / 60)  # finished 09:01 the day before
    assert rows.loc[a, "interval_hours"] == 24
    assert math.isnan(rows.loc[c, "age_hours"])

    service.pause_extract(session=session, extract_id=c)
    paused = history.freshness(session=session, query=q("2026-11-01", "2026-11-28"), now=NOW)
    assert not paused.set_index("extract_id").loc[c, "stale"]
    figures = {h.label: h for h in history.headline(
        session=session, query=q("2026-11-27", "2026-11-28"), now=NOW)}
    assert figures["Stale extracts"].value == 1  # b
    assert figures["Extracts in error"].value == 1  # a


# -- anomalies -----------------------------------------------------------------------------------

def test_volume_anomalies_against_the_trailing_median(session: Session,
                                                      two: tuple[int, int]) -> None:
    a, b = two
    for n in range(5):  # 100 rows a day, each over a 2-day window
        add_run(session, a, f"2026-10-0{n + 1} 01:00", rows=200,
                window=(f"2026-09-2{n}", f"2026-09-2{n + 1}"))
    low = add_run(session, a, "2026-11-01 01:00", rows=40)  # 40/day: 0.4x
    add_run(session, a, "2026-11-02 01:00", rows=150)  # 1.5x: fine
    high = add_run(session, a, "2026-11-03 01:00", rows=250)  # 2.5x the median of 100
    add_run(session, a, "2026-11-03 02:00", "failed", error="x")
    add_run(session, b, "2026-11-01 01:00", rows=1)  # b has no history: nothing to compare
    add_run(session, b, "2026-11-02 01:00", rows=100_000)

    frame = history.volume_anomalies(session=session, query=q("2026-11-01", "2026-11-03"))

    assert list(frame["run_id"]) == [low.id, high.id]
    assert list(frame["direction"]) == ["low", "high"]
    assert list(frame["median_rows_per_day"]) == [100, 100]
    assert list(frame["ratio"]) == [pytest.approx(0.4), pytest.approx(2.5)]
    assert list(frame["day"]) == [d("2026-11-01"), d("2026-11-03")]

    flagged = service.run_anomalies(session=session, extract_id=a)
    assert set(flagged) == {low.id, high.id}
    assert flagged[low.id].label.startswith("▼ 0.4×")


def test_trailing_median_uses_only_the_last_14_runs(session: Session,
                                                    two: tuple[int, int]) -> None:
    a, _ = two
    for n in range(10):
        add_run(session, a, f"2026-10-{n + 1:02d} 01:00", rows=1000)
    for n in range(14):
        add_run(session, a, f"2026-10-{n + 11:02d} 01:00", rows=100)
    run = add_run(session, a, "2026-11-01 01:00", rows=100)

    assert service.run_anomalies(session=session, extract_id=a).get(run.id) is None
    frame = history.volume_anomalies(session=session, query=q("2026-11-01", "2026-11-01"))
    assert frame.empty


# -- coverage and gaps ---------------------------------------------------------------------------

def _with_start(session: Session, extract_id: int, start: str) -> None:
    extract = session.get(Extract, extract_id)
    assert extract is not None
    extract.sync_historical_data = d(start)


def test_coverage_marks_gaps_from_the_historical_start(session: Session,
                                                       two: tuple[int, int]) -> None:
    a, _ = two
    _with_start(session, a, "2026-11-10")
    add_run(session, a, "2026-11-12 01:00", rows=1, window=("2026-11-10", "2026-11-14"))
    add_run(session, a, "2026-11-20 01:00", rows=1, window=("2026-11-18", "2026-11-20"))
    add_run(session, a, "2026-11-21 01:00", "failed", error="x",
            window=("2026-11-21", "2026-11-22"))
    add_run(session, a, "2026-11-28 01:00", "queued", window=("2026-11-25", "2026-11-26"))

    found = service.coverage(session=session, extract_id=a, now=NOW)

    assert found is not None
    assert (found.start, found.today) == (d("2026-11-10"), d("2026-11-28"))
    assert found.gaps == ((d("2026-11-15"), d("2026-11-17")), (d("2026-11-21"), d("2026-11-24")),
                          (d("2026-11-27"), d("2026-11-28")))
    assert found.missing_days == 9
    assert d("2026-11-25") in found.pending and len(found.loaded) == 8


def test_coverage_starts_at_the_first_loaded_date_without_a_historical_start(
        session: Session, two: tuple[int, int]) -> None:
    a, _ = two
    empty = service.coverage(session=session, extract_id=a, now=NOW)
    assert empty is not None and empty.start is None and empty.gaps == ()
    add_run(session, a, "2026-11-27 01:00", rows=1, window=("2026-11-25", "2026-11-26"))
    found = service.coverage(session=session, extract_id=a, now=NOW)
    assert found is not None and found.gaps == ((d("2026-11-27"), d("2026-11-28")),)


def test_fill_gaps_queues_exactly_the_missing_windows(session: Session, db: Any,
                                                      two: tuple[int, int]) -> None:
    a, _ = two
    _with_start(session, a, "2026-08-01")
    add_run(session, a, "2026-11-27 01:00", rows=1, window=("2026-08-02", "2026-11-20"))
    chunk = db.settings.backfill_chunk_days

    runs = service.fill_gaps(session=session, extract_id=a, now=NOW)

    spans = sorted((r.date_from, r.date_to) for r in runs)
    assert spans[0] == (d("2026-08-01"), d("2026-08-01"))
    assert spans[1][0] == d("2026-11-21") and spans[-1][1] == d("2026-11-28")
    assert sum((e - s).days + 1 for s, e in spans) == 1 + 8
    assert all((e - s).days + 1 <= chunk for s, e in spans)
    assert {(r.trigger, r.status) for r in runs} == {("backfill", "queued")}
    listed = service.list_runs(session=session, extract_id=a, status="queued")
    assert {r.id for r in listed} == {r.id for r in runs}
    assert service.get_extract(session=session, extract_id=a).status == "syncing"
    # Queued days are no longer gaps: a second click queues nothing.
    assert service.fill_gaps(session=session, extract_id=a, now=NOW) == []


def test_fill_gaps_needs_a_date_field(session: Session) -> None:
    extract = make_extract(session, template_id=4, data_table_title="Campaigns",
                           template_settings={"fields": ["campaign_id", "campaign_name"]})
    assert service.coverage(session=session, extract_id=extract.id, now=NOW) is None
    with pytest.raises(errors.Invalid, match="no date field"):
        service.fill_gaps(session=session, extract_id=extract.id, now=NOW)


# -- timeline ------------------------------------------------------------------------------------

def test_day_timeline_lists_the_days_runs_in_local_time(session: Session,
                                                        two: tuple[int, int]) -> None:
    a, b = two
    first = add_run(session, a, "2026-11-10 23:30", rows=1, duration=60, wait=30)
    second = add_run(session, b, "2026-11-11 08:00", "running", wait=5)
    add_run(session, b, "2026-11-11 23:30", rows=1)  # the 12th in Berlin

    frame = history.day_timeline(session=session, query=q("2026-11-01", "2026-11-02",
                                                          timezone="Europe/Berlin"),
                                 day=d("2026-11-11"))

    assert list(frame["run_id"]) == [first.id, second.id]
    row = frame.iloc[0]
    assert row["queued_at"].isoformat() == "2026-11-11T00:30:00+01:00"
    assert (row["started_at"] - row["queued_at"]).total_seconds() == 30
    assert (row["finished_at"] - row["started_at"]).total_seconds() == 60
    assert frame.iloc[1]["finished_at"] is None or frame.iloc[1]["finished_at"] != \
        frame.iloc[1]["finished_at"]  # None or NaT: still running


# -- PostgreSQL ----------------------------------------------------------------------------------

def _mixed_history(session: Session) -> tuple[int, int]:
    """Two extracts with runs across Berlin's DST change, failures and an anomaly."""
    a = make_extract(session).id
    b = make_extract(session, accounts=[2], data_table_title="Other stats").id
    for n in range(12):
        add_run(session, a, f"2026-10-{15 + n} 22:30", rows=700 if n != 9 else 70,
                duration=10 + n, wait=n, window=(f"2026-10-{8 + n:02d}", f"2026-10-{14 + n}"))
        add_run(session, b, f"2026-10-{15 + n} 23:10", "failed" if n % 3 == 0 else "succeeded",
                rows=5, duration=3 * n, error="timeout" if n % 3 == 0 else None)
    return a, b


def test_postgres_gives_the_same_figures(session: Session, settings: Any) -> None:
    """The SQL differs by dialect (local days, window lengths): PostgreSQL must agree with
    SQLite on the same history."""
    import uuid

    import sqlalchemy as sa
    from sqlalchemy.pool import NullPool

    from core.db import open_database
    from tests.core.connectors.conftest import PG_URL, require_server

    require_server("PostgreSQL", PG_URL)
    name = f"history_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_URL, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.engine.make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    pg = open_database(settings.with_overrides(database_url=url), seed=True)
    try:
        with pg.session() as pg_session:
            ids = _mixed_history(session), _mixed_history(pg_session)
            assert ids[0] == ids[1]
            a, _ = ids[0]
            query = q("2026-10-20", "2026-10-27", timezone="Europe/Berlin")
            for s in (session, pg_session):
                s.flush()
            results = []
            for s in (session, pg_session):
                results.append([
                    history.daily_runs(session=s, query=query).to_dict("records"),
                    history.daily_durations(session=s, query=query).to_dict("records"),
                    history.daily_rows_by_table(session=s, query=query).to_dict("records"),
                    history.failure_groups(session=s, query=query)
                    .drop(columns=["latest_run_id"]).to_dict("records"),
                    history.volume_anomalies(session=s, query=query)
                    .drop(columns=["run_id"]).to_dict("records"),
                    history.headline(session=s, query=query, now=NOW),
                    history.freshness(session=s, query=query, now=NOW)
                    .drop(columns=["extract_id"]).to_dict("records"),
                    service.coverage(session=s, extract_id=a, now=NOW)])
            sqlite_results, pg_results = results
            assert len(sqlite_results[4]) == 1  # the anomaly is found at all
            for mine, theirs in zip(sqlite_results, pg_results, strict=True):
                assert str(mine) == str(theirs)
    finally:
        pg.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.dispose()
