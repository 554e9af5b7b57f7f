"""Load speed of `warehouse.replace_window` on SQLite, PostgreSQL and DuckDB, against peers.

    .venv/bin/python -m bench.bench_load                      # 1M rows, every database
    .venv/bin/python -m bench.bench_load --rows 200000 --only sqlite --repeat 3

One million Sample Ads rows ("Campaign performance (daily)": its 9 fields plus the 5 system
columns, 14 columns of text, dates, datetimes, integers and floats) are fetched once, kept in
memory as the connector's 50,000-row Arrow tables, then loaded into a fresh data table by each
contender in turn, in the same run, so every figure is a ratio against a peer measured
seconds apart on the same machine. The peers' own preparation (tuples for `executemany`, binary
COPY data, one Arrow table for DuckDB) is done before their clock starts; ours casts
the chunks inside the clock, as a run does. Peers from requirements-bench.txt (dlt) are
skipped with a note when they are not installed. PostgreSQL: EXTRACTS_BENCH_PG_URL
(default postgresql://postgres@127.0.0.1:5432/test); a database is created per measurement.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import secrets
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from core.connectors import sample_ads
from core.connectors.base import AccountSpec, ConnectionInfo, FetchRequest, FieldSpec
from core.db import make_engine
from core.warehouse import SYSTEM_COLUMNS, Warehouse, Window, arrow

ROWS_PER_DAY = 100_000
TABLE = "bench_load"
TEMPLATE = sample_ads.TEMPLATES[0]  # Campaign performance (daily): 9 fields
FIELDS: list[FieldSpec] = list(TEMPLATE.fields)
PG_URL = os.environ.get("EXTRACTS_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
TARGETS = {  # (database, peer) -> the least ratio of our rate to the peer's
    ("sqlite", "raw sqlite3.executemany"): 0.8, ("sqlite", "pandas.DataFrame.to_sql"): 2.0,
    ("sqlite", "dlt (sqlalchemy destination)"): 1.0, ("postgresql", "raw binary COPY"): 0.7,
    ("postgresql", "dlt (postgres destination)"): 1.0,
    ("duckdb", "raw INSERT ... SELECT * FROM arrow"): 0.7,
    ("duckdb", "dlt (duckdb destination)"): 1.0,
}


@dataclass
class Source:
    """The rows every contender loads: the connector's chunks and the run's system values."""

    chunks: list[pa.Table]
    system: dict[str, Any]
    window: Window

    @property
    def rows(self) -> int:
        return sum(c.num_rows for c in self.chunks)

    def names(self) -> list[str]:
        return [*self.system, *(f.name for f in FIELDS)]

    def types(self) -> dict[str, str]:
        return {f.name: f.type for f in (*SYSTEM_COLUMNS, *FIELDS)}

    def arrow(self) -> list[pa.Table]:
        fields = [f.name for f in FIELDS]
        return [arrow.with_constants(arrow.conform(c, fields, self.types()), self.system,
                                     self.types()) for c in self.chunks]

    def frames(self) -> list[pd.DataFrame]:
        """Whole rows as DataFrames (system columns included), for pandas and dlt."""
        return [c.to_pandas().assign(**{k: v for k, v in self.system.items()})[self.names()]
                for c in self.chunks]


def sqlite_rows(batch: pa.Table) -> list[tuple[Any, ...]]:
    """Rows of Python values as the sqlite3 driver binds them (what a raw load prepares)."""
    return list(zip(*(c.to_pylist() for c in arrow.for_sqlite(batch).columns), strict=True))


def fetch(rows: int) -> Source:
    """`rows` Sample Ads rows, old enough that none of them drifts."""
    days = max(1, -(-rows // ROWS_PER_DAY))
    date_to = datetime.now(UTC).date() - timedelta(days=10)
    date_from = date_to - timedelta(days=days - 1)
    request = FetchRequest(
        connection=ConnectionInfo(1, "sample_ads", {"rows_per_day": rows // days}, {}),
        account=AccountSpec("sa-1001", "Bench account"), template=TEMPLATE,
        fields=tuple(f.name for f in FIELDS), filters=(), options={}, date_from=date_from,
        date_to=date_to, today=datetime.now(UTC).date())
    chunks = list(sample_ads.SampleAds().fetch(request).chunks)
    system = {"account_id": "sa-1001", "account_name": "Bench account",
              "__insert_date": datetime(2026, 11, 28, 10, 0), "__extract_id": 1,
              "__run_id": 1}
    return Source(chunks, system, Window(1, "date", date_from, date_to))


# ----------------------------------------------------------------------------- databases


@contextmanager
def database(kind: str, tmp: Path) -> Iterator[str]:
    """A fresh, empty database of `kind`; yields its SQLAlchemy URL."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp / f'{secrets.token_hex(4)}.db'}"
    elif kind == "duckdb":
        yield f"duckdb:///{tmp / f'{secrets.token_hex(4)}.duckdb'}"
    else:
        import psycopg
        from sqlalchemy.engine import make_url

        name = f"bench_load_{secrets.token_hex(4)}"
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            yield make_url(PG_URL).set(drivername="postgresql+psycopg", database=name
                                       ).render_as_string(hide_password=False)
        finally:
            with psycopg.connect(PG_URL, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def warehouse_with_table(url: str) -> Warehouse:
    """The data table as a run creates it (columns and the (extract, date) index)."""
    wh = Warehouse(make_engine(url))
    wh.ensure_table(TABLE, FIELDS, "date", "Bench load")
    return wh


def count(url: str) -> int:
    wh = Warehouse(make_engine(url))
    try:
        with wh.engine.connect() as conn:
            return int(conn.exec_driver_sql(f"SELECT count(*) FROM {TABLE}").scalar_one())
    finally:
        wh.engine.dispose()


# ----------------------------------------------------------------------------- contenders
# Each takes the source and a fresh database URL, prepares what it needs, and returns the
# seconds its load took.


def ours(source: Source, url: str) -> float:
    wh = warehouse_with_table(url)
    try:
        started = time.perf_counter()
        loaded = wh.replace_window(table_name=TABLE, window=source.window, fields=FIELDS,
                                   chunks=iter(source.chunks), system_values=source.system)
        seconds = time.perf_counter() - started
    finally:
        wh.engine.dispose()
    assert loaded == source.rows == count(url)
    return seconds


def ours_rerun(source: Source, url: str) -> float:
    """The same window loaded a second time: the delete of 1M rows is part of it."""
    ours(source, url)
    seconds = ours(source, url)
    return seconds


def raw_executemany(source: Source, url: str) -> float:
    warehouse_with_table(url).engine.dispose()
    rows = [sqlite_rows(batch) for batch in source.arrow()]
    marks = ", ".join("?" for _ in source.names())
    conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    started = time.perf_counter()
    conn.execute("BEGIN")
    for chunk in rows:
        conn.executemany(f"INSERT INTO {TABLE} VALUES ({marks})", chunk)
    conn.execute("COMMIT")
    seconds = time.perf_counter() - started
    conn.close()
    assert count(url) == source.rows
    return seconds


def pandas_to_sql(source: Source, url: str) -> float:
    wh = warehouse_with_table(url)
    frames = source.frames()
    started = time.perf_counter()
    with wh.engine.begin() as conn:
        for frame in frames:
            frame.to_sql(TABLE, conn, if_exists="append", index=False)
    seconds = time.perf_counter() - started
    wh.engine.dispose()
    assert count(url) == source.rows
    return seconds


def raw_copy(source: Source, url: str) -> float:
    import psycopg
    from sqlalchemy.engine import make_url

    warehouse_with_table(url).engine.dispose()
    import pgpq

    batches = source.arrow()
    encoder = pgpq.ArrowToPostgresBinaryEncoder(batches[0].schema)
    payloads = [encoder.write_header()]
    payloads += [encoder.write_batch(b) for batch in batches for b in batch.to_batches()]
    payloads.append(encoder.finish())
    columns = ", ".join(f'"{n}"' for n in source.names())
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo) as conn, conn.cursor() as cursor:
        started = time.perf_counter()
        with cursor.copy(f"COPY {TABLE} ({columns}) FROM STDIN (FORMAT binary)") as copy:
            for payload in payloads:
                copy.write(payload)
        conn.commit()
        seconds = time.perf_counter() - started
    assert count(url) == source.rows
    return seconds


