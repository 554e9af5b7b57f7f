"""Celery executor benchmark: empty runs through Celery vs the local executor (queued ->
running latency p50/p95, runs per second), and a CPU-bound source on one vs two Celery
worker processes (throughput ratio; target >= 1.7x on two cores).

    .venv/bin/python -m bench.bench_celery                  # 200 empty runs, 2 rounds
    .venv/bin/python -m bench.bench_celery --runs 1000      # the issue's full size

Needs PostgreSQL (EXTRACTS_BENCH_PG_URL, default postgresql://postgres@127.0.0.1:5432/test)
and RabbitMQ (EXTRACTS_BENCH_BROKER_URL, default amqp://guest:guest@127.0.0.1:5672//). Each
contender runs in its own processes on fresh databases and its own queue; the contenders
are interleaved round by round, and the load average is printed with every figure (the
machine may be shared). Every run must succeed with the rows its source gives.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import psycopg
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from core import service
from core.clock import utcnow
from core.config import get_settings
from core.db import Database, open_database
from core.models import CeleryWorker, Run

ROOT = Path(__file__).resolve().parent.parent
ADMIN_URL = os.environ.get("EXTRACTS_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
BROKER_URL = os.environ.get("EXTRACTS_BENCH_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
FIELDS = ["date", "campaign_id", "clicks", "spend"]


@dataclass
class Result:
    contender: str
    runs: int
    seconds: float
    latency_ms: list[float]
    load: tuple[float, float]
    mean_run_s: float = 0.0  # a run's own duration, start to finish
    busy: float = 0.0  # the share of the slots' time spent inside runs

    @property
    def per_second(self) -> float:
        return self.runs / self.seconds


def _admin(statement: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(statement)


def _url(name: str) -> str:
    url = make_url(ADMIN_URL).set(drivername="postgresql+psycopg", database=name)
    return url.render_as_string(hide_password=False)


@contextmanager
def deployment(executor: str, max_workers: int) -> Iterator[tuple[Database, dict[str, str]]]:
    """Fresh metadata and warehouse databases and a queue of its own; the processes' env."""
    tag = secrets.token_hex(4)
    meta, warehouse, queue = f"bench_meta_{tag}", f"bench_wh_{tag}", f"bench_{tag}"
    _admin(f'CREATE DATABASE "{meta}"')
    _admin(f'CREATE DATABASE "{warehouse}"')
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXTRACTS_")}
    env.update(EXTRACTS_DATABASE_URL=_url(meta), EXTRACTS_WAREHOUSE_URL=_url(warehouse),
               EXTRACTS_SECRET_KEY="bench", EXTRACTS_EXECUTOR=executor,
               EXTRACTS_BROKER_URL=BROKER_URL, EXTRACTS_CELERY_QUEUE=queue,
               EXTRACTS_MAX_WORKERS=str(max_workers), EXTRACTS_SEED_DEMO="false",
               EXTRACTS_VAR_DIR=f"/tmp/{queue}", PYTHONPATH=str(ROOT))
    db = open_database(get_settings(env))
    try:
        yield db, env
    finally:
        db.dispose()
        _admin(f'DROP DATABASE IF EXISTS "{meta}" WITH (FORCE)')
        _admin(f'DROP DATABASE IF EXISTS "{warehouse}" WITH (FORCE)')
        if executor == "celery":
            import kombu

            with kombu.Connection(BROKER_URL) as conn:
                conn.channel().queue_delete(queue)
                conn.channel().exchange_delete(queue)


