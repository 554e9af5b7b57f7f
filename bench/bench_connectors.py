"""Rows per second and peak RSS from each connector into the SQLite warehouse.

    .venv/bin/python -m bench.bench_connectors                   # 1M rows, every source
    .venv/bin/python -m bench.bench_connectors --rows 200000 --source parquet --source csv

The same rows (10 columns, spread over 10 days) are served by PostgreSQL (a table in a schema
of its own, dropped afterwards), a Parquet file, a CSV file and an HTTP server on loopback that
answers pages of 1,000 JSON records. Each source is loaded by one run of one extract, executed
with `core.runner.execute_run` in a fresh process, so peak RSS is per source. The HTTP server
runs in this (the parent) process, so its memory is not counted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pandas as pd

from bench.bench_window_memory import PeakRss, _max_rss

DAYS = 10
PAGE = 1_000
SOURCES = ("postgresql", "parquet", "csv", "http")
PG_URL = os.environ.get("EXTRACTS_BENCH_PG_URL",
                        "postgresql+psycopg://postgres@127.0.0.1:5432/test")
FIELDS = ["day", "account", "campaign_id", "campaign_name", "channel", "impressions", "clicks",
          "spend", "conversions", "revenue"]


@dataclass
class Result:
    """One measured load."""

    source: str
    rows: int
    seconds: float
    rows_per_second: float
    baseline_rss_mb: float
    peak_rss_mb: float
    max_rss_mb: float


def _first_day() -> date:
    return datetime.now(UTC).date() - timedelta(days=40)


def make_rows(rows: int) -> pd.DataFrame:
    """`rows` rows of ten columns, spread evenly over DAYS days."""
    rng = np.random.default_rng(7)
    index = np.arange(rows)
    campaigns = index % 5_000
    impressions = rng.integers(100, 50_000, rows)
    clicks = (impressions * rng.uniform(0.005, 0.05, rows)).astype(np.int64)
    first = _first_day()
    days = [first + timedelta(days=d) for d in range(DAYS)]
    return pd.DataFrame({
        "day": np.array(days, dtype=object)[index * DAYS // rows],
        "account": np.where(campaigns % 2 == 0, "north", "south"),
        "campaign_id": [f"c{c:05d}" for c in campaigns.tolist()],
        "campaign_name": [f"Campaign number {c}" for c in campaigns.tolist()],
        "channel": np.array(["search", "social", "display", "video"])[campaigns % 4],
        "impressions": impressions,
        "clicks": clicks,
        "spend": np.round(clicks * rng.uniform(0.2, 3.0, rows), 2),
        "conversions": (clicks * 0.05).astype(np.int64),
        "revenue": np.round(clicks * rng.uniform(0.0, 8.0, rows), 2),
    })


# -- the sources -----------------------------------------------------------------------------

def _load_postgres(csv_path: Path, schema: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        conn.execute(sa.text(
            f'CREATE TABLE "{schema}".ads (day date, account text, campaign_id text, '
            "campaign_name text, channel text, impressions bigint, clicks bigint, "
            "spend numeric(12,2), conversions bigint, revenue double precision)"))
        raw: Any = conn.connection.driver_connection
        with raw.cursor().copy(f'COPY "{schema}".ads FROM STDIN WITH (FORMAT csv, HEADER)'
                               ) as copy, csv_path.open("rb") as handle:
            while block := handle.read(1 << 20):
                copy.write(block)
    engine.dispose()


def _drop_postgres(schema: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


def _serve(frame: pd.DataFrame) -> tuple[ThreadingHTTPServer, str]:
    """An HTTP server answering `?page=N&per_page=1000` with a page of JSON records."""
    records = frame.assign(day=pd.to_datetime(frame["day"]).dt.strftime("%Y-%m-%d"))

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            query = parse_qs(urlsplit(self.path).query)
            page, size = int(query["page"][0]), int(query["per_page"][0])
            chunk = records.iloc[(page - 1) * size: page * size]
            body = ('{"data": ' + chunk.to_json(orient="records") + "}").encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@dataclass
class Prepared:
    """Where each source's copy of the rows lives."""

    folder: Path
    pg_schema: str
    http_url: str

    def connection(self, source: str) -> dict[str, Any]:
        if source == "postgresql":
            return {"datasource": "sql", "config": {"url": PG_URL, "schema": self.pg_schema}}
        if source == "parquet":
            return {"datasource": "files", "config": {"path": str(self.folder / "ads.parquet")}}
        if source == "csv":
            return {"datasource": "files", "config": {"path": str(self.folder / "ads.csv")}}
        return {"datasource": "http_json", "config": {
            "base_url": self.http_url, "endpoint": "/ads", "records_path": "data",
            "pagination": "page", "page_size": PAGE, "date_field": "day"}}


# -- one measured run (in a child process) ---------------------------------------------------