def raw_duckdb_insert(source: Source, url: str) -> float:
    import duckdb

    warehouse_with_table(url).engine.dispose()
    everything = pa.concat_tables(source.arrow())
    conn = duckdb.connect(url.removeprefix("duckdb:///"))
    conn.register("arrow_rows", everything)
    started = time.perf_counter()
    conn.execute(f"INSERT INTO {TABLE} SELECT * FROM arrow_rows")
    seconds = time.perf_counter() - started
    conn.close()
    assert count(url) == source.rows
    return seconds


def dlt_load(destination: str) -> Callable[[Source, str], float]:
    def load(source: Source, url: str) -> float:
        import dlt
        from sqlalchemy.engine import make_url

        frames = source.frames()
        with tempfile.TemporaryDirectory(prefix="bench-dlt-") as pipelines_dir:
            if destination == "sqlalchemy":
                target: Any = dlt.destinations.sqlalchemy(credentials=url)
            elif destination == "duckdb":
                target = dlt.destinations.duckdb(credentials=url.removeprefix("duckdb:///"))
            else:
                # dlt insists on a password; a trust-auth server ignores it.
                parsed = make_url(url).set(drivername="postgresql")
                target = dlt.destinations.postgres(credentials=parsed.set(
                    password=parsed.password or "unused").render_as_string(hide_password=False))
            pipeline = dlt.pipeline(pipeline_name=f"bench_{secrets.token_hex(3)}",
                                    pipelines_dir=pipelines_dir, destination=target,
                                    dataset_name="main" if destination != "postgres"
                                    else "bench")
            started = time.perf_counter()
            info = pipeline.run(iter(frames), table_name=TABLE, write_disposition="append")
            seconds = time.perf_counter() - started
            info.raise_on_failed_jobs()
        return seconds

    return load


