"""The Extract page's recovery buttons, failing since, schedules with their next fire times,
and latest rows in the chosen timezone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from core import runner, service
from core.db import Database
from core.models import Run
from dashboard import navigation
from tests.dashboard.conftest import open_page, texts
from tests.dashboard.states import seed_every_state


def statuses(db: Database, extract_id: int) -> list[tuple[str, str]]:
    with db.session() as s:
        return [(r.trigger, r.status) for r in s.scalars(
            select(Run).where(Run.extract_id == extract_id).order_by(Run.id))]


def test_cancel_backfill_stops_every_chunk_and_the_running_one(app_db: Database) -> None:
    states = seed_every_state(app_db)
    with app_db.session() as s:
        chunks = list(s.scalars(select(Run).where(Run.extract_id == states.syncing)
                                .order_by(Run.id)))
        chunks[-1].status = "running"  # the oldest chunk: beyond the ten newest runs
        chunks[-1].started_at = datetime.now(UTC)
        running = chunks[-1].id
    at = open_page(navigation.EXTRACT, extract_id=states.syncing, app_timezone="UTC")
    assert f"extract_cancel_{running}" in [b.key for b in at.button]  # reachable

    at.button(key="extract_cancel_backfill").click().run()

    assert not at.exception
    assert f"Cancelled the backfill ({len(chunks)} run(s))." in texts(at)
    with app_db.session() as s:
        runs = list(s.scalars(select(Run).where(Run.extract_id == states.syncing)
                              .order_by(Run.id)))
        assert {r.status for r in runs[:-1]} == {"cancelled"}
        assert runs[-1].status == "running" and runs[-1].cancel_requested
    assert "extract_cancel_backfill" in [b.key for b in at.button]  # the running one is left


def test_cancel_all_queued_and_retry_failed_windows(app_db: Database) -> None:
    states = seed_every_state(app_db)
    at = open_page(navigation.EXTRACT, extract_id=states.only_failed, app_timezone="UTC")
    assert "Failing since " in texts(at) and "3 run(s) in a row failed" in texts(at)
    assert "extract_cancel_queued" not in [b.key for b in at.button]

    at.button(key="extract_retry_failed").click().run()

    assert not at.exception
    assert "Queued 1 retry run(s) for the failed windows." in texts(at)
    assert statuses(app_db, states.only_failed)[3:] == [("retry", "queued")]
    assert "extract_retry_failed" not in [b.key for b in at.button]  # all being retried

    at.button(key="extract_cancel_queued").click().run()
    assert "Cancelled 1 queued run(s)." in texts(at)
    assert statuses(app_db, states.only_failed)[3:] == [("retry", "cancelled")]


def test_schedules_with_next_fire_times_and_rows_in_the_chosen_timezone(
        app_db: Database) -> None:
    states = seed_every_state(app_db)
    with app_db.session() as s:
        service.patch_extract(session=s, extract_id=states.succeeded, data={"schedules": [
            {"frequency": "daily", "hour": 6, "minute": 30, "timezone": "Europe/Berlin"}]})
    at = open_page(navigation.EXTRACT, extract_id=states.succeeded,
                   app_timezone="Asia/Tokyo")

    schedules = at.get_by_key(f"extract_{states.succeeded}_schedules").dataframe[0].value
    assert list(schedules["schedule"]) == ["Daily at 06:30 Berlin"]
    now = datetime.now(UTC)
    with app_db.session() as s:
        fire = service.get_extract(session=s, extract_id=states.succeeded).next_run_at
    assert fire is not None and fire > now
    tokyo = fire.astimezone(ZoneInfo("Asia/Tokyo"))
    assert schedules["next run"].iloc[0].startswith(tokyo.strftime("%Y-%m-%d %H:%M"))

    rows = next(d.value for d in at.dataframe if "__insert_date" in d.value.columns)
    inserted = datetime.strptime(rows["__insert_date"][0], "%Y-%m-%d %H:%M:%S")
    # Written a moment ago in UTC, shown in Tokyo (UTC+9).
    assert abs(inserted - now.astimezone(tokyo.tzinfo).replace(tzinfo=None)) < timedelta(
        minutes=10)
    assert "None" not in rows.astype(str).to_numpy().tolist()


def test_the_header_follows_a_run_that_finished(app_db: Database) -> None:
    states = seed_every_state(app_db)
    with app_db.session() as s:
        [run] = service.run_extract(session=s, extract_id=states.never_run)
    at = open_page(navigation.EXTRACT, extract_id=states.never_run, app_timezone="UTC")
    assert at.metric[0].value == "never"
    runner.execute_run(db=app_db, run_id=run.id)

    at.run()

    assert at.metric[0].value == "just now"
    assert "No rows yet" not in texts(at)
