"""The run queue, its executor, retries, auto-pause, timeouts, recovery and the lease."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core import service, worker
from core.clock import utcnow
from core.connectors import registry
from core.connectors.base import Chunk, FetchRequest, FetchResult, SourceError, TransientError
from core.connectors.sample_ads import SampleAds
from core.db import Database
from core.models import Connection, Run
from core.services.runs import queue_runs
from core.worker import executors, firing, lease, recovery, run_queue
from tests.conftest import NOW, make_extract

T0 = NOW + timedelta(hours=1)


def clock_at(moment: datetime) -> Any:
    return lambda: moment


def set_connection_cap(db: Database, connection_id: int, cap: int) -> None:
    with db.session() as s:
        s.execute(update(Connection).where(Connection.id == connection_id)
                  .values(max_concurrent_runs=cap))


def queue(db: Database, extract_id: int, trigger: str, *, at: datetime = NOW) -> int:
    """Queue one run of an extract with a given trigger; return its id."""
    from core.models import Extract

    with db.session() as s:
        extract = s.get(Extract, extract_id)
        assert extract is not None
        [run] = queue_runs(s, extract, trigger, [(date(2026, 11, 27), date(2026, 11, 28))], at)
        s.flush()
        return run.id


def run_row(db: Database, run_id: int) -> dict[str, Any]:
    with db.session() as s:
        run = s.get(Run, run_id)
        assert run is not None
        return {"status": run.status, "attempts": run.attempts, "error": run.error,
                "log": list(run.log), "trigger": run.trigger, "queued_at": run.queued_at,
                "worker_id": run.worker_id, "extract_id": run.extract_id}


def extracts(session: Session, n: int) -> list[int]:
    ids = [make_extract(session, accounts=[1 + i % 3]).id for i in range(n)]
    session.commit()
    return ids


# ----------------------------------------------------------------------------- claiming


def test_claims_go_by_priority_then_age(db: Database, session: Session) -> None:
    ids = extracts(session, 4)
    set_connection_cap(db, 1, 10)
    backfill = queue(db, ids[0], "backfill")
    schedule = queue(db, ids[1], "schedule")
    manual = queue(db, ids[2], "manual")
    retry = queue(db, ids[3], "retry")

    claimed = [run_queue.claim_next(db, "w1", T0, max_workers=10) for _ in range(5)]

    assert claimed == [manual, retry, schedule, backfill, None]
    row = run_row(db, manual)
    assert (row["status"], row["worker_id"], row["attempts"]) == ("running", "w1", 1)


def test_one_run_per_extract_and_the_connection_cap(db: Database, session: Session) -> None:
    ids = extracts(session, 3)  # all on the demo connection, whose cap is 2
    first = queue(db, ids[0], "manual")
    second_of_first = queue(db, ids[0], "manual")
    other = queue(db, ids[1], "manual")
    third = queue(db, ids[2], "manual")

    assert run_queue.claim_next(db, "w1", T0) == first
    assert run_queue.claim_next(db, "w2", T0) == other  # not the first extract's second run
    assert run_queue.claim_next(db, "w3", T0) is None  # the connection has 2 running
    set_connection_cap(db, 1, 3)
    assert run_queue.claim_next(db, "w3", T0) == third
    assert run_queue.claim_next(db, "w3", T0) is None
    assert run_row(db, second_of_first)["status"] == "queued"


def test_a_worker_runs_at_most_max_workers_at_once(db: Database, session: Session) -> None:
    ids = extracts(session, 3)
    set_connection_cap(db, 1, 10)
    for extract_id in ids:
        queue(db, extract_id, "manual")

    assert run_queue.claim_next(db, "w1", T0, max_workers=2) is not None
    assert run_queue.claim_next(db, "w1", T0, max_workers=2) is not None
    assert run_queue.claim_next(db, "w1", T0, max_workers=2) is None
    assert run_queue.claim_next(db, "w2", T0, max_workers=2) is not None


def test_a_run_queued_for_later_waits(db: Database, session: Session) -> None:
    [extract_id] = extracts(session, 1)
    later = queue(db, extract_id, "manual", at=T0 + timedelta(seconds=30))

    assert run_queue.claim_next(db, "w1", T0) is None
    assert run_queue.claim_next(db, "w1", T0 + timedelta(seconds=30)) == later


# ----------------------------------------------------------------------------- concurrency


class Counting(SampleAds):
    """Sample Ads that records how many fetches run at once, overall and per connection."""

    name = "counting"
    title = "Counting"

    FULL = 4  # the worker's slots in the test that uses it
    FILL_SECONDS = 60.0

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now: Counter[Any] = Counter()
        self.peak: Counter[Any] = Counter()
        # Set once FULL fetches run at once. Until then each fetch waits for it: whether the
        # worker fills its slots is seen however slow the machine is (a fixed pause per
        # fetch was not enough under load), and a worker that never does fails the test.
        self.full = threading.Event()

    def fetch(self, request: FetchRequest) -> FetchResult:
        return FetchResult(chunks=self._counted(request))

    def _counted(self, request: FetchRequest) -> Iterator[Chunk]:
        # Each extract of the test has its own filter value, so filters name the extract.
        keys = ("all", request.connection.id, request.filters)
        with self.lock:
            for key in keys:
                self.now[key] += 1
                self.peak[key] = max(self.peak[key], self.now[key])
            if self.now["all"] >= self.FULL:
                self.full.set()
        try:
            self.full.wait(self.FILL_SECONDS)
            time.sleep(0.05)
            yield from super().fetch(request).chunks
        finally:
            with self.lock:
                for key in keys:
                    self.now[key] -= 1


@pytest.fixture
def counting() -> Iterator[Counting]:
    connector = Counting()
    registry.register(connector)
    yield connector
    registry._CONNECTORS.pop("counting", None)


def wait_until_idle(db: Database, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with db.session() as s:
            if s.scalar(select(Run.id).where(Run.status.in_(("queued", "running")))
                        .limit(1)) is None:
                return
        time.sleep(0.05)
    raise AssertionError("runs still queued or running")


def test_fifty_extracts_at_once_stay_within_every_cap(
        db: Database, session: Session, counting: Counting) -> None:
    connections = [service.create_connection(session=session, data={
        "datasource": "counting", "title": f"Counting {i}", "max_concurrent_runs": 2})
        for i in range(3)]
    template = next(t for t in service.list_templates(session=session, datasource="counting")
                    if t.name == "campaign_performance")
    made = []
    for i in range(50):
        account = connections[i % 3].accounts[i % 3]
        made.append(make_extract(
            session, accounts=[account.id], template_id=template.id,
            data_table_title="Counting stats", template_settings={
                "fields": ["date", "campaign_id", "clicks", "spend"],
                "filters": [{"field": "clicks", "operator": "gte", "value": -1 - i}]}))
    for extract in made:  # two windows each: the extract's runs must take turns
        service.run_extract(session=session, extract_id=extract.id,
                            date_from=date(2026, 11, 25), date_to=date(2026, 11, 26), now=NOW)
        service.run_extract(session=session, extract_id=extract.id,
                            date_from=date(2026, 11, 27), date_to=date(2026, 11, 28), now=NOW)
    session.commit()
    db.settings = db.settings.with_overrides(max_workers=4)

    w = worker.Worker(db, fire_schedules=False).start()
    try:
        wait_until_idle(db)
    finally:
        w.stop()

    assert counting.peak["all"] == 4
    per_connection = [counting.peak[c.id] for c in connections]
    assert max(per_connection) == 2 and all(peak <= 2 for peak in per_connection)
    per_extract = [v for k, v in counting.peak.items() if isinstance(k, tuple)]
    assert len(per_extract) == 50 and set(per_extract) == {1}  # never two runs of one extract
    runs = list(session.scalars(select(Run).order_by(Run.id)))
    assert {r.status for r in runs} == {"succeeded"}, [r.error for r in runs if r.error]
    assert len(runs) == 100 and all(r.rows == 2 * 20 for r in runs)
    table = service.get_data_table(session=session, data_table_id=made[0].data_table_id)
    rows = db.warehouse.read_rows(table.table_name, limit=100_000)
    assert len(rows) == 50 * 4 * 20
    assert not rows.duplicated(["__extract_id", "date", "campaign_id"]).any()
    statuses = {e.status for e in service.list_extracts(session=session, page_size=100).items}
    assert statuses == {"active"}


# ----------------------------------------------------------------------------- retries


class Scripted(SampleAds):
    """Fails as scripted, one outcome per fetch: "transient", "permanent" or "ok"."""

    name = "scripted"
    title = "Scripted"

    def __init__(self, outcomes: list[str]) -> None:
        self.outcomes = outcomes

    def fetch(self, request: FetchRequest) -> FetchResult:
        outcome = self.outcomes.pop(0)
        if outcome == "transient":
            raise TransientError("HTTP 503 from the source")
        if outcome == "permanent":
            raise SourceError("the access token was revoked; reconnect the account")
        return super().fetch(request)


def scripted_extract(session: Session, outcomes: list[str]) -> int:
    registry.register(Scripted(outcomes))
    connection = service.create_connection(session=session, data={
        "datasource": "scripted", "title": "Scripted"})
    template = next(t for t in service.list_templates(session=session, datasource="scripted")
                    if t.name == "campaign_performance")
    extract = make_extract(session, accounts=[connection.accounts[0].id],
                           template_id=template.id, data_table_title="Scripted stats")
    session.commit()
    return extract.id


def attempt(db: Database, now: datetime) -> str | None:
    run_id = run_queue.claim_next(db, "w1", now)
    if run_id is None:
        return None
    return executors.carry_out(db, run_id, "w1", clock_at(now))


def test_transient_failures_are_retried_with_backoff_then_fail(
        db: Database, session: Session) -> None:
    db.settings = db.settings.with_overrides(retry_attempts=3, retry_base_delay=10)
    try:
        extract_id = scripted_extract(session, ["transient"] * 3 + ["transient", "ok"])
        [run] = service.run_extract(session=session, extract_id=extract_id, now=NOW)
        session.commit()

        assert attempt(db, T0) == "queued"  # attempt 1 failed; again in 10 s
        assert run_row(db, run.id)["queued_at"] == T0 + timedelta(seconds=10)
        assert service.get_extract(session=session, extract_id=extract_id).status == "syncing"
        session.commit()
        assert attempt(db, T0 + timedelta(seconds=9)) is None
        assert attempt(db, T0 + timedelta(seconds=10)) == "queued"  # then wait 20 s
        assert attempt(db, T0 + timedelta(seconds=29)) is None
        assert attempt(db, T0 + timedelta(seconds=30)) == "failed"  # 3 attempts spent

        row = run_row(db, run.id)
        assert row["attempts"] == 3
        errors = [line["message"] for line in row["log"] if line["level"] == "error"]
        assert errors == ["temporary source error: HTTP 503 from the source"] * 3
        extract = service.get_extract(session=session, extract_id=extract_id)
        assert extract.status == "error"
        assert extract.error_text == "temporary source error: HTTP 503 from the source"
        session.commit()

        # A later run that recovers on its second attempt clears the error.
        [again] = service.run_extract(session=session, extract_id=extract_id, now=NOW)
        session.commit()
        assert attempt(db, T0 + timedelta(minutes=5)) == "queued"
        assert attempt(db, T0 + timedelta(minutes=6)) == "succeeded"
        assert run_row(db, again.id)["attempts"] == 2
        extract = service.get_extract(session=session, extract_id=extract_id)
        assert (extract.status, extract.error_text) == ("active", None)
    finally:
        registry._CONNECTORS.pop("scripted", None)


def test_consecutive_failed_runs_pause_the_extract_and_say_why(
        db: Database, session: Session) -> None:
    db.settings = db.settings.with_overrides(retry_attempts=2, retry_base_delay=1,
                                             auto_pause_after=3)
    try:
        extract_id = scripted_extract(session, ["transient", "transient"] + ["permanent"] * 2)
        now = T0
        outcomes = []
        for _ in range(3):
            service.run_extract(session=session, extract_id=extract_id, now=NOW)
            session.commit()
            while (status := attempt(db, now)) in ("queued", None):
                now += timedelta(seconds=1)
            outcomes.append(status)
            paused = service.get_extract(session=session, extract_id=extract_id)
            session.commit()
            if len(outcomes) < 3:
                assert paused.status == "error"

        assert outcomes == ["failed", "failed", "failed"]
        assert paused.status == "paused"
        assert paused.error_text is not None
        assert paused.error_text.startswith("paused after 3 consecutive failed runs")
        assert "the access token was revoked" in paused.error_text
        runs = service.list_runs(session=session, extract_id=extract_id)
        assert [r.attempts for r in runs] == [1, 1, 2]  # a SourceError is not retried
    finally:
        registry._CONNECTORS.pop("scripted", None)


def test_a_failed_manual_run_on_a_paused_extract_keeps_the_pause_reason(
        db: Database, session: Session) -> None:
    db.settings = db.settings.with_overrides(auto_pause_after=2)
    try:
        extract_id = scripted_extract(session, ["permanent"] * 3 + ["ok"])
        now = T0
        for _ in range(2):
            service.run_extract(session=session, extract_id=extract_id, now=NOW)
            session.commit()
            assert attempt(db, now) == "failed"
            now += timedelta(seconds=1)
        reason = service.get_extract(session=session, extract_id=extract_id).error_text
        session.commit()
        assert reason is not None and reason.startswith("paused after 2 consecutive")

        [manual] = service.run_extract(session=session, extract_id=extract_id, now=NOW)
        session.commit()
        assert attempt(db, now) == "failed"
        extract = service.get_extract(session=session, extract_id=extract_id)
        assert (extract.status, extract.error_text) == ("paused", reason)
        failed = service.get_run(session=session, run_id=manual.id)
        assert failed.status == "failed" and "access token was revoked" in (failed.error or "")
        session.commit()

        service.run_extract(session=session, extract_id=extract_id, now=NOW)
        session.commit()
        assert attempt(db, now + timedelta(seconds=1)) == "succeeded"
        extract = service.get_extract(session=session, extract_id=extract_id)
        assert (extract.status, extract.error_text) == ("paused", reason)
    finally:
        registry._CONNECTORS.pop("scripted", None)


def test_a_run_past_run_timeout_is_cancelled_as_timed_out(
        db: Database, session: Session) -> None:
    db.settings = db.settings.with_overrides(run_timeout=60)
    [extract_id] = extracts(session, 1)
    run_id = queue(db, extract_id, "manual")
    assert run_queue.claim_next(db, "w1", T0) == run_id

    assert run_queue.time_out_runs(db, "w1", T0 + timedelta(seconds=59)) == []
    assert run_queue.time_out_runs(db, "w1", T0 + timedelta(seconds=61)) == [run_id]
    status = executors.carry_out(db, run_id, "w1", clock_at(T0 + timedelta(seconds=61)))

    row = run_row(db, run_id)
    assert status == "cancelled"
    assert row["error"] == ("cancelled: timed out after 60 s (RUN_TIMEOUT); the window's data "
                            "was left as it was")
    assert service.preview_rows(session=session, extract_id=extract_id).empty


# ----------------------------------------------------------------------------- recovery


def test_a_run_whose_worker_died_is_failed_and_retried(db: Database, session: Session) -> None:
    [extract_id] = extracts(session, 1)
    run_id = queue(db, extract_id, "schedule")
    assert run_queue.claim_next(db, "dead-worker", T0) == run_id

    assert recovery.recover_stale_runs(db, T0 + timedelta(seconds=59)) == []
    run_queue.heartbeat(db, "dead-worker", [run_id], T0 + timedelta(seconds=50))
    assert recovery.recover_stale_runs(db, T0 + timedelta(seconds=100)) == []
    assert recovery.recover_stale_runs(db, T0 + timedelta(seconds=111)) == [run_id]
    assert recovery.recover_stale_runs(db, T0 + timedelta(seconds=112)) == []

    dead = run_row(db, run_id)
    assert (dead["status"], dead["error"]) == ("failed", "worker stopped during the run")
    retry_id = run_queue.claim_next(db, "w2", T0 + timedelta(seconds=112))
    assert retry_id is not None and retry_id != run_id
    retry = run_row(db, retry_id)
    assert (retry["trigger"], retry["attempts"]) == ("retry", 2)
    assert executors.carry_out(db, retry_id, "w2") == "succeeded"
    extract = service.get_extract(session=session, extract_id=extract_id)
    assert (extract.status, extract.error_text) == ("active", None)
    assert len(service.preview_rows(session=session, extract_id=extract_id, limit=1000)) == 40


def test_a_dead_workers_run_without_attempts_left_stays_failed(
        db: Database, session: Session) -> None:
    db.settings = db.settings.with_overrides(retry_attempts=1)
    [extract_id] = extracts(session, 1)
    run_id = queue(db, extract_id, "manual")
    run_queue.claim_next(db, "dead-worker", T0)

    assert recovery.recover_stale_runs(db, T0 + timedelta(minutes=2)) == [run_id]
    assert run_queue.claim_next(db, "w2", T0 + timedelta(minutes=2)) is None
    extract = service.get_extract(session=session, extract_id=extract_id)
    assert (extract.status, extract.error_text) == ("error", "worker stopped during the run")


def test_stopping_releases_runs_that_did_not_finish(db: Database, session: Session) -> None:
    [extract_id] = extracts(session, 1)
    run_id = queue(db, extract_id, "manual")
    run_queue.claim_next(db, "w1", T0)

    assert run_queue.release_runs(db, "w1", [run_id], T0) == [run_id]
    row = run_row(db, run_id)
    assert (row["status"], row["worker_id"], row["attempts"]) == ("queued", None, 0)
    assert run_queue.claim_next(db, "w2", T0) == run_id


# ----------------------------------------------------------------------------- lease


def test_one_holder_of_the_lease_at_a_time_and_takeover_after_expiry(db: Database) -> None:
    assert lease.acquire(db, "scheduler", "a", T0)
    assert not lease.acquire(db, "scheduler", "b", T0 + timedelta(seconds=10))
    assert lease.acquire(db, "scheduler", "a", T0 + timedelta(seconds=10))  # renewed
    assert not lease.acquire(db, "scheduler", "b", T0 + timedelta(seconds=34))
    assert lease.acquire(db, "scheduler", "b", T0 + timedelta(seconds=35))  # expired
    assert not lease.acquire(db, "scheduler", "a", T0 + timedelta(seconds=36))
    lease.release(db, "scheduler", "b")
    assert lease.acquire(db, "scheduler", "a", T0 + timedelta(seconds=37))


def test_a_holder_stops_acting_on_its_lease_when_the_hold_runs_out(db: Database) -> None:
    keeper = lease.Keeper(db, "scheduler", "a")
    assert keeper.renew(T0)

    # Whether or not its thread got to renew meanwhile, the hold is over after the TTL...
    assert keeper.holds(T0 + timedelta(seconds=24))
    assert not keeper.holds(T0 + timedelta(seconds=25))
    # ...which is when another process may take the lease over.
    assert lease.acquire(db, "scheduler", "b", T0 + timedelta(seconds=25))


def test_a_yes_that_comes_after_the_ttl_holds_nothing(db: Database) -> None:
    moments = iter([T0, T0 + timedelta(seconds=26)])  # asked at T0; the answer came 26 s later
    keeper = lease.Keeper(db, "scheduler", "a", clock=lambda: next(moments))

    keeper.keep_once()

    assert not keeper.holds(T0)
    assert lease.acquire(db, "scheduler", "b", T0 + timedelta(seconds=26))


def test_only_the_current_holder_of_the_lease_fires_schedules(
        db: Database, session: Session) -> None:
    extract = make_extract(session, schedules=[{"frequency": "hourly", "every_hours": 1,
                                                "minute": 0, "timezone": "UTC"}])
    session.commit()
    [schedule_id] = [s.id for s in extract.schedules]
    assert lease.acquire(db, "scheduler", "a", T0 - timedelta(seconds=30))
    assert lease.acquire(db, "scheduler", "b", T0)  # a's lease ran out; b took over

    late = firing.fire_schedules(db, [schedule_id], T0, lease_holder="a")
    current = firing.fire_schedules(db, [schedule_id], T0, lease_holder="b")

    assert late == {schedule_id: None}
    run_id = current[schedule_id]
    assert run_id is not None and run_row(db, run_id)["trigger"] == "schedule"


def test_a_worker_whose_hold_ran_out_catches_up_the_fire_it_dropped_when_it_holds_again(
        db: Database, session: Session) -> None:
    extract = make_extract(session, schedules=[{"frequency": "hourly", "every_hours": 1,
                                                "minute": 0, "timezone": "UTC"}])
    session.commit()
    job = f"schedule:{extract.schedules[0].id}"
    w = worker.Worker(db, worker_id="w")
    w.scheduler.start(paused=True)  # computes next run times, never runs a job
    try:
        assert w.renew_lease(T0 - timedelta(minutes=10))
        assert w.next_fire_times()[job] == T0
        # At T0 the job fires while the hold has run out (say its thread was starved): the
        # hand-over is dropped, and APScheduler moves on to the next hour.
        w.scheduler.modify_job(job, next_run_time=T0 + timedelta(hours=1))

        assert w.renew_lease(T0 + timedelta(seconds=30))  # a new hold, not the old one

        assert w.next_fire_times()[job] == T0 + timedelta(seconds=30)  # T0's fire, at once
    finally:
        w.scheduler.shutdown(wait=False)


def test_a_dead_holder_is_replaced_within_30_seconds() -> None:
    assert timedelta(seconds=30) >= lease.TTL + lease.POLL_EVERY
    assert lease.RENEW_EVERY * 3 <= lease.TTL  # two missed renewals are fine


def test_only_the_lease_holder_keeps_schedule_jobs(db: Database, session: Session) -> None:
    make_extract(session)
    session.commit()
    first = worker.Worker(db, worker_id="first")
    second = worker.Worker(db, worker_id="second")

    assert first.renew_lease(T0)
    assert not second.renew_lease(T0 + timedelta(seconds=1))
    assert (first.is_leader, second.is_leader) == (True, False)
    assert len(first.job_ids()) == 1 and second.job_ids() == []
    # The first stops renewing; 25 s later the second takes over and the first lets go.
    assert not second.renew_lease(T0 + timedelta(seconds=24))
    assert second.renew_lease(T0 + timedelta(seconds=26))
    assert not first.renew_lease(T0 + timedelta(seconds=27))
    assert (first.is_leader, second.is_leader) == (False, True)
    assert first.job_ids() == [] and len(second.job_ids()) == 1


def test_start_embedded_starts_one_worker_per_process(db: Database) -> None:
    try:
        workers = []
        threads = [threading.Thread(target=lambda: workers.append(worker.start_embedded(db)))
                   for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(workers) == 8 and workers[0] is not None
        assert all(w is workers[0] for w in workers)
        workers[0].stop()  # stopped by its owner (the API's shutdown): the next call restarts
        again = worker.start_embedded(db)
        assert again is not None and again is not workers[0] and not again.stopped
    finally:
        worker.stop_embedded()
    db.settings = db.settings.with_overrides(embedded_worker=False)
    assert worker.start_embedded(db) is None


# ----------------------------------------------------------------------------- the loop


class Blocking(SampleAds):
    """Sample Ads whose fetch waits until the test lets it go."""

    name = "blocking"
    title = "Blocking"

    def __init__(self) -> None:
        self.go = threading.Event()

    def fetch(self, request: FetchRequest) -> FetchResult:
        self.go.wait(10)
        return super().fetch(request)


def test_a_running_worker_fires_schedules_and_follows_changes_within_5_s(
        db: Database, session: Session) -> None:
    fire = utcnow() - timedelta(minutes=10)  # missed, within the grace period
    first = make_extract(session, schedules=[{"frequency": "daily", "hour": fire.hour,
                                              "minute": fire.minute}])
    session.commit()
    w = worker.Worker(db).start()
    try:
        def schedule_runs() -> list[tuple[str, str]]:
            with db.session() as s:
                return [(r.trigger, r.status) for r in s.scalars(
                    select(Run).where(Run.extract_id == first.id))]

        deadline = time.monotonic() + 10
        while schedule_runs() != [("schedule", "succeeded")] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert schedule_runs() == [("schedule", "succeeded")]

        second = make_extract(session, schedules=[{"frequency": "hourly", "every_hours": 2}])
        session.commit()
        added = time.monotonic()
        while f"schedule:{second.schedules[0].id}" not in w.job_ids():
            assert time.monotonic() - added < 5, "a new schedule took over 5 s to reach the worker"
            time.sleep(0.05)
    finally:
        w.stop()
    assert schedule_runs() == [("schedule", "succeeded")]  # fired once, not again


def test_stop_puts_back_runs_that_do_not_finish_in_time(db: Database, session: Session) -> None:
    blocking = Blocking()
    registry.register(blocking)
    try:
        connection = service.create_connection(session=session, data={
            "datasource": "blocking", "title": "Blocking"})
        template = next(t for t in service.list_templates(session=session,
                                                          datasource="blocking")
                        if t.name == "campaign_performance")
        extract = make_extract(session, accounts=[connection.accounts[0].id],
                               template_id=template.id, data_table_title="Blocking stats")
        [run] = service.run_extract(session=session, extract_id=extract.id, now=NOW)
        session.commit()
        w = worker.Worker(db, fire_schedules=False).start()
        deadline = time.monotonic() + 10
        while run_row(db, run.id)["status"] != "running" and time.monotonic() < deadline:
            time.sleep(0.02)

        released = w.stop(grace=0.2, stop_wait=0.2)
        blocking.go.set()  # the abandoned thread finishes late; its outcome must not count
        time.sleep(0.3)

        assert released == [run.id]
        row = run_row(db, run.id)
        assert (row["status"], row["attempts"], row["worker_id"]) == ("queued", 0, None)
    finally:
        blocking.go.set()
        registry._CONNECTORS.pop("blocking", None)
