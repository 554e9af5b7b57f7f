"""Runs through the service facade: manual windows, historical backfill, cancel, read."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import pairwise
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import errors, runner, schemas, service
from core.db import Database
from core.models import Run
from tests.conftest import NOW, extract_body, make_extract

# What these tests check depends on the database: they run on SQLite and PostgreSQL.
pytestmark = pytest.mark.both_databases

TODAY = NOW.date()  # 2026-11-28


def d(text: str) -> date:
    return date.fromisoformat(text)


def windows_of(runs: list[schemas.RunOut]) -> list[tuple[date | None, date | None]]:
    return [(r.date_from, r.date_to) for r in runs]


def runs_of(session: Session, extract_id: int, *, trigger: str | None = None,
            status: str | None = None) -> list[schemas.RunOut]:
    """The extract's runs in the order they were queued (oldest id first)."""
    runs = reversed(service.list_runs(session=session, extract_id=extract_id, status=status))
    return [r for r in runs if trigger is None or r.trigger == trigger]


def status_of(session: Session, extract_id: int) -> str:
    return service.get_extract(session=session, extract_id=extract_id).status


def assert_consecutive(spans: list[tuple[Any, Any]], first: date, last: date,
                       longest: int) -> None:
    """Spans (oldest first) cover [first, last] without gaps or overlaps, none too long."""
    assert spans[0][0] == first and spans[-1][1] == last
    for (_, end), (start, _) in pairwise(spans):
        assert start == end + timedelta(days=1)
    assert all((end - start).days + 1 <= longest for start, end in spans)


# -- manual runs -----------------------------------------------------------------------------

def test_run_defaults_to_the_lookback_window_ending_today(session: Session) -> None:
    extract = make_extract(session)

    [run] = service.run_extract(session=session, extract_id=extract.id, now=NOW)

    assert (run.status, run.trigger) == ("queued", "manual")
    # The template's default lookback is 7 days: 2026-11-22 ... 2026-11-28.
    assert (run.date_from, run.date_to) == (d("2026-11-22"), TODAY)
    assert run.queued_at == NOW
    assert (run.attempts, run.max_attempts, run.rows) == (0, 3, None)
    assert status_of(session, extract.id) == "syncing"


def test_run_counts_the_lookback_back_from_a_given_date_to(session: Session) -> None:
    extract = make_extract(session, schedules=[{"lookback": 14}])

    [run] = service.run_extract(session=session, extract_id=extract.id,
                                date_to=d("2026-11-10"), now=NOW)

    assert (run.date_from, run.date_to) == (d("2026-10-28"), d("2026-11-10"))


def test_run_today_is_today_in_the_schedules_timezone(session: Session) -> None:
    # 10:00 UTC on the 28th is already midnight of the 29th on Kiritimati (UTC+14).
    extract = make_extract(session, schedules=[{"timezone": "Pacific/Kiritimati",
                                                "lookback": "live"}])

    [run] = service.run_extract(session=session, extract_id=extract.id, now=NOW)

    assert (run.date_from, run.date_to) == (d("2026-11-29"), d("2026-11-29"))


def test_a_long_window_is_split_into_consecutive_runs(db: Database, session: Session) -> None:
    extract = make_extract(session)
    chunk = db.settings.backfill_chunk_days
    assert chunk == 31

    runs = service.run_extract(session=session, extract_id=extract.id,
                               date_from=d("2026-08-01"), date_to=d("2026-11-28"), now=NOW)

    # 120 days: 31 + 31 + 31 + 27, oldest first.
    assert windows_of(runs) == [(d("2026-08-01"), d("2026-08-31")),
                                (d("2026-09-01"), d("2026-10-01")),
                                (d("2026-10-02"), d("2026-11-01")),
                                (d("2026-11-02"), d("2026-11-28"))]
    assert_consecutive(windows_of(runs), d("2026-08-01"), TODAY, chunk)
    assert {(r.status, r.trigger) for r in runs} == {("queued", "manual")}
    assert len(runs_of(session, extract.id)) == 4


def test_a_window_of_exactly_one_chunk_stays_one_run(session: Session) -> None:
    extract = make_extract(session)

    runs = service.run_extract(session=session, extract_id=extract.id,
                               date_from=d("2026-10-29"), date_to=TODAY, now=NOW)

    assert windows_of(runs) == [(d("2026-10-29"), TODAY)]


def test_a_paused_extract_can_still_be_run_by_hand(db: Database, session: Session) -> None:
    extract = make_extract(session)
    service.pause_extract(session=session, extract_id=extract.id)

    [run] = service.run_extract(session=session, extract_id=extract.id, now=NOW)

    assert run.status == "queued"
    assert status_of(session, extract.id) == "syncing"
    session.commit()
    done = runner.execute_run(db=db, run_id=run.id, clock=lambda: NOW)
    assert (done.status, done.rows) == ("succeeded", 7 * 20)
    shown = service.get_extract(session=session, extract_id=extract.id)
    assert shown.status == "paused"  # back to paused, not active
    assert shown.next_run_at is None
    assert shown.last_sync == NOW


