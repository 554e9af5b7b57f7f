"""Load one big window of Sample Ads rows and report rows, time, rows/s and peak RSS.

    .venv/bin/python -m bench.bench_window_memory              # 200k and 2M rows
    .venv/bin/python -m bench.bench_window_memory --rows 500000

Rows per day stay fixed (100,000) and the window grows in days, so the figures show whether
memory grows with the window. Each size runs in a fresh process: peak RSS is per process.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil

try:
    import resource
except ImportError:  # Windows: the sampled peak only
    resource = None  # type: ignore[assignment]

ROWS_PER_DAY = 100_000
DEFAULT_SIZES = (200_000, 2_000_000)
TARGET_MB = 400
FIELDS = ["date", "campaign_id", "campaign_name", "channel", "impressions", "clicks", "spend",
          "conversions"]


@dataclass
class Result:
    """One measured load."""

    rows: int
    days: int
    seconds: float
    rows_per_second: float
    baseline_rss_mb: float
    peak_rss_mb: float
    max_rss_mb: float


class PeakRss:
    """Samples this process's RSS every `interval` seconds in a background thread."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.process = psutil.Process()
        self.peak = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)


def measure(rows: int) -> Result:
    """Create a Sample Ads extract sized to `rows`, execute one run of its window, measure."""
    from core import runner, service
    from core.config import get_settings
    from core.db import open_database

    days = max(1, math.ceil(rows / ROWS_PER_DAY))
    rows_per_day = rows // days
    with tempfile.TemporaryDirectory(prefix="bench-window-") as tmp:
        settings = get_settings({"EXTRACTS_VAR_DIR": str(Path(tmp) / "var"),
                                 "EXTRACTS_SECRET_KEY": "bench"})
        db = open_database(settings, seed=False)
        try:
            # Old enough that no day drifts (late attribution), young enough for depth limits.
            date_to = datetime.now(UTC).date() - timedelta(days=7)
            date_from = date_to - timedelta(days=days - 1)
            with db.session() as session:
                connection = service.create_connection(session=session, data={
                    "datasource": "sample_ads", "title": "Bench",
                    "config": {"rows_per_day": rows_per_day}})
                [template] = [t for t in service.list_templates(session=session,
                                                                datasource="sample_ads")
                              if t.name == "campaign_performance"]
                [extract] = service.create_extracts(session=session, data={
                    "data_table_title": "Bench window", "template_id": template.id,
                    "template_settings": {"fields": FIELDS},
                    "accounts": [connection.accounts[0].id]})
                [run] = service.run_extract(session=session, extract_id=extract.id,
                                            date_from=date_from, date_to=date_to)
            baseline = psutil.Process().memory_info().rss
            with PeakRss() as rss:
                started = time.perf_counter()
                done = runner.execute_run(db=db, run_id=run.id)
                seconds = time.perf_counter() - started
            if done.status != "succeeded":
                raise SystemExit(f"run {done.id} {done.status}: {done.error}")
            assert done.rows is not None
            return Result(rows=done.rows, days=days, seconds=round(seconds, 2),
                          rows_per_second=round(done.rows / seconds),
                          baseline_rss_mb=round(baseline / 2**20, 1),
                          peak_rss_mb=round(rss.peak / 2**20, 1),
                          max_rss_mb=round(_max_rss() / 2**20, 1))
        finally:
            db.dispose()


def _max_rss() -> int:
    """The kernel's high-water mark of this process's RSS, in bytes (catches short spikes)."""
    if resource is None:
        return 0
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib if sys.platform == "darwin" else kib * 1024


def _in_child(rows: int) -> Result:
    out = subprocess.run([sys.executable, "-m", "bench.bench_window_memory", "--rows",
                          str(rows), "--json"], check=True, capture_output=True, text=True)
    return Result(**json.loads(out.stdout.strip().splitlines()[-1]))


def _report(results: list[Result]) -> str:
    lines = ["| rows | days | seconds | rows/s | RSS before run (MB) | peak RSS, sampled (MB) "
             "| max RSS, getrusage (MB) |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    lines += [f"| {r.rows:,} | {r.days} | {r.seconds:.1f} | {r.rows_per_second:,} | "
              f"{r.baseline_rss_mb:.0f} | {r.peak_rss_mb:.0f} | {r.max_rss_mb:.0f} |"
              for r in results]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, action="append",
                        help="rows in the window (repeatable); default 200000 and 2000000")
    parser.add_argument("--json", action="store_true",
                        help="measure one size in this process and print it as JSON")
    args = parser.parse_args(argv)
    if args.json:
        [rows] = args.rows or [DEFAULT_SIZES[-1]]
        print(json.dumps(asdict(measure(rows))))
        return 0
    results = [_in_child(rows) for rows in (args.rows or DEFAULT_SIZES)]
    print(_report(results))
    worst = max(max(r.peak_rss_mb, r.max_rss_mb) for r in results)
    verdict = "within" if worst < TARGET_MB else "OVER"
    print(f"\npeak RSS {worst:.0f} MB: {verdict} the {TARGET_MB} MB target")
    return 0 if worst < TARGET_MB else 1


if __name__ == "__main__":
    sys.exit(main())
