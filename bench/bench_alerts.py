"""Alerts while runs go on: 10,000 events queued to the outbox and delivered to a loopback
webhook receiver while the worker executes Sample Ads runs, against the same runs alone.

    .venv/bin/python -m bench.bench_alerts                       # 10,000 events, 24 runs
    .venv/bin/python -m bench.bench_alerts --events 2000 --rounds 1
    .venv/bin/python -m bench.bench_alerts --write               # docs/benchmarks.md

Each contender runs in its own process, in interleaved rounds (runs alone, runs + events
queued, runs + alerts, then the other way round). A contender starts a real Worker (threads),
queues the runs, and, but for "runs alone", a thread writes the events to the outbox in
transactions of 50 as the runs go (what a stream of failing extracts would write); in
"runs + alerts" the worker's deliverer sends them too, so the difference between the last two
is what sending costs the runs. Checked each time: every run
succeeded and the data table holds exactly the rows the runs report; the receiver got every
event once (distinct webhook-ids) and nothing is left pending.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text

from core import service, worker
from core.clock import utcnow
from core.config import get_settings
from core.db import Database, open_database
from core.models import Delivery, Extract, Run
from core.services.alerts import events
from core.vocabulary import DeliveryStatus, EventKind, RunStatus

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
HEADING = "## Alerts: 10,000 events while runs go on"
CONTENDERS = ("runs alone", "runs + events queued", "runs + alerts")
BATCH = 50


# -- the receiver (in the parent process) ------------------------------------------------


class Received:
    def __init__(self) -> None:
        self.ids: list[str] = []
        self.latencies: list[float] = []
        self.lock = threading.Lock()


@contextmanager
def receiver() -> Iterator[tuple[str, Received]]:
    got = Received()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            at = datetime.now(UTC)
            event = json.loads(body)
            with got.lock:
                got.ids.append(self.headers["webhook-id"])
                got.latencies.append((at - datetime.fromisoformat(event["time"]))
                                     .total_seconds())
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/in", got
    finally:
        server.shutdown()
        server.server_close()


# -- one contender (in its own process) --------------------------------------------------


def _open(tmp: Path) -> Database:
    return open_database(get_settings({
        "EXTRACTS_VAR_DIR": str(tmp / "var"), "EXTRACTS_SECRET_KEY": "bench",
        "EXTRACTS_EMBEDDED_WORKER": "0"}), seed=True)


def _setup(db: Database, runs: int, rows_per_day: int) -> int:
    with db.session() as s:
        connection = service.create_connection(session=s, data={
            "datasource": "sample_ads", "title": "Bench ads", "max_concurrent_runs": 4,
            "config": {"rows_per_day": rows_per_day}})
        template = next(t for t in service.list_templates(session=s, datasource="sample_ads")
                        if t.name == "campaign_performance")
        extracts = service.create_extracts(session=s, data={
            "data_table_title": "Bench alerts", "template_id": template.id,
            "accounts": [a.id for a in connection.accounts],
            "template_settings": {"fields": ["date", "campaign_id", "clicks", "spend"]}})
        first = date(2025, 1, 1)
        for i in range(runs):  # distinct weeks, spread over the accounts' extracts
            week = first + timedelta(days=7 * i)
            service.run_extract(session=s, extract_id=extracts[i % len(extracts)].id,
                                date_from=week, date_to=week + timedelta(days=6))
        return extracts[0].id


def _queue_events(db: Database, extract_id: int, count: int, channel_id: int,
                  done: threading.Event) -> None:
    with db.session() as s:
        extract = s.get(Extract, extract_id)
        assert extract is not None
        settings = db.settings
    left = count
    while left:
        with db.session() as s:
            extract = s.get(Extract, extract_id)
            assert extract is not None
            for _ in range(min(BATCH, left)):
                now = utcnow()
                body = events.payload(settings, kind=EventKind.RUN_FAILED, now=now,
                                      extract=extract, message="bench event")
                events.queue(s, body, [channel_id], now, extract_id=extract_id, alert_id=None)
            left -= min(BATCH, left)
    done.set()


def contender(name: str, runs: int, rows_per_day: int, count: int, url: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        db = _open(Path(folder))
        extract_id = _setup(db, runs, rows_per_day)
        queue = name != "runs alone"  # events written to the outbox as the runs go
        alerts = name == "runs + alerts"  # and sent by the deliverer
        channel_id = 0
        if queue:
            with db.session() as s:
                channel_id = service.create_channel(session=s, data={
                    "kind": "webhook", "title": "bench", "url": url}).id
        queued = threading.Event()
        the_worker = worker.Worker(db, fire_schedules=False, deliver_alerts=alerts)
        started = time.perf_counter()
        the_worker.start()
        if queue:
            threading.Thread(target=_queue_events, args=(db, extract_id, count, channel_id,
                                                         queued), daemon=True).start()
        runs_done = delivered = None
        while runs_done is None or (alerts and delivered is None):
            time.sleep(0.05)
            with db.session() as s:
                if runs_done is None and not s.scalar(select(func.count()).where(
                        Run.status.not_in([RunStatus.SUCCEEDED, RunStatus.FAILED]))):
                    runs_done = time.perf_counter() - started
                if alerts and delivered is None and queued.is_set() and not s.scalar(
                        select(func.count()).select_from(Delivery)
                        .where(Delivery.status == DeliveryStatus.PENDING)):
                    delivered = time.perf_counter() - started
        if queue:
            queued.wait()
        the_worker.stop()
        with db.session() as s:
            queued_rows = s.scalar(select(func.count()).select_from(Delivery)) or 0
            statuses = dict(s.execute(select(Run.status, func.count()).group_by(Run.status))
                            .all())
            reported = s.scalar(select(func.sum(Run.rows))) or 0
            table = service.list_data_tables(session=s)[0].table_name
            sent = s.scalar(select(func.count()).select_from(Delivery).where(
                Delivery.status == DeliveryStatus.DELIVERED)) or 0
        with db.warehouse.engine.connect() as conn:
            stored = conn.execute(text(f'SELECT count(*) FROM "{table}"')).scalar_one()
        db.dispose()
    assert statuses == {RunStatus.SUCCEEDED: runs}, statuses
    assert stored == reported, (stored, reported)
    assert sent == (count if alerts else 0), sent
    assert queued_rows == (count if queue else 0), queued_rows
    return {"contender": name, "runs_seconds": runs_done, "rows": stored,
            "delivered_seconds": delivered, "events": sent}


# -- the parent: interleaved rounds --------------------------------------------------------


def _one(name: str, args: argparse.Namespace, url: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.bench_alerts", "--contender", name, "--url", url,
         "--runs", str(args.runs), "--rows-per-day", str(args.rows_per_day),
         "--events", str(args.events)], cwd=ROOT, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{name} failed:\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=24)
    parser.add_argument("--rows-per-day", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--contender", choices=CONTENDERS)
    parser.add_argument("--url", default="")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    if args.contender:
        print(json.dumps(contender(args.contender, args.runs, args.rows_per_day, args.events,
                                   args.url)))
        return 0
    results: dict[str, list[dict[str, Any]]] = {c: [] for c in CONTENDERS}
    latencies: list[float] = []
    for round_ in range(args.rounds):
        order = CONTENDERS if round_ % 2 == 0 else tuple(reversed(CONTENDERS))
        for name in order:
            with receiver() as (url, got):
                result = _one(name, args, url)
                if name == "runs + alerts":
                    assert len(got.ids) == len(set(got.ids)) == args.events, \
                        (len(got.ids), len(set(got.ids)))
                    latencies += got.latencies
            results[name].append(result)
            print(json.dumps(result), flush=True)
    alone = statistics.median(r["runs_seconds"] for r in results["runs alone"])
    written = statistics.median(r["runs_seconds"] for r in results["runs + events queued"])
    mixed = statistics.median(r["runs_seconds"] for r in results["runs + alerts"])
    delivered = statistics.median(r["delivered_seconds"] for r in results["runs + alerts"])
    rows = results["runs alone"][0]["rows"]
    lines = [
        HEADING, "",
        f"`.venv/bin/python -m bench.bench_alerts --events {args.events} --runs {args.runs} "
        f"--rounds {args.rounds}` ({datetime.now(UTC):%Y-%m-%d}, the 2-core machine shared "
        "with other work): a real Worker (4 threads, SQLite) executes "
        f"{args.runs} Sample Ads runs of a week each ({rows:,} rows in all, checked against the "
        f"data table); in the other two contenders a thread writes {args.events:,} events to the "
        "outbox (transactions of 50) as the runs go; in the third the worker's deliverer also "
        "POSTs them, signed, to a loopback receiver, which checked that each arrived once. "
        "Each contender in its own process, interleaved rounds, medians.", "",
        "| Measure | Result |", "| --- | ---: |",
        f"| {args.runs} runs alone, queued to all succeeded | {alone:.2f} s |",
        f"| The same runs while {args.events:,} events are written to the outbox "
        f"(deliverer off) | {written:.2f} s ({written / alone:.2f}x) |",
        f"| The same runs while {args.events:,} events are queued and delivered | "
        f"{mixed:.2f} s ({mixed / alone:.2f}x) |",
        f"| All {args.events:,} events delivered (from the worker's start) | {delivered:.2f} s "
        f"({args.events / delivered:,.0f} events/s) |",
        f"| An event's latency, queued to received | p50 {_pct(latencies, 0.5):.2f} s, p95 "
        f"{_pct(latencies, 0.95):.2f} s |", "",
    ]
    section = "\n".join(lines)
    print(section)
    if args.write:
        current = DOC.read_text()
        if HEADING in current:
            before, rest = current.split(HEADING, 1)
            after = rest.split("\n## ", 1)[1] if "\n## " in rest else ""
            current = before.rstrip() + "\n" + (f"\n## {after}" if after else "")
        DOC.write_text(current.rstrip() + "\n\n" + section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
