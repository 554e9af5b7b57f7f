"""Worker benchmarks: start-up with many schedules, the overhead of an empty run, and how
late schedules fire under load.

    .venv/bin/python -m bench.bench_worker                      # 10,000 extracts x 2 schedules
    .venv/bin/python -m bench.bench_worker --extracts 1000 --no-lateness

Targets (issue 3): start-up plus schedule sync under 5 s and 300 MB peak RSS; an empty run
from queued to succeeded p50 under 50 ms; a schedule's fire lateness p95 under 1 s. The
lateness part waits for the next whole minute, so it takes up to ~70 s.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import func, insert, select, update

from core import service, worker
from core.config import get_settings
from core.connectors import registry
from core.connectors.base import FetchRequest, FetchResult
from core.connectors.sample_ads import SampleAds
from core.db import Database, open_database
from core.models import SCHEDULER_LEASE, Extract, Run, Schedule
from core.worker import lease

FIELDS = ["date", "campaign_id", "clicks", "spend"]


class Empty(SampleAds):
    """A source that answers at once with no rows: what is left is the worker's overhead."""

    name = "empty"
    title = "Empty"

    def fetch(self, request: FetchRequest) -> FetchResult:
        return FetchResult(chunks=iter(()))


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _open(tmp: Path) -> Database:
    settings = get_settings({"EXTRACTS_VAR_DIR": str(tmp / "var"),
                             "EXTRACTS_SECRET_KEY": "bench", "EXTRACTS_EMBEDDED_WORKER": "0"})
    return open_database(settings, seed=True)


def _bulk_extracts(db: Database, count: int, datasource: str, created: datetime) -> list[int]:
    """`count` extracts cloned from one made through the service, two schedules each."""
    with db.session() as session:
        connection = service.create_connection(session=session, data={
            "datasource": datasource, "title": f"Bench {datasource}",
            "max_concurrent_runs": 4})
        template = next(t for t in service.list_templates(session=session, datasource=datasource)
                        if t.name == "campaign_performance")
        [model] = service.create_extracts(session=session, now=created, data={
            "data_table_title": f"Bench {datasource}", "template_id": template.id,
            "accounts": [connection.accounts[0].id],
            "template_settings": {"fields": FIELDS}})
        base = session.get(Extract, model.id)
        assert base is not None
        row = {c.key: getattr(base, c.key) for c in Extract.__table__.columns if c.key != "id"}
        first = session.scalar(select(func.max(Extract.id))) or 0
        if count > 1:
            session.execute(insert(Extract), [{**row, "title": f"Bench {i}"}
                                              for i in range(count - 1)])
        ids = [model.id, *range(first + 1, first + count)]
        schedules: list[dict[str, Any]] = []
        for n, extract_id in enumerate(ids):
            schedules.append({"extract_id": extract_id, "position": 0, "frequency": "daily",
                              "hour": n % 24, "minute": n % 60, "timezone": "Europe/Berlin",
                              "lookback": "default"})
            schedules.append({"extract_id": extract_id, "position": 1, "frequency": "hourly",
                              "every_hours": 6, "minute": (n * 7) % 60, "timezone": "UTC",
                              "lookback": "live"})
        session.execute(insert(Schedule), schedules)
        session.execute(update(Schedule).where(Schedule.extract_id == model.id,
                                               Schedule.position == 0)
                        .values(hour=0, minute=0, timezone="Europe/Berlin"))
        return ids


def bench_startup(db: Database, extracts: int) -> dict[str, Any]:
    created = datetime.now(UTC) - timedelta(days=1)
    _bulk_extracts(db, extracts, "sample_ads", created)
    rss_before = _peak_rss_mb()
    started = time.perf_counter()
    w = worker.Worker(db, fire_schedules=True)
    w.scheduler.start(paused=True)  # count start-up and sync, fire nothing yet
    w.renew_lease(datetime.now(UTC))  # takes the lease, then syncs every schedule
    seconds = time.perf_counter() - started
    jobs = len(w.job_ids())
    resync_started = time.perf_counter()
    w.sync_schedules(datetime.now(UTC))  # the every-2-s check when nothing changed
    resync_ms = (time.perf_counter() - resync_started) * 1000
    w.scheduler.shutdown(wait=False)
    lease.release(db, SCHEDULER_LEASE, w.worker_id)
    return {"extracts": extracts, "schedule_jobs": jobs, "startup_and_sync_s": round(seconds, 2),
            "unchanged_resync_ms": round(resync_ms, 1),
            "peak_rss_mb": round(_peak_rss_mb(), 1), "rss_before_mb": round(rss_before, 1)}


