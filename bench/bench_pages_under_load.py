"""Dashboard benchmark: each page's server time while a 1M-row run loads (issue 15, item 8).

    .venv/bin/python -m bench.bench_pages_under_load
    .venv/bin/python -m bench.bench_pages_under_load --rows 200000 --samples 3

Target: under a 1M-row load in progress, each page's server time stays under 1 s (the issue
saw 14-20 s). Setup: 60 extracts with history on SQLite (the embedded default); extract 1's
data table already holds ROWS rows and a run of it is "running". Contenders, interleaved
phase by phase (idle, loading, idle, loading): pages with the warehouse idle, and pages while
a loader process replaces extract 1's window with ROWS rows through `Warehouse.replace_window`
(the run's load path: one transaction, DELETE then INSERT, chunk by chunk) again and again.
The loader checks the row count after every load; each page sample is a fresh AppTest session
of dashboard/router.py (script, queries, building the page) in the measuring process, its
first run timed: what a person opening the page waits for on the server. Exits non-zero if a
page's median under load is over the target.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import update

from core import service
from core.config import get_settings
from core.db import Database, open_database
from core.models import Run
from core.warehouse import FieldSpec, Window

ROOT = Path(__file__).resolve().parents[1]
TARGET_MS = 1000
CHUNK = 50_000
FIELDS = [FieldSpec("date", "date", "dimension"), FieldSpec("campaign_id", "string", "dimension"),
          FieldSpec("clicks", "integer", "metric"), FieldSpec("spend", "number", "metric")]
WINDOW = (date(2024, 1, 1), date(2026, 6, 30))


def env(var_dir: Path) -> dict[str, str]:
    return {"EXTRACTS_VAR_DIR": str(var_dir), "EXTRACTS_SECRET_KEY": "bench",
            "EXTRACTS_EMBEDDED_WORKER": "false"}


def chunks(rows: int) -> Any:
    days = (WINDOW[1] - WINDOW[0]).days + 1
    for first in range(0, rows, CHUNK):
        n = min(CHUNK, rows - first)
        index = pd.RangeIndex(first, first + n)
        yield pd.DataFrame({
            "date": [WINDOW[0] + timedelta(days=int(i) % days) for i in index],
            "campaign_id": [f"c-{int(i) % 997}" for i in index],
            "clicks": index % 500, "spend": (index % 1000) / 10})


def load_once(db: Database, table: str, extract_id: int, rows: int, run_id: int) -> float:
    started = time.perf_counter()
    loaded = db.warehouse.replace_window(
        table_name=table, window=Window(extract_id, "date", *WINDOW), fields=FIELDS,
        chunks=chunks(rows), system_values={
            "account_id": "1001", "account_name": "Acme Retail",
            "__insert_date": datetime.now(UTC).replace(tzinfo=None),
            "__extract_id": extract_id, "__run_id": run_id})
    seconds = time.perf_counter() - started
    have = db.warehouse.count_rows(table, extract_id)
    if loaded != rows or have != rows:
        sys.exit(f"loader: loaded {loaded}, table holds {have}, wanted {rows}")
    return seconds


def loader(var_dir: Path, table: str, extract_id: int, rows: int, run_id: int,
           stop: Path) -> None:
    """The contender that loads: replace the window with `rows` rows until `stop` exists."""
    os.environ.update(env(var_dir))
    db = open_database(get_settings())
    times = []
    while not stop.exists():
        times.append(load_once(db, table, extract_id, rows, run_id))
    print(json.dumps({"loads": len(times), "seconds": times}))


def seed(db: Database, rows: int) -> tuple[str, int, int]:
    """60 extracts with a few weeks of runs; extract 1's table holds `rows` rows."""
    from bench.bench_dashboard import seed_extracts, seed_runs

    now = datetime.now(UTC)
    ids = seed_extracts(db, 60, now)
    seed_runs(db, ids, now)
    with db.session() as s:
        extract = service.get_extract(session=s, extract_id=ids[0])
        table = service.get_data_table(session=s, data_table_id=extract.data_table_id)
        [run] = service.run_extract(session=s, extract_id=ids[0])
        s.execute(update(Run).where(Run.id == run.id).values(status="running",
                                                             started_at=now))
    db.warehouse.ensure_table(table.table_name, FIELDS, "date")
    load_once(db, table.table_name, ids[0], rows, run.id)
    return table.table_name, ids[0], run.id


