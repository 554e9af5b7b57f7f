"""The product on PostgreSQL: metadata and warehouse both on the real server.

Each test gets fresh databases (`pg_db` in tests/conftest.py), dropped afterwards. Under
CI=true these tests fail when the server is unreachable; elsewhere they are skipped.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from sqlalchemy import func, select, text, update

from core import runner, service, worker
from core.clock import utcnow
from core.connectors import registry
from core.connectors.base import FetchRequest, FetchResult
from core.db import Database, open_database
from core.models import Connection, Run
from core.services import history
from core.services.history import HistoryQuery
from core.worker import lease, run_queue
from tests.conftest import NOW, make_extract, make_settings
from tests.core.test_worker_process import lease_terms

WEEK = (date(2026, 11, 1), date(2026, 11, 7))  # old enough that Sample Ads does not drift
T0 = NOW + timedelta(hours=1)


def run_now(db: Database, extract_id: int, window: tuple[date, date] = WEEK) -> Any:
    with db.session() as s:
        [run] = service.run_extract(session=s, extract_id=extract_id, date_from=window[0],
                                    date_to=window[1], now=NOW)
    return runner.execute_run(db=db, run_id=run.id)


def table_rows(db: Database, table_name: str) -> pd.DataFrame:
    with db.warehouse.engine.connect() as conn:
        return pd.read_sql(text(f'SELECT * FROM "{table_name}" ORDER BY __extract_id, date, '
                                "campaign_id"), conn)


def table_of(db: Database, extract_id: int) -> str:
    with db.session() as s:
        extract = service.get_extract(session=s, extract_id=extract_id)
        return service.get_data_table(session=s,
                                      data_table_id=extract.data_table_id).table_name


def patch_source(monkeypatch: pytest.MonkeyPatch,
                 change: Callable[[Iterator[pa.Table]], Iterator[pa.Table]]) -> None:
    source = registry.get("sample_ads")
    real_fetch = source.fetch

    def fetch(request: FetchRequest) -> FetchResult:
        return FetchResult(chunks=change(real_fetch(request).chunks))

    monkeypatch.setattr(source, "fetch", fetch)


def test_create_put_patch_and_run_an_extract_end_to_end(pg_db: Database) -> None:
    assert pg_db.engine.dialect.name == pg_db.warehouse.engine.dialect.name == "postgresql"
    with pg_db.session() as s:
        extract = make_extract(s, sync_historical_data="2026-10-01")
        put = service.update_extract(session=s, extract_id=extract.id, now=NOW,
                                     data={"fields": ["date", "campaign_id", "impressions"]})
        patched = service.patch_extract(session=s, extract_id=extract.id, now=NOW,
                                        data={"additional_params": {"note": "pg"}})
    assert put.sync_historical_data is None  # PUT: omitted keys go back to their defaults
    assert patched.fields == ["date", "campaign_id", "impressions"]  # PATCH keeps the rest
    assert patched.additional_params == {"note": "pg"}

    first = run_now(pg_db, extract.id)
    second = run_now(pg_db, extract.id)

    assert (first.status, second.status) == ("succeeded", "succeeded"), second.error
    assert first.rows == second.rows == 7 * 20
    rows = table_rows(pg_db, table_of(pg_db, extract.id))
    assert len(rows) == 7 * 20 and set(rows["__run_id"]) == {second.id}
    assert not rows.duplicated(["date", "campaign_id"]).any()
    assert {"impressions", "account_id", "__insert_date"} <= set(rows.columns)
    with pg_db.session() as s:
        after = service.get_extract(session=s, extract_id=extract.id)
        preview = service.preview_rows(session=s, extract_id=extract.id, limit=5)
    assert (after.status, after.error_text) == ("active", None)
    assert after.last_sync is not None
    assert len(preview) == 5


def test_a_failure_after_the_first_chunk_leaves_the_window_as_it_was(
        pg_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    with pg_db.session() as s:
        extract = make_extract(s)
    assert run_now(pg_db, extract.id).status == "succeeded"
    table = table_of(pg_db, extract.id)
    before = table_rows(pg_db, table)

    def break_after_first(chunks: Iterator[pa.Table]) -> Iterator[pa.Table]:
        first = next(chunks)
        where = first.schema.get_field_index("clicks")
        yield first.set_column(where, "clicks", pa.array([-1] * first.num_rows, pa.int64()))
        raise RuntimeError("source broke mid-window")

    patch_source(monkeypatch, break_after_first)
    failed = run_now(pg_db, extract.id)

    assert failed.status == "failed"
    assert "source broke mid-window" in (failed.error or "")
    pd.testing.assert_frame_equal(table_rows(pg_db, table), before)


def test_two_extracts_writing_one_table_never_touch_each_others_rows(pg_db: Database) -> None:
    with pg_db.session() as s:
        first, second = service.create_extracts(session=s, now=NOW, data={
            "data_table_title": "Campaign stats", "template_id": 1, "accounts": [1, 2],
            "template_settings": {"fields": ["date", "campaign_id", "clicks", "spend"]}})
    run_now(pg_db, first.id)
    run_now(pg_db, second.id)
    table = table_of(pg_db, first.id)
    theirs = table_rows(pg_db, table).query(f"__extract_id == {second.id}")

    assert run_now(pg_db, first.id, (date(2026, 11, 3), date(2026, 11, 4))).rows == 2 * 20

    rows = table_rows(pg_db, table)
    pd.testing.assert_frame_equal(rows.query(f"__extract_id == {second.id}"), theirs)
    assert Counter(rows["__extract_id"]) == {first.id: 7 * 20, second.id: 7 * 20}


def _together(workers: int, work: Callable[[int], Any]) -> list[Any]:
    """Call work(0..workers-1) from as many threads, released at once."""
    start = threading.Barrier(workers)
    results: list[Any] = [None] * workers

    def one(i: int) -> None:
        start.wait()
        results[i] = work(i)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def test_claims_from_many_threads_keep_every_cap(pg_db: Database) -> None:
    with pg_db.session() as s:
        ids = [make_extract(s, accounts=[1 + i % 3]).id for i in range(6)]
        s.execute(update(Connection).where(Connection.id == 1).values(max_concurrent_runs=3))
    for extract_id in ids:
        for _ in range(2):  # two queued runs each: only one per extract may run
            with pg_db.session() as s:
                service.run_extract(session=s, extract_id=extract_id, date_from=WEEK[0],
                                    date_to=WEEK[1], now=NOW)

    claimed = _together(8, lambda i: run_queue.claim_next(pg_db, f"w{i}", T0, max_workers=1))

    taken = [run_id for run_id in claimed if run_id is not None]
    assert len(taken) == 3  # the connection's cap, although 8 workers asked at once
    with pg_db.session() as s:
        running = s.execute(select(Run.extract_id, Run.worker_id)
                            .where(Run.status == "running")).all()
    assert len(running) == 3
    assert len({extract_id for extract_id, _ in running}) == 3  # one run per extract
    assert len({worker_id for _, worker_id in running}) == 3  # max_workers=1 each


def test_queued_runs_are_carried_out_by_a_worker(pg_db: Database) -> None:
    with pg_db.session() as s:
        ids = [make_extract(s, accounts=[1 + i]).id for i in range(3)]
        s.execute(update(Connection).where(Connection.id == 1).values(max_concurrent_runs=3))
    for extract_id in ids:
        with pg_db.session() as s:
            service.run_extract(session=s, extract_id=extract_id, date_from=WEEK[0],
                                date_to=WEEK[1], now=NOW)
    pool = worker.Worker(pg_db, worker_id="pg-worker", max_workers=3, fire_schedules=False)

    assert len(pool.dispatch(T0)) == 3
    assert pool.executor.shutdown(60) == []

    with pg_db.session() as s:
        statuses = Counter(s.scalars(select(Run.status)))
    assert statuses == {"succeeded": 3}
    assert Counter(table_rows(pg_db, table_of(pg_db, ids[0]))["__extract_id"]) == {
        extract_id: 7 * 20 for extract_id in ids}


def test_one_lease_holder_among_many_threads_and_takeover_after_expiry(pg_db: Database
                                                                       ) -> None:
    held = _together(8, lambda i: lease.acquire(pg_db, "scheduler", f"w{i}", T0))

    assert held.count(True) == 1
    holder = f"w{held.index(True)}"
    later = T0 + lease.TTL
    others = _together(4, lambda i: lease.acquire(pg_db, "scheduler", f"x{i}", later))
    assert others.count(True) == 1  # expired: exactly one of the others takes over
    assert not lease.acquire(pg_db, "scheduler", holder, later)


def test_history_aggregates_the_runs(pg_db: Database) -> None:
    with pg_db.session() as s:
        extract = make_extract(s)
    run = run_now(pg_db, extract.id)
    day = run.queued_at.date()
    query = HistoryQuery(date_from=day, date_to=day, timezone="UTC")

    with pg_db.session() as s:
        daily = history.daily_runs(session=s, query=query)
        tables = history.daily_rows_by_table(session=s, query=query)

    assert daily["succeeded"].sum() == 1
    assert tables["rows"].sum() == 7 * 20


def test_processes_starting_at_once_migrate_and_seed_once(tmp_path: Path, pg_url: str) -> None:
    settings = make_settings(tmp_path, database_url=pg_url, warehouse_url=pg_url)

    def start(_: int) -> Any:
        try:
            return open_database(settings, seed=True)
        except Exception as exc:
            return exc

    started = _together(4, start)

    assert [type(d).__name__ for d in started] == ["Database"] * 4
    with started[0].session() as s:
        assert s.scalar(select(func.count(Connection.id))) == 1
    for database in started:
        database.dispose()


@pytest.mark.slow
def test_two_worker_processes_on_one_postgres_fire_each_schedule_once_and_load_it(
        pg_db: Database) -> None:
    root = Path(__file__).resolve().parents[2]
    fire = utcnow() - timedelta(minutes=10)  # passed after the extracts were made: caught up
    with pg_db.session() as s:
        made = [make_extract(s, accounts=[1 + i % 3], schedules=[
            {"frequency": "daily", "hour": fire.hour, "minute": fire.minute}]).id
            for i in range(4)]
    env = {**os.environ, "EXTRACTS_DATABASE_URL": pg_db.settings.database_url,
           "EXTRACTS_WAREHOUSE_URL": pg_db.settings.warehouse_url,
           "EXTRACTS_VAR_DIR": str(pg_db.settings.var_dir),
           "EXTRACTS_SECRET_KEY": pg_db.settings.secret_key, "PYTHONPATH": str(root),
           "PYTHONUNBUFFERED": "1"}
    workers = [subprocess.Popen([sys.executable, "-m", "core.worker"], cwd=root, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
               for _ in range(2)]
    try:
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            with pg_db.session() as s:
                done = s.scalar(select(func.count(Run.id)).where(Run.trigger == "schedule",
                                                           Run.status == "succeeded"))
            if done == len(made):
                break
            time.sleep(0.2)
        time.sleep(2.5)  # one more schedule sync and lease poll in both: nothing doubles
    finally:
        for process in workers:
            process.terminate()
        outputs = [process.communicate(timeout=30)[0] for process in workers]

    assert [p.returncode for p in workers] == [0, 0], outputs
    with pg_db.session() as s:
        fired = sorted(s.scalars(select(Run.extract_id).where(Run.trigger == "schedule")))
        statuses = set(s.scalars(select(Run.status).where(Run.trigger == "schedule")))
    assert fired == sorted(made) and statuses == {"succeeded"}, outputs
    # The lease may pass from one worker to the other as they stop, never held by both.
    terms = sorted(term for out in outputs for term in lease_terms(out))
    assert terms and all(end <= start for (_, end), (start, _) in pairwise(terms)), outputs
    rows = table_rows(pg_db, table_of(pg_db, made[0]))
    assert sorted(set(rows["__extract_id"])) == sorted(made)
    assert not rows.duplicated(["__extract_id", "date", "campaign_id"]).any()