def bench_empty_runs(db: Database, runs: int) -> dict[str, Any]:
    registry.register(Empty())
    [extract_id] = _bulk_extracts(db, 1, "empty", datetime.now(UTC) - timedelta(days=1))
    w = worker.Worker(db, fire_schedules=False).start()
    latencies = []
    try:
        for _ in range(runs):
            with db.session() as session:
                [run] = service.run_extract(session=session, extract_id=extract_id)
            while True:
                with db.session() as session:
                    done = session.get(Run, run.id)
                    assert done is not None
                    if done.status == "succeeded" and done.finished_at is not None:
                        latencies.append((done.finished_at - done.queued_at).total_seconds())
                        break
                    assert done.status in ("queued", "running"), done.error
                time.sleep(0.002)
    finally:
        w.stop()
    ms = sorted(x * 1000 for x in latencies)
    return {"empty_runs": runs, "p50_ms": round(statistics.median(ms), 1),
            "p95_ms": round(ms[int(len(ms) * 0.95) - 1], 1), "max_ms": round(ms[-1], 1)}


def bench_lateness(db: Database, firing: int, *, run_queue: bool) -> dict[str, Any]:
    """Make `firing` schedules fire at the next whole minute, on top of every other job;
    with `run_queue`, the same worker executes the runs they queue meanwhile."""
    now = datetime.now(UTC)
    fire_at = (now + timedelta(minutes=1)).replace(second=0, microsecond=0)
    if (fire_at - now).total_seconds() < 15:
        fire_at += timedelta(minutes=1)
    with db.session() as session:
        ids = list(session.scalars(select(Schedule.id).where(Schedule.position == 0)
                                   .order_by(Schedule.id).limit(firing)))
        session.execute(update(Schedule).where(Schedule.id.in_(ids)).values(
            frequency="cron", cron=f"{fire_at.minute} * * * *", timezone="UTC"))
        # Edited now, as the service would stamp it: earlier fire times are not caught up.
        session.execute(update(Extract).where(Extract.id.in_(
            select(Schedule.extract_id).where(Schedule.id.in_(ids)))).values(updated_at=now))
        session.execute(update(Run).where(Run.status == "queued").values(status="cancelled"))
    w = worker.Worker(db, run_queue=run_queue).start()
    try:
        while datetime.now(UTC) < fire_at + timedelta(seconds=5):
            time.sleep(0.5)
        with db.session() as session:
            queued = [q for q, in session.execute(
                select(Run.queued_at).join(Schedule, Schedule.extract_id == Run.extract_id)
                .where(Run.trigger == "schedule", Run.queued_at >= fire_at,
                       Schedule.id.in_(ids)))]
            executed = session.scalar(select(func.count(Run.id)).where(
                Run.trigger == "schedule", Run.status.in_(("running", "succeeded"))))
    finally:
        w.stop(grace=1)
    late = sorted((q - fire_at).total_seconds() for q in queued)
    return {"run_queue": run_queue, "fired": len(late), "expected": firing,
            "runs_started_within_5s": executed,
            "lateness_p50_s": round(statistics.median(late), 3) if late else None,
            "lateness_p95_s": round(late[int(len(late) * 0.95) - 1], 3) if late else None,
            "lateness_max_s": round(late[-1], 3) if late else None}


def _rows(results: Iterator[dict[str, Any]]) -> None:
    for result in results:
        print(json.dumps(result), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extracts", type=int, default=10_000)
    parser.add_argument("--empty-runs", type=int, default=200)
    parser.add_argument("--firing", type=int, default=500,
                        help="schedules that fire at once in the lateness test")
    parser.add_argument("--no-lateness", action="store_true")
    args = parser.parse_args()
    pd.set_option("display.width", 120)
    with tempfile.TemporaryDirectory() as tmp:
        db = _open(Path(tmp))

        def results() -> Iterator[dict[str, Any]]:
            yield bench_startup(db, args.extracts)
            yield bench_empty_runs(db, args.empty_runs)
            if not args.no_lateness:
                yield bench_lateness(db, args.firing, run_queue=False)
                yield bench_lateness(db, args.firing, run_queue=True)

        _rows(results())
        db.dispose()


if __name__ == "__main__":
    main()
