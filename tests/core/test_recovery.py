"""Recovery: cancel a whole backfill or everything queued, retry exactly the windows whose last
run failed, and the count of failures in a row since the last success."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import service
from core.models import Run
from tests.conftest import NOW, make_extract

pytestmark = pytest.mark.both_databases


def add_run(session: Session, extract_id: int, status: str, start: date | None,
            end: date | None, minutes: int, trigger: str = "schedule") -> Run:
    finished = NOW + timedelta(minutes=minutes)
    run = Run(extract_id=extract_id, status=status, trigger=trigger, priority=2,
              date_from=start, date_to=end, queued_at=finished,
              finished_at=None if status in ("queued", "running") else finished,
              started_at=None if status == "queued" else finished, log=[])
    session.add(run)
    session.flush()
    return run


def statuses(session: Session, extract_id: int) -> list[tuple[str, str]]:
    return [(r.trigger, r.status) for r in session.scalars(
        select(Run).where(Run.extract_id == extract_id).order_by(Run.id))]


def test_cancel_backfill_stops_every_chunk_and_leaves_other_runs(session: Session) -> None:
    extract = make_extract(session, sync_historical_data=str(NOW.date() - timedelta(days=120)))
    chunks = [r for r in session.scalars(select(Run).where(Run.extract_id == extract.id))]
    assert len(chunks) > 2 and {r.trigger for r in chunks} == {"backfill"}
    chunks[0].status = "running"
    manual = add_run(session, extract.id, "queued", NOW.date(), NOW.date(), 1, "manual")

    cancelled = service.cancel_backfill(session=session, extract_id=extract.id, now=NOW)

    assert cancelled == len(chunks)
    session.expire_all()
    assert chunks[0].cancel_requested and chunks[0].status == "running"
    assert {r.status for r in chunks[1:]} == {"cancelled"}
    assert manual.status == "queued"
    assert service.cancel_backfill(session=session, extract_id=extract.id, now=NOW) == 1


def test_cancel_queued_leaves_the_running_run(session: Session) -> None:
    extract = make_extract(session)
    running = add_run(session, extract.id, "running", NOW.date(), NOW.date(), 0)
    for minutes in (1, 2, 3):
        add_run(session, extract.id, "queued", NOW.date(), NOW.date(), minutes, "manual")

    assert service.cancel_queued(session=session, extract_id=extract.id, now=NOW) == 3

    session.expire_all()
    assert running.status == "running" and not running.cancel_requested
    assert [s for _, s in statuses(session, extract.id)] == [
        "running", "cancelled", "cancelled", "cancelled"]
    assert service.get_extract(session=session, extract_id=extract.id).status == "syncing"


def test_retry_queues_exactly_the_dates_whose_last_run_failed(session: Session) -> None:
    extract = make_extract(session)
    day = date(2026, 11, 1)
    add_run(session, extract.id, "failed", day, day + timedelta(days=6), 0)  # 1-7 failed
    add_run(session, extract.id, "succeeded", day + timedelta(days=2),
            day + timedelta(days=3), 1)  # 3-4 fixed since
    add_run(session, extract.id, "failed", day + timedelta(days=20),
            day + timedelta(days=20), 2)  # 21 failed
    add_run(session, extract.id, "succeeded", day + timedelta(days=20),
            day + timedelta(days=20), -5)  # an older success of 21 does not count
    add_run(session, extract.id, "cancelled", day + timedelta(days=10),
            day + timedelta(days=10), 3)  # a cancelled run is no failure
    add_run(session, extract.id, "queued", day + timedelta(days=6),
            day + timedelta(days=6), 4)  # 7 is being loaded again already

    runs = service.retry_failed_windows(session=session, extract_id=extract.id, now=NOW)

    assert [(r.trigger, r.date_from, r.date_to) for r in runs] == [
        ("retry", day + timedelta(days=20), day + timedelta(days=20)),
        ("retry", day + timedelta(days=4), day + timedelta(days=5)),
        ("retry", day, day + timedelta(days=1))]
    assert service.failed_windows(session=session, extract_id=extract.id) == []
    assert service.retry_failed_windows(session=session, extract_id=extract.id, now=NOW) == []


def test_failing_since_counts_failures_after_the_last_success(session: Session) -> None:
    never, recovered, failing = (make_extract(session, accounts=[a]).id for a in (1, 2, 3))
    add_run(session, recovered, "failed", None, None, 0)
    add_run(session, recovered, "succeeded", None, None, 1)
    add_run(session, failing, "succeeded", None, None, 0)
    for minutes in (5, 6, 7):
        add_run(session, failing, "failed", None, None, minutes)
    add_run(session, failing, "cancelled", None, None, 8)

    found = service.failing_since(session=session, extract_ids=[never, recovered, failing])

    assert found == {failing: service.Failing(3, NOW + timedelta(minutes=5))}
    assert isinstance(found[failing].since, datetime) and found[failing].since.tzinfo


def test_recent_statuses_are_the_last_runs_oldest_first(session: Session) -> None:
    first, second = (make_extract(session, accounts=[a]).id for a in (1, 2))
    for minutes, status in enumerate(["failed", "succeeded", "failed", "queued"]):
        add_run(session, first, status, None, None, minutes)

    found = service.recent_statuses(session=session, extract_ids=[first, second], limit=3)

    assert found == {first: ["succeeded", "failed", "queued"]}