def test_a_template_without_a_date_field_runs_whole(session: Session) -> None:
    extract = make_extract(session, template_id=4, data_table_title="Campaigns",
                           template_settings={"fields": ["campaign_id", "daily_budget"]})

    [run] = service.run_extract(session=session, extract_id=extract.id, now=NOW)
    assert (run.date_from, run.date_to) == (None, None)

    with pytest.raises(errors.Invalid) as info:
        service.run_extract(session=session, extract_id=extract.id,
                            date_from=d("2026-11-01"), now=NOW)
    assert "leave date_from and date_to empty" in info.value.for_field("date_from")[0]
    assert len(runs_of(session, extract.id)) == 1


def test_a_run_older_than_the_depth_limit_is_refused(session: Session) -> None:
    extract = make_extract(session, template_id=2, data_table_title="Ad groups",
                           template_settings={"fields": ["date", "ad_group_id", "clicks"]})

    with pytest.raises(errors.Invalid) as info:
        service.run_extract(session=session, extract_id=extract.id,
                            date_from=d("2025-11-27"), now=NOW)

    assert info.value.for_field("date_from") == [
        "date_from 2025-11-27 is older than the template's depth limit of 365 days; use "
        "2025-11-28 or later"]
    assert runs_of(session, extract.id) == []


def test_the_same_window_requested_three_times_is_queued_once(session: Session) -> None:
    extract = make_extract(session)
    window = {"date_from": d("2026-11-20"), "date_to": d("2026-11-26")}

    [first] = service.run_extract(session=session, extract_id=extract.id, now=NOW, **window)
    [second] = service.run_extract(session=session, extract_id=extract.id, now=NOW, **window)
    [third] = service.run_extract(session=session, extract_id=extract.id, now=NOW, **window)

    assert first.id == second.id == third.id
    assert (first.already_queued, second.already_queued, third.already_queued) == (
        False, True, True)
    assert len(runs_of(session, extract.id)) == 1


def test_a_window_inside_a_queued_run_joins_it_at_manual_priority(session: Session) -> None:
    extract = make_extract(session)
    [week] = service.run_extract(session=session, extract_id=extract.id, now=NOW,
                                 date_from=d("2026-11-20"), date_to=d("2026-11-26"))
    session.get(Run, week.id).priority = 2  # as if the schedule had queued it

    runs = service.run_extract(session=session, extract_id=extract.id, now=NOW,
                               date_from=d("2026-11-21"), date_to=d("2026-11-22"))

    assert [(r.id, r.already_queued) for r in runs] == [(week.id, True)]
    assert session.get(Run, week.id).priority == 0  # a person is waiting for it now


def test_a_queued_backfill_is_not_joined(session: Session) -> None:
    # Editing the historical start date cancels queued backfill: a person's request must
    # not go with it.
    extract = make_extract(session, sync_historical_data="2026-09-01")

    [run] = service.run_extract(session=session, extract_id=extract.id, now=NOW,
                                date_from=d("2026-11-10"), date_to=d("2026-11-12"))

    assert (run.trigger, run.already_queued) == ("manual", False)


def test_a_window_that_is_running_gets_one_run_after_it(session: Session) -> None:
    extract = make_extract(session)
    window = {"date_from": d("2026-11-20"), "date_to": d("2026-11-26")}
    [running] = service.run_extract(session=session, extract_id=extract.id, now=NOW, **window)
    session.get(Run, running.id).status = "running"

    [again] = service.run_extract(session=session, extract_id=extract.id, now=NOW, **window)
    [joined] = service.run_extract(session=session, extract_id=extract.id, now=NOW, **window)

    assert again.id != running.id and not again.already_queued
    assert (joined.id, joined.already_queued) == (again.id, True)


# -- historical data -------------------------------------------------------------------------

def test_sync_historical_data_queues_backfill_newest_first(session: Session) -> None:
    first, second = service.create_extracts(
        session=session, data=extract_body(sync_historical_data="2026-09-01"), now=NOW)

    for extract in (first, second):
        backfill = runs_of(session, extract.id)
        assert {(r.status, r.trigger) for r in backfill} == {("queued", "backfill")}
        assert windows_of(backfill) == [(d("2026-11-02"), TODAY),
                                        (d("2026-10-02"), d("2026-11-01")),
                                        (d("2026-09-01"), d("2026-10-01"))]
        assert status_of(session, extract.id) == "syncing"


