"""History benchmark: the History page's server time with 200,000 runs in the metadata database.

    .venv/bin/python -m bench.bench_history                    # 500 extracts x 400 days
    .venv/bin/python -m bench.bench_history --extracts 100 --days 100 --rounds 3

Target (issue 5): the History page's server time (an AppTest run of pages/history.py, default
filters: the last 30 days) stays under 1 s. Measured: the first run in a fresh process, reruns
with nothing cached (a new filter combination) and reruns with the aggregates cached (after a
click). Also times each history query on its own, for the last 30 days and for the whole
history, and prints SQLite's plan of the main aggregation.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from core import service
from core.config import get_settings
from core.db import Database, open_database
from core.models import Extract, Run, Schedule
from core.services import history
from dashboard import navigation

ERRORS = ("HTTP 429 Too Many Requests from the source after 3 retries",
          "401 Unauthorized: the access token has expired",
          "timeout after 300 s waiting for the report",
          "column 'conversions' is not in the source's response")
FIELDS = ["date", "campaign_id", "clicks", "spend"]


def _open(tmp: Path) -> Database:
    settings = get_settings({"EXTRACTS_VAR_DIR": str(tmp / "var"),
                             "EXTRACTS_SECRET_KEY": "bench", "EXTRACTS_EMBEDDED_WORKER": "0"})
    return open_database(settings, seed=True)


def _extracts(db: Database, count: int, created: datetime) -> list[int]:
    """`count` extracts cloned from one made through the service, on 5 data tables."""
    with db.session() as session:
        ids = []
        for table in range(5):
            [model] = service.create_extracts(session=session, now=created, data={
                "data_table_title": f"Bench table {table}", "template_id": 1,
                "accounts": [table % 3 + 1], "template_settings": {"fields": FIELDS}})
            ids.append(model.id)
        base = session.get(Extract, ids[0])
        assert base is not None
        row = {c.key: getattr(base, c.key) for c in Extract.__table__.columns if c.key != "id"}
        tables = [e.data_table_id for e in (session.get(Extract, i) for i in ids) if e]
        first = session.scalar(select(func.max(Extract.id))) or 0
        extra = count - len(ids)
        session.execute(insert(Extract), [
            {**row, "title": f"Bench extract {n}", "data_table_id": tables[n % 5]}
            for n in range(extra)])
        ids += list(range(first + 1, first + 1 + extra))
        session.execute(insert(Schedule), [
            {"extract_id": i, "position": 0, "frequency": "daily", "hour": n % 24,
             "minute": n % 60, "timezone": "UTC", "lookback": "default"}
            for n, i in enumerate(ids[5:])])
        return ids


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _runs(db: Database, ids: list[int], days: int, now: datetime, seed: int = 5) -> int:
    """One scheduled run a day per extract over `days` days, inserted with executemany."""
    rng = random.Random(seed)
    today = now.date()
    rows: list[tuple[Any, ...]] = []
    broken = set(rng.sample(ids, max(1, len(ids) // 25)))  # these fail for the last 3 days
    for n, extract_id in enumerate(ids):
        volume = rng.randint(200, 5000)
        hour = n % 24
        for back in range(days, -1, -1):
            day = today - timedelta(days=back)
            queued = datetime(day.year, day.month, day.day, hour, n % 60, tzinfo=UTC)
            if queued > now:
                continue
            wait = rng.expovariate(1 / 4)
            duration = rng.lognormvariate(3, 0.6)
            started = queued + timedelta(seconds=wait)
            finished = started + timedelta(seconds=duration)
            roll = rng.random()
            if back < 3 and extract_id in broken:
                status, error = "failed", ERRORS[1]
            elif roll < 0.04:
                status, error = "failed", ERRORS[rng.randrange(len(ERRORS))]
            elif roll < 0.05:
                status, error = "cancelled", "cancelled: by request"
            else:
                status, error = "succeeded", None
            if status == "succeeded" and back == 0 and n % 10 == 0:
                status = "running"
            per_day = volume * (rng.choice((0.2, 3)) if rng.random() < 0.01 else
                                rng.uniform(0.8, 1.2))
            log = [{"at": queued.isoformat(), "level": "info", "message": "queued by schedule"},
                   {"at": started.isoformat(), "level": "info",
                    "message": f"fetching {day - timedelta(days=6)} → {day} in 1 chunk"},
                   {"at": finished.isoformat(), "level": "info" if error is None else "error",
                    "message": error or f"loaded {int(per_day * 7)} rows in {duration:.2f}s"}]
            done = status in ("succeeded", "failed", "cancelled")
            rows.append((extract_id, status, "schedule", 2, (day - timedelta(days=6)).isoformat(),
                         day.isoformat(), _stamp(queued), _stamp(started),
                         _stamp(finished) if done else None, _stamp(finished),
                         int(per_day * 7) if status == "succeeded" else None,
                         round(duration, 3) if done else None, 1, 3, error, json.dumps(log),
                         0, "bench"))
    with db.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO runs (extract_id, status, trigger, priority, date_from, date_to, "
            "queued_at, started_at, finished_at, heartbeat_at, rows, duration_seconds, attempts,"
            " max_attempts, error, log, cancel_requested, worker_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    return len(rows)


def _time(fn: Callable[[], Any], rounds: int) -> float:
    """Median milliseconds of `rounds` calls."""
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 1)


def bench_queries(db: Database, now: datetime, rounds: int) -> dict[str, dict[str, float]]:
    last_30 = history.default_query("Europe/Berlin", now)
    everything = history.HistoryQuery(date_from=now.date() - timedelta(days=400),
                                      date_to=now.date(), timezone="Europe/Berlin")
    out: dict[str, dict[str, float]] = {}
    for label, query in (("last 30 days", last_30), ("whole history", everything)):
        calls: dict[str, tuple[Callable[..., Any], dict[str, Any]]] = {
            "headline": (service.headline, {"query": query, "now": now}),
            "daily_runs": (service.daily_runs, {"query": query}),
            "daily_durations": (service.daily_durations, {"query": query}),
            "daily_rows_by_table": (service.daily_rows_by_table, {"query": query}),
            "volume_anomalies": (service.volume_anomalies, {"query": query}),
            "failure_groups": (service.failure_groups, {"query": query}),
            "day_timeline": (service.day_timeline, {"query": query, "day": now.date()}),
            "freshness": (service.freshness, {"query": query, "now": now}),
        }
        out[label] = {}
        for name, (fn, kwargs) in calls.items():
            with db.session() as session:
                out[label][name] = _time(partial(fn, session=session, **kwargs),
                                         rounds if query is last_30 else 1)
    with db.session() as session:
        out["one extract"] = {"coverage": _time(lambda: service.coverage(
            session=session, extract_id=1, now=now), rounds)}
    return out


def query_plan(db: Database, now: datetime) -> list[str]:
    """SQLite's plan for the daily aggregation of the last 30 days."""
    query = history.default_query("Europe/Berlin", now)
    with db.session() as session:
        day = history.local_day(session, Run.queued_at, query.tz, *query.bounds())
        stmt = (select(day, Run.status, func.count(), func.sum(Run.rows))
                .where(*history.run_filters(query)).group_by(day, Run.status))
        compiled = stmt.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
        return [row[-1] for row in session.connection().exec_driver_sql(
            f"EXPLAIN QUERY PLAN {compiled}")]