def queue_runs(db: Database, datasource: str, runs: int, extracts: int) -> list[int]:
    """`runs` queued one-day runs spread over `extracts` extracts of one connection; the
    tables analysed, as autovacuum would have (on a fresh table without statistics the
    claim query's plan is slow: 0.4-0.6 s per claim with 1,000 queued runs)."""
    today = utcnow().date()
    with db.session() as session:
        connection = service.create_connection(session=session, data={
            "datasource": datasource, "title": datasource, "max_concurrent_runs": extracts,
            "config": {"rows_per_day": 5}})
        template = next(t for t in service.list_templates(session=session,
                                                          datasource=datasource)
                        if t.name == "campaign_performance")
        ids = [service.create_extracts(session=session, data={
            "data_table_title": f"{datasource} {i}", "template_id": template.id,
            "accounts": [connection.accounts[0].id],
            "template_settings": {"fields": FIELDS}, "schedules": []})[0].id
            for i in range(extracts)]
        run_ids = []
        for n in range(runs):
            day = today - timedelta(days=1 + n // extracts)
            [run] = service.run_extract(session=session, extract_id=ids[n % extracts],
                                        date_from=day, date_to=day)
            run_ids.append(run.id)
    if runs > 1:
        with db.engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    return run_ids


def _start(command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextmanager
def executor_processes(db: Database, env: dict[str, str], celery_workers: int,
                       concurrency: int) -> Iterator[None]:
    """The local worker, or a dispatcher and `celery_workers` Celery workers (registered)."""
    if env["EXTRACTS_EXECUTOR"] == "local":
        celery_workers = 0
        processes = [_start([sys.executable, "-m", "bench.bench_celery", "--serve-local"], env)]
    else:
        processes = [_start([sys.executable, "-m", "core.worker"], env)] + [
            _start([sys.executable, "-m", "celery", "-A", "bench.celery_bench_app", "worker",
                    "--pool=prefork", f"--concurrency={concurrency}", "-n", f"b{i}@%h",
                    "--without-gossip", "--without-mingle", "--without-heartbeat",
                    "--loglevel=WARNING"], env) for i in range(celery_workers)]
    try:
        deadline = time.monotonic() + 120
        while _registered(db) < celery_workers:
            if time.monotonic() > deadline:
                raise RuntimeError("the Celery workers did not register within 120 s")
            time.sleep(0.2)
        yield
    finally:
        _stop(processes)


def _registered(db: Database) -> int:
    with db.session() as session:
        return len(session.scalars(select(CeleryWorker)).all())


def _wait_done(db: Database, run_ids: list[int], rows: int, timeout: float = 1800) -> list[Run]:
    """The runs once all succeeded (polled with one light count query, so the polling
    costs the executors nothing); fails on a failed run or the wrong row count."""
    deadline = time.monotonic() + timeout
    while True:
        with db.session() as session:
            counts: dict[str, int] = {status: count for status, count in session.execute(
                select(Run.status, func.count()).where(Run.id.in_(run_ids))
                .group_by(Run.status))}
        if counts.get("succeeded", 0) == len(run_ids):
            break
        if counts.get("failed") or counts.get("cancelled") or time.monotonic() > deadline:
            raise RuntimeError(f"runs did not all succeed: {counts}")
        time.sleep(0.1)
    with db.session() as session:
        found = list(session.scalars(select(Run).where(Run.id.in_(run_ids))))
        session.expunge_all()
    wrong = [r.id for r in found if r.rows != rows]
    if wrong:
        raise RuntimeError(f"runs {wrong[:5]} loaded the wrong number of rows")
    return found


def empty_runs(executor: str, runs: int, latency_runs: int) -> Result:
    """`runs` empty runs queued at once (throughput), then `latency_runs` queued one by one
    on the idle executor (queued -> running latency)."""
    with deployment(executor, max_workers=4) as (db, env):
        run_ids = queue_runs(db, "bench_empty", runs, extracts=20)
        load_before = os.getloadavg()[0]
        with executor_processes(db, env, celery_workers=1, concurrency=4):
            done = _wait_done(db, run_ids, rows=0)
            first = min(r.started_at for r in done if r.started_at)
            last = max(r.finished_at for r in done if r.finished_at)
            latencies = []
            for _ in range(latency_runs):
                [run_id] = queue_runs(db, "bench_empty", 1, extracts=1)
                [run] = _wait_done(db, [run_id], rows=0)
                assert run.started_at is not None
                latencies.append((run.started_at - run.queued_at).total_seconds() * 1000)
        return Result(executor, runs, (last - first).total_seconds(), latencies,
                      (load_before, os.getloadavg()[0]))


def cpu_runs(celery_workers: int, runs: int) -> Result:
    """`runs` CPU-bound runs on `celery_workers` Celery workers of one slot each."""
    with deployment("celery", max_workers=1) as (db, env):
        run_ids = queue_runs(db, "bench_cpu", runs, extracts=runs)
        load_before = os.getloadavg()[0]
        with executor_processes(db, env, celery_workers=celery_workers, concurrency=1):
            done = _wait_done(db, run_ids, rows=5)
        first = min(r.started_at for r in done if r.started_at)
        last = max(r.finished_at for r in done if r.finished_at)
        seconds = (last - first).total_seconds()
        durations = [r.duration_seconds or 0.0 for r in done]
        # A run takes CPU_SECONDS of CPU: much longer runs mean the machine's cores were
        # busy with other work; idle slots (busy < 1) mean the dispatch kept them waiting.
        return Result(f"cpu x{celery_workers}", runs, seconds, [],
                      (load_before, os.getloadavg()[0]), statistics.mean(durations),
                      sum(durations) / (seconds * celery_workers))


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def serve_local() -> int:
    """The local contender's worker: the benchmark's sources, then `python -m core.worker`."""
    from bench import celery_bench_app  # noqa: F401  (registers the sources)
    from core.worker.__main__ import main as worker_main

    return worker_main()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, help="empty runs per contender")
    parser.add_argument("--latency-runs", type=int, default=30)
    parser.add_argument("--cpu-runs", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--cpu-only", action="store_true", help="only the CPU-bound part")
    parser.add_argument("--serve-local", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_local:
        sys.exit(serve_local())
    # SIGTERM ends the benchmark as Ctrl-C does: its processes and databases are removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    from bench import celery_bench_app  # noqa: F401  (this process creates their connections)

    results: list[Result] = []
    for round_no in range(args.rounds):
        order = ["local", "celery"] if round_no % 2 == 0 else ["celery", "local"]
        for executor in [] if args.cpu_only else order:
            results.append(empty_runs(executor, args.runs, args.latency_runs))
            _print(results[-1])
        for workers in ([1, 2] if round_no % 2 == 0 else [2, 1]):
            results.append(cpu_runs(workers, args.cpu_runs))
            _print(results[-1])
    print("\n| Contender | Runs | Runs/s (median of rounds) | queued -> running p50 | p95 |")
    print("| --- | --- | --- | --- | --- |")
    for name in ("local", "celery"):
        mine = [r for r in results if r.contender == name]
        if not mine:
            continue
        latencies = [ms for r in mine for ms in r.latency_ms]
        print(f"| {name} | {args.runs} | "
              f"{statistics.median(r.per_second for r in mine):.1f} | "
              f"{_pct(latencies, 0.5):.0f} ms | {_pct(latencies, 0.95):.0f} ms |")
    one = statistics.median(r.per_second for r in results if r.contender == "cpu x1")
    two = statistics.median(r.per_second for r in results if r.contender == "cpu x2")
    print(f"\nCPU-bound, {args.cpu_runs} runs: 1 worker {one:.2f} runs/s, 2 workers "
          f"{two:.2f} runs/s, ratio {two / one:.2f}x (target >= 1.7x)")
    print(f"load average now {os.getloadavg()}, {os.cpu_count()} cores")


def _print(result: Result) -> None:
    latency = (f", latency p50 {_pct(result.latency_ms, 0.5):.0f} ms p95 "
               f"{_pct(result.latency_ms, 0.95):.0f} ms" if result.latency_ms else "")
    runs = (f", a run {result.mean_run_s:.2f} s (of 1.0 s CPU), slots busy "
            f"{result.busy:.0%}" if result.mean_run_s else "")
    print(f"{result.contender}: {result.runs} runs in {result.seconds:.2f} s "
          f"({result.per_second:.2f}/s){latency}{runs}; load {result.load[0]:.1f} -> "
          f"{result.load[1]:.1f}", flush=True)


if __name__ == "__main__":
    main()