def test_the_oldest_start_the_depth_limit_allows_is_accepted(session: Session) -> None:
    # Campaign performance keeps 730 days: 2024-11-28 is exactly at the limit.
    extract = make_extract(session, sync_historical_data="2024-11-28")

    backfill = runs_of(session, extract.id, trigger="backfill")

    assert len(backfill) == 24  # 731 days in windows of 31
    assert_consecutive(sorted(windows_of(backfill)), d("2024-11-28"), TODAY, 31)
    assert windows_of(backfill)[0][1] == TODAY  # newest first


def test_moving_the_start_earlier_queues_only_the_missing_windows(session: Session) -> None:
    extract = make_extract(session, sync_historical_data="2026-10-01")
    before = windows_of(runs_of(session, extract.id))
    assert before == [(d("2026-11-01"), TODAY), (d("2026-10-01"), d("2026-10-31"))]

    service.patch_extract(session=session, extract_id=extract.id, now=NOW,
                          data={"sync_historical_data": "2026-08-15"})

    after = runs_of(session, extract.id)
    assert windows_of(after)[:2] == before
    assert windows_of(after)[2:] == [(d("2026-09-15"), d("2026-09-30")),
                                     (d("2026-08-15"), d("2026-09-14"))]
    assert {r.status for r in after} == {"queued"}
    spans = sorted(windows_of(after))
    assert_consecutive(spans, d("2026-08-15"), TODAY, 31)


def test_backfill_stops_the_day_before_the_data_already_loaded(db: Database,
                                                               session: Session) -> None:
    extract = make_extract(session)
    [run] = service.run_extract(session=session, extract_id=extract.id, now=NOW)
    session.commit()
    runner.execute_run(db=db, run_id=run.id, clock=lambda: NOW)

    service.patch_extract(session=session, extract_id=extract.id, now=NOW,
                          data={"sync_historical_data": "2026-11-01"})

    backfill = runs_of(session, extract.id, trigger="backfill")
    # Rows from 2026-11-22 on are loaded, so history fills 2026-11-01 ... 2026-11-21.
    assert windows_of(backfill) == [(d("2026-11-01"), d("2026-11-21"))]


def test_backfill_reaches_today_in_the_schedules_timezone(session: Session) -> None:
    extract = make_extract(session, schedules=[{"timezone": "Pacific/Kiritimati"}],
                           sync_historical_data="2026-11-29")

    backfill = runs_of(session, extract.id, trigger="backfill")

    assert windows_of(backfill) == [(d("2026-11-29"), d("2026-11-29"))]


def test_clearing_sync_historical_data_cancels_queued_backfill_only(session: Session) -> None:
    extract = make_extract(session, sync_historical_data="2026-09-01")
    [manual] = service.run_extract(session=session, extract_id=extract.id, now=NOW)

    service.patch_extract(session=session, extract_id=extract.id, now=NOW,
                          data={"sync_historical_data": None})

    backfill = runs_of(session, extract.id, trigger="backfill")
    assert len(backfill) == 3
    assert {r.status for r in backfill} == {"cancelled"}
    assert {r.finished_at for r in backfill} == {NOW}
    assert {r.error for r in backfill} == {"cancelled: historical start date changed"}
    assert service.get_run(session=session, run_id=manual.id).status == "queued"
    assert status_of(session, extract.id) == "syncing"  # the manual run is still queued


def test_moving_the_start_later_cancels_the_windows_before_it(session: Session) -> None:
    extract = make_extract(session, sync_historical_data="2026-09-01")

    service.patch_extract(session=session, extract_id=extract.id, now=NOW,
                          data={"sync_historical_data": "2026-11-02"})

    statuses = {(r.date_from, r.date_to): r.status for r in runs_of(session, extract.id)}
    assert statuses == {(d("2026-11-02"), TODAY): "queued",
                        (d("2026-10-02"), d("2026-11-01")): "cancelled",
                        (d("2026-09-01"), d("2026-10-01")): "cancelled"}


def test_moving_the_start_into_a_queued_window_trims_that_window(session: Session) -> None:
    extract = make_extract(session, sync_historical_data="2026-09-01")

    service.patch_extract(session=session, extract_id=extract.id, now=NOW,
                          data={"sync_historical_data": "2026-10-15"})

    statuses = {(r.date_from, r.date_to): r.status for r in runs_of(session, extract.id)}
    assert statuses == {(d("2026-11-02"), TODAY): "queued",
                        (d("2026-10-15"), d("2026-11-01")): "queued",
                        (d("2026-09-01"), d("2026-10-01")): "cancelled"}


# -- cancel ----------------------------------------------------------------------------------

