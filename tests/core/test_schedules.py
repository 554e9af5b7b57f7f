"""Fire times of schedules (DST, short months, hourly, weekly, cron) and firing them."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import schedules, service, worker
from core.db import Database
from core.models import Run
from core.worker import firing
from tests.conftest import NOW, make_extract

BERLIN = ZoneInfo("Europe/Berlin")


def schedule(**overrides: Any) -> dict[str, Any]:
    data = {**schedules.DEFAULT_SCHEDULE, "timezone": "Europe/Berlin"}
    data.update(overrides)
    return data


def fires(data: dict[str, Any], start: datetime, end: datetime) -> list[datetime]:
    """Every fire time in (start, end], walking as the scheduler does (previous -> next)."""
    trigger = schedules.trigger_for(data)
    out = []
    fire = trigger.get_next_fire_time(None, start + timedelta(microseconds=1))
    while fire is not None and fire.astimezone(UTC) <= end:
        out.append(fire.astimezone(UTC))
        fire = trigger.get_next_fire_time(fire, fire)
    return out


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_daily_0230_berlin_fires_once_on_the_spring_forward_day() -> None:
    daily = schedule(hour=2, minute=30)
    got = fires(daily, utc("2026-03-28T12:00"), utc("2026-03-30T12:00"))
    # 02:30 does not exist on 2026-03-29; the run happens once, at 03:30 CEST.
    assert got == [utc("2026-03-29T01:30"), utc("2026-03-30T00:30")]
    assert [f.astimezone(BERLIN).date() for f in got] == [date(2026, 3, 29), date(2026, 3, 30)]


def test_daily_0230_berlin_fires_once_on_the_fall_back_day() -> None:
    daily = schedule(hour=2, minute=30)
    got = fires(daily, utc("2026-10-24T12:00"), utc("2026-10-26T12:00"))
    # 02:30 happens twice on 2026-10-25 (CEST, then CET); only the first one fires.
    assert got == [utc("2026-10-25T00:30"), utc("2026-10-26T01:30")]
    # Asked from inside the repeated hour, the next fire is tomorrow's, never today's again.
    assert schedules.next_fire(daily, utc("2026-10-25T00:30")) == utc("2026-10-26T01:30")
    assert schedules.next_fire(daily, utc("2026-10-25T01:00")) == utc("2026-10-26T01:30")
    trigger = schedules.trigger_for(daily)
    assert schedules.last_fire(trigger, utc("2026-10-25T00:30"), utc("2026-10-25T02:00")) is None


def test_an_hourly_schedule_keeps_its_repeated_hour_on_the_fall_back_day() -> None:
    hourly = schedule(frequency="hourly", every_hours=1, hour=None, minute=0)
    got = fires(hourly, utc("2026-10-24T23:30"), utc("2026-10-25T02:30"))
    assert got == [utc("2026-10-25T00:00"), utc("2026-10-25T01:00"), utc("2026-10-25T02:00")]


def test_hourly_every_6_hours_fires_at_local_0_6_12_18() -> None:
    every6 = schedule(frequency="hourly", every_hours=6, hour=None, minute=15)
    got = fires(every6, utc("2026-11-28T00:00"), utc("2026-11-29T00:00"))
    assert [f.astimezone(BERLIN).strftime("%H:%M") for f in got] == [
        "06:15", "12:15", "18:15", "00:15"]
    assert all(b - a == timedelta(hours=6) for a, b in itertools.pairwise(got))


def test_monthly_on_the_31st_fires_on_the_last_day_of_shorter_months() -> None:
    monthly = schedule(frequency="monthly", day_of_month=31, hour=6, minute=0, timezone="UTC")
    got = fires(monthly, utc("2027-01-15T00:00"), utc("2027-05-01T00:00"))
    assert [f.date() for f in got] == [date(2027, 1, 31), date(2027, 2, 28), date(2027, 3, 31),
                                       date(2027, 4, 30)]
    leap = fires(monthly, utc("2028-02-01T00:00"), utc("2028-03-01T00:00"))
    assert [f.date() for f in leap] == [date(2028, 2, 29)]


def test_weekly_fires_on_its_weekday_in_its_timezone() -> None:
    weekly = schedule(frequency="weekly", weekday=0, hour=9, minute=0,
                      timezone="America/New_York")
    got = fires(weekly, utc("2026-10-28T00:00"), utc("2026-11-18T00:00"))
    # Mondays 09:00 New York: EDT (13:00Z) before 2026-11-01, EST (14:00Z) after.
    assert got == [utc("2026-11-02T14:00"), utc("2026-11-09T14:00"), utc("2026-11-16T14:00")]


def test_a_cron_schedule_fires_on_weekdays_only() -> None:
    cron = schedule(frequency="cron", cron="30 2 * * 1-5", timezone="UTC")
    got = fires(cron, utc("2026-11-27T00:00"), utc("2026-12-02T00:00"))
    assert got == [utc("2026-11-27T02:30"), utc("2026-11-30T02:30"), utc("2026-12-01T02:30")]


def _extract_with(session: Session, data: dict[str, Any]) -> tuple[int, int]:
    extract = make_extract(session, schedules=[data])
    session.commit()
    return extract.id, extract.schedules[0].id


def test_a_firing_schedule_queues_its_lookback_window_in_its_timezone(
        db: Database, session: Session) -> None:
    # 00:30 in Auckland (UTC+13) on 2026-11-29 is 11:30 UTC on 2026-11-28.
    extract_id, schedule_id = _extract_with(session, {
        "frequency": "daily", "hour": 0, "minute": 30, "timezone": "Pacific/Auckland",
        "lookback": 3})
    fire = utc("2026-11-28T11:30")

    assert firing.fire_schedule(db, schedule_id, fire - timedelta(seconds=1)) is None
    run_id = firing.fire_schedule(db, schedule_id, fire + timedelta(seconds=2))

    run = service.get_run(session=session, run_id=run_id)
    assert (run.trigger, run.status) == ("schedule", "queued")
    assert (run.date_from, run.date_to) == (date(2026, 11, 27), date(2026, 11, 29))
    assert service.get_extract(session=session, extract_id=extract_id).status == "syncing"


def test_a_fire_time_queues_one_run_however_often_it_is_served(
        db: Database, session: Session) -> None:
    _, schedule_id = _extract_with(session, {"frequency": "daily", "hour": 12, "minute": 0,
                                             "timezone": "Europe/Berlin"})
    fire = utc("2026-11-28T11:00")  # 12:00 Berlin
    first = firing.fire_schedule(db, schedule_id, fire)
    again = [firing.fire_schedule(db, schedule_id, fire + timedelta(seconds=s))
             for s in (0, 1, 30)]

    assert first is not None
    assert again == [None, None, None]
    assert list(session.scalars(select(Run.id).where(Run.trigger == "schedule"))) == [first]


def test_a_missed_fire_runs_once_within_the_grace_period_and_never_after_it(
        db: Database, session: Session) -> None:
    _, schedule_id = _extract_with(session, {"frequency": "hourly", "every_hours": 1,
                                             "minute": 0, "timezone": "UTC"})
    # Down from 11:59 to 14:20: only 14:00 lies within the hour of grace; no burst.
    run_id = firing.fire_schedule(db, schedule_id, utc("2026-11-28T14:20"))
    assert firing.fire_schedule(db, schedule_id, utc("2026-11-28T14:21")) is None

    runs = [(r.id, r.date_to) for r in session.scalars(select(Run).where(
        Run.trigger == "schedule"))]
    assert runs == [(run_id, date(2026, 11, 28))]
    service.cancel_run(session=session, run_id=run_id)  # else the next fire joins it
    session.commit()  # end the transaction: SQLite takes the write lock on BEGIN
    assert firing.fire_schedule(db, schedule_id, utc("2026-11-28T17:30")) is not None


def test_a_fire_joins_a_run_of_the_same_window_that_still_waits(
        db: Database, session: Session) -> None:
    _, schedule_id = _extract_with(session, {"frequency": "hourly", "every_hours": 1,
                                             "minute": 0, "timezone": "UTC"})
    first = firing.fire_schedule(db, schedule_id, utc("2026-11-28T11:00"))
    second = firing.fire_schedule(db, schedule_id, utc("2026-11-28T12:00"))

    assert first is not None
    assert second is None
    assert list(session.scalars(select(Run.id))) == [first]


def test_a_schedule_created_after_its_fire_time_waits_for_the_next_one(
        db: Database, session: Session) -> None:
    # The extract was created at NOW (10:00 UTC); its 09:00 UTC fire time was before that.
    _, schedule_id = _extract_with(session, {"frequency": "daily", "hour": 9, "minute": 0,
                                             "timezone": "UTC"})
    assert firing.fire_schedule(db, schedule_id, NOW + timedelta(minutes=5)) is None
    assert firing.fire_schedule(db, schedule_id, utc("2026-11-29T09:00")) is not None


def test_a_paused_extracts_schedules_do_not_fire(db: Database, session: Session) -> None:
    extract_id, schedule_id = _extract_with(session, {"frequency": "hourly", "every_hours": 1,
                                                      "minute": 0, "timezone": "UTC"})
    service.pause_extract(session=session, extract_id=extract_id, now=utc("2026-11-28T10:20"))
    session.commit()
    idle = worker.Worker(db, worker_id="w-test", fire_schedules=True)
    idle.sync_schedules(utc("2026-11-28T10:30"))

    assert firing.fire_schedule(db, schedule_id, utc("2026-11-28T11:00")) is None
    assert idle.job_ids() == []
    assert session.scalar(select(Run.id)) is None
    service.unpause_extract(session=session, extract_id=extract_id,
                            now=utc("2026-11-28T11:20"))
    session.commit()
    # The 11:00 fire happened while paused: resuming does not run it late.
    assert firing.fire_schedule(db, schedule_id, utc("2026-11-28T11:30")) is None
    assert firing.fire_schedule(db, schedule_id, utc("2026-11-28T12:00")) is not None


def test_schedule_jobs_follow_creates_edits_pauses_and_deletes(
        db: Database, session: Session) -> None:
    w = worker.Worker(db, worker_id="w-test")
    w.scheduler.start(paused=True)  # computes next run times, never runs a job
    now = NOW + timedelta(minutes=1)
    first = make_extract(session, schedules=[{"frequency": "daily", "hour": 6}])
    second = make_extract(session, schedules=[{"frequency": "hourly", "every_hours": 6},
                                              {"frequency": "daily", "hour": 23}])
    session.commit()

    assert w.sync_schedules(now)
    assert w.job_ids() == sorted(f"schedule:{s.id}" for s in [*first.schedules,
                                                                *second.schedules])
    assert not w.sync_schedules(now)  # nothing changed: the fingerprint says so cheaply
    next_runs = w.next_fire_times()
    assert next_runs[f"schedule:{first.schedules[0].id}"] == utc("2026-11-29T06:00")

    edited = service.patch_extract(session=session, extract_id=first.id, data={
        "schedules": [{"frequency": "daily", "hour": 7, "timezone": "Europe/Berlin"}]},
        now=now)
    service.pause_extract(session=session, extract_id=second.id, now=now)
    session.commit()
    assert w.sync_schedules(now + timedelta(seconds=2))
    assert w.job_ids() == [f"schedule:{edited.schedules[0].id}"]
    assert w.next_fire_times()[f"schedule:{edited.schedules[0].id}"] == utc(
        "2026-11-29T06:00")

    service.delete_extract(session=session, extract_id=first.id)
    session.commit()
    assert w.sync_schedules(now + timedelta(seconds=4))
    assert w.job_ids() == []
    assert w.scheduler.get_jobs() == []
    w.scheduler.shutdown(wait=False)


@pytest.mark.parametrize("hours", [1, 2, 3, 4, 6, 8, 12])
def test_hourly_schedules_fire_every_n_hours(hours: int) -> None:
    data = schedule(frequency="hourly", every_hours=hours, hour=None, minute=0,
                    timezone="UTC")
    got = fires(data, utc("2026-11-28T00:00"), utc("2026-11-29T00:00"))
    assert len(got) == 24 // hours