def measure_pages(extract_id: int, samples: int) -> dict[str, list[float]]:
    """Server time (ms) of a fresh session's first run of each page, `samples` times."""
    from streamlit.testing.v1 import AppTest

    from dashboard import navigation

    pages = {"Extracts": (navigation.EXTRACTS, {}),
             "Extract (the loading one)": (navigation.EXTRACT, {"id": str(extract_id)}),
             "History": (navigation.HISTORY, {}),
             "Data tables": (navigation.DATA_TABLES, {}),
             "New extract": (navigation.NEW_EXTRACT, {})}
    out: dict[str, list[float]] = {name: [] for name in pages}
    for _ in range(samples):
        for name, (page, query) in pages.items():
            at = AppTest.from_file(str(ROOT / "dashboard" / "router.py"), default_timeout=300)
            at.session_state["app_timezone"] = "UTC"
            at.query_params = dict(query)
            started = time.perf_counter()
            at.switch_page(page).run()
            out[name].append((time.perf_counter() - started) * 1000)
            broken = [str(e.value) for e in at.error if "could not be" in str(e.value)]
            if at.exception or broken:
                sys.exit(f"{name} failed: {[e.value for e in at.exception]} {broken}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--load", nargs=5, metavar=("VAR", "TABLE", "EXTRACT", "RUN", "STOP"))
    args = parser.parse_args()
    if args.load:
        var, table, extract, run, stop = args.load
        loader(Path(var), table, int(extract), args.rows, int(run), Path(stop))
        return
    import logging

    from streamlit import logger as streamlit_logger
    streamlit_logger.get_logger("streamlit").setLevel(logging.ERROR)
    logging.getLogger("streamlit").setLevel(logging.ERROR)
    var_dir = Path(tempfile.mkdtemp(prefix="bench-pages-"))
    os.environ.update(env(var_dir))
    db = open_database(get_settings(), seed=True)
    started = time.perf_counter()
    table, extract_id, run_id = seed(db, args.rows)
    print(f"seeded in {time.perf_counter() - started:.0f} s; load {os.getloadavg()}",
          file=sys.stderr)
    measure_pages(extract_id, 1)  # warm the process (imports, first queries)
    results: dict[str, dict[str, list[float]]] = {"idle": {}, "loading": {}}
    loads: list[float] = []
    for phase in ("idle", "loading", "idle", "loading"):
        loader_process = stop = None
        if phase == "loading":
            stop = var_dir / "stop"
            stop.unlink(missing_ok=True)
            loader_process = subprocess.Popen(
                [sys.executable, "-m", "bench.bench_pages_under_load", "--rows",
                 str(args.rows), "--load", str(var_dir), table, str(extract_id),
                 str(run_id), str(stop)], cwd=ROOT, stdout=subprocess.PIPE)
            time.sleep(2)  # the loader is inside its first load's transaction
        found = measure_pages(extract_id, args.samples)
        if loader_process is not None and stop is not None:
            if loader_process.poll() is not None:
                sys.exit("the loader ended early: the pages were not measured under load")
            stop.touch()
            out, _ = loader_process.communicate(timeout=600)
            report = json.loads(out)
            loads += report["seconds"]
        for name, times in found.items():
            results[phase].setdefault(name, []).extend(times)
    print(f"\n{args.rows:,}-row loads during the loading phases: {len(loads)}, "
          f"median {statistics.median(loads):.1f} s each (row count checked after each)")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load average now {os.getloadavg()[0]:.1f}\n")
    print("| page | idle median (ms) | idle max | loading median (ms) | loading max |")
    print("|---|---:|---:|---:|---:|")
    over = []
    for name in results["idle"]:
        idle, busy = results["idle"][name], results["loading"][name]
        print(f"| {name} | {statistics.median(idle):.0f} | {max(idle):.0f} | "
              f"{statistics.median(busy):.0f} | {max(busy):.0f} |")
        if statistics.median(busy) > TARGET_MS:
            over.append(name)
    db.dispose()
    if over:
        sys.exit(f"over {TARGET_MS} ms under load: {', '.join(over)}")


if __name__ == "__main__":
    main()