def test_cancel_a_queued_run(session: Session) -> None:
    extract = make_extract(session)
    [run] = service.run_extract(session=session, extract_id=extract.id, now=NOW)
    later = NOW + timedelta(minutes=1)

    cancelled = service.cancel_run(session=session, run_id=run.id, now=later)

    assert cancelled.status == "cancelled"
    assert cancelled.finished_at == later
    assert cancelled.error == "cancelled: by request"
    assert cancelled.log[-1]["message"] == "cancelled: by request"
    assert status_of(session, extract.id) == "active"


def test_cancel_a_running_run_asks_it_to_stop(session: Session) -> None:
    extract = make_extract(session)
    [run] = service.run_extract(session=session, extract_id=extract.id, now=NOW)
    # Claimed by a worker (what runner._claim does), without executing it.
    row = session.scalar(select(Run).where(Run.id == run.id))
    assert row is not None
    row.status = "running"

    asked = service.cancel_run(session=session, run_id=run.id, now=NOW)

    assert asked.status == "running"
    assert asked.log[-1]["message"] == "cancel requested; stopping before the next chunk"
    assert row.cancel_requested is True


def test_cancel_a_finished_run_is_a_conflict(db: Database, session: Session) -> None:
    extract = make_extract(session)
    [run] = service.run_extract(session=session, extract_id=extract.id, now=NOW)
    session.commit()
    runner.execute_run(db=db, run_id=run.id, clock=lambda: NOW)

    with pytest.raises(errors.Conflict) as info:
        service.cancel_run(session=session, run_id=run.id, now=NOW)

    assert str(info.value) == (f"run {run.id} is already succeeded; only queued or running "
                               "runs can be cancelled")
    assert service.get_run(session=session, run_id=run.id).status == "succeeded"


def test_cancel_an_unknown_run(session: Session) -> None:
    with pytest.raises(errors.NotFound, match="run 999 does not exist"):
        service.cancel_run(session=session, run_id=999, now=NOW)


# -- reading runs ----------------------------------------------------------------------------

def test_list_runs_and_get_run_with_its_log(db: Database, session: Session) -> None:
    first = make_extract(session)
    second = make_extract(session, accounts=[2])
    [a] = service.run_extract(session=session, extract_id=first.id, now=NOW)
    [b] = service.run_extract(session=session, extract_id=second.id, now=NOW)
    [c] = service.run_extract(session=session, extract_id=first.id,
                              date_from=d("2026-11-01"), date_to=d("2026-11-02"), now=NOW)
    session.commit()
    runner.execute_run(db=db, run_id=a.id, clock=lambda: NOW)

    assert [r.id for r in service.list_runs(session=session)] == [c.id, b.id, a.id]
    assert [r.id for r in service.list_runs(session=session, extract_id=first.id)] == [
        c.id, a.id]
    assert [r.id for r in service.list_runs(session=session, status="succeeded")] == [a.id]
    assert [r.id for r in service.list_runs(session=session, limit=1, offset=1)] == [b.id]
    listed = service.list_runs(session=session, extract_id=first.id)
    assert all(r.log == [] for r in listed)  # lists stay light; get_run has the log

    run = service.get_run(session=session, run_id=a.id)
    assert (run.status, run.rows, run.attempts) == ("succeeded", 7 * 20, 1)
    messages = [line["message"] for line in run.log]
    assert messages[0] == "attempt 1 started (manual, window 2026-11-22 to 2026-11-28)"
    assert messages[-1].startswith("loaded 140 rows in ")
    assert {line["level"] for line in run.log} == {"info"}

    with pytest.raises(errors.NotFound, match="extract 77 does not exist"):
        service.list_runs(session=session, extract_id=77)


# -- reads for the dashboard ---------------------------------------------------------------------

def test_the_run_window_is_the_lookback_of_the_first_schedule(session: Session) -> None:
    extract = make_extract(session, schedules=[{"lookback": 3, "timezone": "Asia/Tokyo"}])
    lifetime = make_extract(session, template_id=4, data_table_title="Campaigns",
                            template_settings={"fields": ["campaign_id"]})

    # 10:00 UTC is 19:00 in Tokyo, still 2026-11-28 there.
    assert service.run_window(session=session, extract_id=extract.id, now=NOW) == (
        d("2026-11-26"), d("2026-11-28"))
    assert service.run_window(session=session, extract_id=lifetime.id) is None


def test_last_run_rows_reads_the_latest_finished_run_of_each(db: Database) -> None:
    with db.session() as s:
        first, second = (make_extract(s), make_extract(s, accounts=[2]))
        [run] = service.run_extract(session=s, extract_id=first.id, date_from=d("2026-11-27"),
                                    date_to=d("2026-11-28"), now=NOW)
    runner.execute_run(db=db, run_id=run.id)
    with db.session() as s:
        service.run_extract(session=s, extract_id=first.id, now=NOW)  # queued: not counted
        rows = service.last_run_rows(session=s, extract_ids=[first.id, second.id])
    assert rows == {first.id: 40}