def measure(source: str, connection: dict[str, Any]) -> Result:
    """Create a connection and an extract of every field, run the whole window, measure."""
    from core import runner, service
    from core.config import get_settings
    from core.db import open_database

    with tempfile.TemporaryDirectory(prefix="bench-connectors-") as tmp:
        settings = get_settings({"EXTRACTS_VAR_DIR": str(Path(tmp) / "var"),
                                 "EXTRACTS_SECRET_KEY": "bench"})
        db = open_database(settings, seed=False)
        try:
            with db.session() as session:
                created = service.create_connection(session=session, data={
                    "title": source, **connection})
                [template] = [t for t in service.list_templates(
                    session=session, connection_id=created.id) if t.connection_id == created.id
                    and t.name in ("ads", "files", "records")]
                [extract] = service.create_extracts(session=session, data={
                    "data_table_title": f"Bench {source}", "template_id": template.id,
                    "template_settings": {"fields": FIELDS},
                    "accounts": [created.accounts[0].id]})
                [run] = service.run_extract(
                    session=session, extract_id=extract.id, date_from=_first_day(),
                    date_to=_first_day() + timedelta(days=DAYS - 1))
            baseline = _rss()
            with PeakRss() as rss:
                started = time.perf_counter()
                done = runner.execute_run(db=db, run_id=run.id)
                seconds = time.perf_counter() - started
            if done.status != "succeeded" or done.rows is None:
                raise SystemExit(f"{source}: run {done.status}: {done.error}")
            return Result(source=source, rows=done.rows, seconds=round(seconds, 2),
                          rows_per_second=round(done.rows / seconds),
                          baseline_rss_mb=round(baseline / 2**20, 1),
                          peak_rss_mb=round(rss.peak / 2**20, 1),
                          max_rss_mb=round(_max_rss() / 2**20, 1))
        finally:
            db.dispose()


def _rss() -> int:
    import psutil

    return int(psutil.Process().memory_info().rss)


def _in_child(source: str, connection: dict[str, Any]) -> Result:
    out = subprocess.run([sys.executable, "-m", "bench.bench_connectors", "--child", source,
                          "--connection", json.dumps(connection)],
                         check=True, capture_output=True, text=True)
    return Result(**json.loads(out.stdout.strip().splitlines()[-1]))


@contextmanager
def _prepare(rows: int, folder: Path, sources: list[str]) -> Iterator[Prepared]:
    """Write the rows to every source; take the PostgreSQL table and the server down after.

    The rows are made and served by child processes, so that this process stays small: a
    child started by fork inherits the parent's high-water RSS mark.
    """
    subprocess.run([sys.executable, "-m", "bench.bench_connectors", "--write", str(folder),
                    "--rows", str(rows)], check=True)
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    if "postgresql" in sources:
        _load_postgres(folder / "ads.csv", schema)
    server = None
    url = ""
    if "http" in sources:
        server = subprocess.Popen([sys.executable, "-m", "bench.bench_connectors", "--serve",
                                   str(folder)], stdout=subprocess.PIPE, text=True)
        assert server.stdout is not None
        url = server.stdout.readline().strip()
    try:
        yield Prepared(folder, schema, url)
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
        if "postgresql" in sources:
            _drop_postgres(schema)


def _write(folder: Path, rows: int) -> None:
    frame = make_rows(rows)
    frame.to_parquet(folder / "ads.parquet", row_group_size=100_000, index=False)
    frame.to_csv(folder / "ads.csv", index=False)


def _serve_forever(folder: Path) -> None:
    _server, url = _serve(pd.read_parquet(folder / "ads.parquet"))
    print(url, flush=True)
    threading.Event().wait()


def _report(results: list[Result]) -> str:
    lines = ["| source | rows | seconds | rows/s | RSS before run (MB) | peak RSS, sampled (MB) "
             "| max RSS, getrusage (MB) |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    lines += [f"| {r.source} | {r.rows:,} | {r.seconds:.1f} | {r.rows_per_second:,} | "
              f"{r.baseline_rss_mb:.0f} | {r.peak_rss_mb:.0f} | {r.max_rss_mb:.0f} |"
              for r in results]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--source", action="append", choices=SOURCES,
                        help="a source to measure (repeatable); default all")
    parser.add_argument("--child", choices=SOURCES, help=argparse.SUPPRESS)
    parser.add_argument("--connection", help=argparse.SUPPRESS)
    parser.add_argument("--write", help=argparse.SUPPRESS)
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.write:
        _write(Path(args.write), args.rows)
        return 0
    if args.serve:
        _serve_forever(Path(args.serve))
        return 0
    if args.child:
        print(json.dumps(asdict(measure(args.child, json.loads(args.connection)))))
        return 0
    sources = args.source or list(SOURCES)
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-sources-") as tmp, \
            _prepare(args.rows, Path(tmp), sources) as prepared:
        for source in sources:
            results.append(_in_child(source, prepared.connection(source)))
            print(f"{source}: {results[-1].rows_per_second:,} rows/s", file=sys.stderr)
    print(_report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