CONTENDERS: dict[str, list[tuple[str, Callable[[Source, str], float]]]] = {
    "sqlite": [("replace_window", ours), ("replace_window, re-run of the window", ours_rerun),
               ("raw sqlite3.executemany", raw_executemany),
               ("pandas.DataFrame.to_sql", pandas_to_sql),
               ("dlt (sqlalchemy destination)", dlt_load("sqlalchemy"))],
    "postgresql": [("replace_window", ours),
                   ("replace_window, re-run of the window", ours_rerun),
                   ("raw binary COPY", raw_copy),
                   ("dlt (postgres destination)", dlt_load("postgres"))],
    "duckdb": [("replace_window", ours), ("replace_window, re-run of the window", ours_rerun),
               ("raw INSERT ... SELECT * FROM arrow", raw_duckdb_insert),
               ("dlt (duckdb destination)", dlt_load("duckdb"))],
}


def _slow(chunks: list[pa.Table], delay: float) -> Iterator[pa.Table]:
    """The chunks as a source that takes `delay` seconds to fetch each (an HTTP API)."""
    for chunk in chunks:
        time.sleep(delay)
        yield chunk


def contention(source: Source, delay: float) -> list[tuple[str, float, float]]:
    """SQLite has one writer. While a big window loads from a slow source, a small load of
    another extract starts: how long does it take? Staged (replace_window) versus writing
    straight into the table inside the transaction. Returns (method, big s, small s)."""
    small = source.chunks[0].slice(0, 1_000)
    small_window = Window(2, "date", source.window.date_from, source.window.date_to)
    out = []
    with tempfile.TemporaryDirectory(prefix="bench-contention-") as tmp:
        for method in ("staged (replace_window)", "direct (write inside the transaction)"):
            url = f"sqlite:///{Path(tmp) / f'{secrets.token_hex(4)}.db'}"
            wh = warehouse_with_table(url)
            times: dict[str, float] = {}

            def big(method: str = method, wh: Warehouse = wh, url: str = url,
                    times: dict[str, float] = times) -> None:
                started = time.perf_counter()
                chunks = _slow(source.chunks, delay)
                if method.startswith("staged"):
                    wh.replace_window(table_name=TABLE, window=source.window, fields=FIELDS,
                                      chunks=chunks, system_values=source.system)
                else:
                    names = source.names()
                    marks = ", ".join("?" for _ in names)
                    conn = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=60,
                                           isolation_level=None)
                    conn.execute("BEGIN IMMEDIATE")
                    conn.execute(f"DELETE FROM {TABLE} WHERE __extract_id = 1")
                    fields = [f.name for f in FIELDS]
                    for chunk in chunks:
                        batch = arrow.with_constants(arrow.conform(chunk, fields,
                                                                   source.types()),
                                                     source.system, source.types())
                        conn.executemany(f"INSERT INTO {TABLE} VALUES ({marks})",
                                         sqlite_rows(batch))
                    conn.execute("COMMIT")
                    conn.close()
                times["big"] = time.perf_counter() - started

            thread = threading.Thread(target=big)
            thread.start()
            time.sleep(delay * 3)  # the big load is fetching by now
            started = time.perf_counter()
            wh.replace_window(table_name=TABLE, window=small_window, fields=FIELDS,
                              chunks=iter([small]), system_values={**source.system,
                                                                   "__extract_id": 2})
            times["small"] = time.perf_counter() - started
            thread.join()
            wh.engine.dispose()
            out.append((method, times["big"], times["small"]))
            print(f"contention {method:40} big {times['big']:.2f} s, small "
                  f"{times['small']:.2f} s", file=sys.stderr, flush=True)
    return out