def bench_page(var_dir: Path, rounds: int, url: dict[str, str] | None = None
               ) -> dict[str, float]:
    """Server time of the History page in AppTest: the first run and the median rerun."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    os.environ.update({"EXTRACTS_VAR_DIR": str(var_dir), "EXTRACTS_SECRET_KEY": "bench",
                       "EXTRACTS_EMBEDDED_WORKER": "false"})
    st.cache_resource.clear()
    st.cache_data.clear()
    app = str(Path(__file__).resolve().parents[1] / "dashboard" / "router.py")
    at = AppTest.from_file(app, default_timeout=120)
    at.session_state["app_timezone"] = "Europe/Berlin"
    if url:
        at.query_params = dict(url)
    started = time.perf_counter()
    at.switch_page(navigation.HISTORY).run()
    first = (time.perf_counter() - started) * 1000
    assert not at.exception, [e.value for e in at.exception]
    assert [t.value for t in at.title] == ["History"]
    cold, warm = [], []
    for _ in range(rounds):
        st.cache_data.clear()  # as a new filter combination: every aggregate read afresh
        started = time.perf_counter()
        at.run()
        cold.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        at.run()  # as after clicking a widget: the aggregates come from st.cache_data
        warm.append((time.perf_counter() - started) * 1000)
    assert not at.exception, [e.value for e in at.exception]
    return {"first_run_ms": round(first), "reruns": rounds,
            "uncached_p50_ms": round(statistics.median(cold)),
            "uncached_p95_ms": round(_nearest_rank(cold, 95)),
            "uncached_max_ms": round(max(cold)), "cached_p50_ms": round(statistics.median(warm)),
            "cached_p95_ms": round(_nearest_rank(warm, 95))}


def _nearest_rank(values: list[float], percent: int) -> float:
    """The nearest-rank percentile (as the history's own durations are ranked)."""
    ordered = sorted(values)
    return ordered[max(0, (len(ordered) * percent + 99) // 100 - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--extracts", type=int, default=500)
    parser.add_argument("--days", type=int, default=399)
    parser.add_argument("--rounds", type=int, default=5, help="timings of each query")
    parser.add_argument("--page-rounds", type=int, default=20,
                        help="uncached and cached reruns of the page (p95 needs 20)")
    args = parser.parse_args()
    now = datetime.now(UTC).replace(microsecond=0)
    with tempfile.TemporaryDirectory() as tmp:
        db = _open(Path(tmp))
        started = time.perf_counter()
        ids = _extracts(db, args.extracts, now - timedelta(days=args.days + 1))
        count = _runs(db, ids, args.days, now)
        setup = time.perf_counter() - started
        with db.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
        size = (Path(tmp) / "var" / "extracts.db").stat().st_size / 1e6
        print(json.dumps({"extracts": len(ids), "runs": count, "insert_s": round(setup, 1),
                          "database_mb": round(size, 1)}))
        for line in query_plan(db, now):
            print("plan:", line)
        print(json.dumps(bench_queries(db, now, args.rounds), indent=1))
        db.dispose()
        print(json.dumps({"page (last 30 days)": bench_page(Path(tmp) / "var", args.page_rounds)}))
        print(json.dumps({"page (one extract)": bench_page(
            Path(tmp) / "var", args.page_rounds, {"extract": str(ids[7])})}))


if __name__ == "__main__":
    main()