@dataclass
class Result:
    database: str
    contender: str
    rows: int
    seconds: float | None
    note: str = ""


def measure(source: Source, kinds: list[str], repeat: int) -> list[Result]:
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        for kind in kinds:
            for name, load in CONTENDERS[kind]:
                times: list[float] = []
                note = ""
                for _ in range(repeat):
                    gc.collect()
                    try:
                        with database(kind, Path(tmp)) as url:
                            times.append(load(source, url))
                    except ImportError as exc:
                        note = f"skipped: {exc.name} is not installed (requirements-bench.txt)"
                        break
                best = min(times) if times else None
                results.append(Result(kind, name, source.rows, best, note))
                shown = f"{best:.2f} s" if best is not None else note
                print(f"{kind:10} {name:40} {shown}", file=sys.stderr, flush=True)
    return results


def report(results: list[Result]) -> str:
    ours_seconds = {r.database: r.seconds for r in results if r.contender == "replace_window"}
    lines = ["| database | contender | seconds | rows/s | replace_window vs it | target |",
             "| --- | --- | ---: | ---: | ---: | --- |"]
    for r in results:
        if r.seconds is None:
            lines.append(f"| {r.database} | {r.contender} | | | | {r.note} |")
            continue
        mine = ours_seconds.get(r.database)
        ratio = "" if r.contender == "replace_window" or mine is None else (
            f"{r.seconds / mine:.2f}x")
        target = TARGETS.get((r.database, r.contender))
        verdict = ""
        if target is not None and mine is not None:
            met = r.seconds / mine >= target if target != 1.0 else r.seconds > mine
            verdict = (f"≥ {target}x: {'met' if met else 'MISSED'}" if target != 1.0
                       else f"faster: {'met' if met else 'MISSED'}")
        if r.contender.endswith("re-run of the window") and mine is not None:
            verdict = f"about the same as the first load ({r.seconds / mine:.2f}x its time)"
            ratio = ""
        lines.append(f"| {r.database} | {r.contender} | {r.seconds:.2f} | "
                     f"{r.rows / r.seconds:,.0f} | {ratio} | {verdict} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--only", action="append", choices=list(CONTENDERS),
                        help="a database to measure (repeatable); default all")
    parser.add_argument("--repeat", type=int, default=1, help="best of N per contender")
    parser.add_argument("--json", action="store_true", help="print the results as JSON too")
    parser.add_argument("--contention", type=float, default=0.1, metavar="SECONDS",
                        help="SQLite: fetch delay per chunk for the contention figure (0: off)")
    args = parser.parse_args(argv)
    source = fetch(args.rows)
    print(f"{source.rows:,} rows, {len(source.names())} columns, fetched "
          f"{date.today().isoformat()}", file=sys.stderr)
    results = measure(source, args.only or list(CONTENDERS), args.repeat)
    print(report(results))
    if args.contention and "sqlite" in (args.only or list(CONTENDERS)):
        print(f"\nSQLite, a 1,000-row load of another extract started while the big window "
              f"fetches ({args.contention:g} s per 50,000-row chunk):\n")
        print("| method | big window (s) | small load waited (s) |\n| --- | ---: | ---: |")
        for method, big, small in contention(source, args.contention):
            print(f"| {method} | {big:.2f} | {small:.2f} |")
    if args.json:
        print(json.dumps([r.__dict__ for r in results]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
