"""Source to warehouse, end to end: the product against a hand-written floor and dlt.

    .venv/bin/python -m bench.bench_pipeline                    # 200,000 rows, every path
    .venv/bin/python -m bench.bench_pipeline --rows 1000000 --write
    .venv/bin/python -m bench.bench_pipeline --path parquet-sqlite --rounds 1

Paths: Parquet -> SQLite, Parquet -> DuckDB, PostgreSQL -> SQLite, PostgreSQL -> DuckDB, and
the load alone into PostgreSQL (the Parquet file's batches, read by pyarrow inside the clock
by every contender alike, -> a data table). The rows are ten columns over ten days
(bench_connectors.make_rows; `spend` is NUMERIC in PostgreSQL).

Contenders, each in a process of its own, interleaved round by round (the machine is shared:
others' load only adds time, so each figure is the best of the rounds):

- **product**: a fresh metadata database and warehouse, a connection, an extract of the ten
  fields, its data table (as after a first run), and one run of the ten-day window by
  `core.runner.execute_run` (claiming the run, fetch, cast, filters, the window, the fenced
  load and recording the outcome); the setup is not timed. The load alone is
  `Warehouse.replace_window` of the file's batches. Its process allocates as the product's
  entry points make it (`ARROW_DEFAULT_MEMORY_POOL=system`, core/__init__.py), with the
  DuckDB settings' defaults (EXTRACTS_DUCKDB_MEMORY_LIMIT, EXTRACTS_DUCKDB_THREADS).
- **floor**: hand-written; pyarrow (ADBC for PostgreSQL) reads the source, and the database's
  fastest native bulk path writes the same rows, system columns included, into an identical
  table (created by `Warehouse.ensure_table`: same types, same index, same pragmas): SQLite
  ADBC ingest into a scratch file and one `INSERT ... SELECT` (faster than ADBC's ingest
  straight into the indexed table), DuckDB `INSERT ... SELECT` from an Arrow stream,
  PostgreSQL one binary COPY (pgpq, encoding included). pyarrow's defaults (mimalloc; DuckDB
  with its own defaults: no memory limit, a thread per core).
- **dlt** (requirements-bench.txt): `sql_table(backend="pyarrow")` for PostgreSQL sources,
  pyarrow batches of the Parquet file otherwise, into its sqlalchemy (SQLite), duckdb and
  postgres destinations.

Every contender's rows are counted in its destination afterwards and must equal the source's.
Peak RSS is each process's high-water mark (getrusage). `--write` puts the table in
docs/benchmarks.md's "Pipeline" section and every figure in docs/bench_pipeline_<rows>.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import resource
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.bench_connectors import DAYS, FIELDS, PG_URL, _drop_postgres, _first_day

PATHS = ("parquet-sqlite", "parquet-duckdb", "postgresql-sqlite", "postgresql-duckdb",
         "load-postgresql")
CONTENDERS = ("product", "floor", "dlt")
TABLE = "bench_stats"
DOCS = Path(__file__).resolve().parent.parent / "docs"
SYSTEM: dict[str, Any] = {"account_id": "all", "account_name": "Bench account",
          "__insert_date": datetime(2026, 11, 28, 10, 0), "__extract_id": 1, "__run_id": 1}
TARGETS = {  # (vs the floor, vs dlt), from issue 18
    "parquet-sqlite": (0.9, 3.0), "parquet-duckdb": (0.85, 1.5),
    "postgresql-sqlite": (0.85, 3.0), "postgresql-duckdb": (0.8, 2.0),
    "load-postgresql": (0.8, 3.0),
}


@dataclass
class Result:
    """One measured contender on one path in one round."""

    path: str
    contender: str
    round: int
    rows: int
    seconds: float
    peak_rss_mb: float


@dataclass
class Place:
    """Where the source rows live, and where a contender writes."""

    folder: Path
    pg_schema: str
    rows: int

    @property
    def parquet(self) -> Path:
        return self.folder / "ads.parquet"

    def source_url(self) -> str:
        return PG_URL

    def field_specs(self) -> list[Any]:
        from core.connectors.base import FieldSpec

        types = {"day": "date", "impressions": "integer", "clicks": "integer",
                 "spend": "number", "conversions": "integer", "revenue": "number"}
        return [FieldSpec(n, types.get(n, "string"),  # type: ignore[arg-type]
                          "metric" if types.get(n) in ("integer", "number") else "dimension")
                for n in FIELDS]


# -- helpers of the contenders ---------------------------------------------------------------


def _window() -> tuple[date, date]:
    return _first_day(), _first_day() + timedelta(days=DAYS - 1)


def _pg_adbc_uri(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _fresh_pg_database() -> tuple[str, str]:
    """A new PostgreSQL database for one measurement: (name, SQLAlchemy URL)."""
    import psycopg
    from sqlalchemy.engine import make_url

    name = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(_pg_adbc_uri(PG_URL), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name, make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


def _drop_pg_database(name: str) -> None:
    import psycopg

    with psycopg.connect(_pg_adbc_uri(PG_URL), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _warehouse_url(path: str, folder: Path) -> str:
    kind = path.split("-")[1]
    if kind == "sqlite":
        return f"sqlite:///{folder / 'warehouse.db'}"
    return f"duckdb:///{folder / 'warehouse.duckdb'}"


def _count(url: str, table: str) -> int:
    import sqlalchemy as sa

    from core.db import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())
    finally:
        engine.dispose()


def _fields(table: Any, specs: list[Any]) -> Any:
    from core.warehouse import arrow

    return arrow.conform(table, FIELDS, {f.name: f.type for f in specs})


def _with_system(table: Any, specs: list[Any]) -> Any:
    from core.warehouse import SYSTEM_COLUMNS, arrow

    types = {f.name: f.type for f in (*SYSTEM_COLUMNS, *specs)}
    return arrow.with_constants(arrow.conform(table, FIELDS, types), SYSTEM, types)


def _source_batches(path: str, place: Place) -> Iterator[Any]:
    """The floor's read of the source: pyarrow for Parquet, ADBC for PostgreSQL."""
    if path.startswith("parquet") or path == "load-postgresql":
        import pyarrow.parquet as pq

        yield from pq.ParquetFile(place.parquet).iter_batches(50_000)
        return
    import adbc_driver_postgresql.dbapi as adbc_postgresql

    start, stop = _window()
    columns = ", ".join(f'"{n}"' for n in FIELDS)
    with adbc_postgresql.connect(_pg_adbc_uri(PG_URL)) as conn, conn.cursor() as cursor:
        # Literal dates: ADBC streams (COPY) only a statement without parameters.
        cursor.execute(f'SELECT {columns} FROM "{place.pg_schema}".ads '
                       f"WHERE day BETWEEN '{start.isoformat()}' AND '{stop.isoformat()}'")
        yield from cursor.fetch_record_batch()


# -- the contenders --------------------------------------------------------------------------


MIGRATE = ("import json, sys; from core.config import get_settings; "
           "from core.db import open_database; "
           "open_database(get_settings(json.loads(sys.argv[1])), seed=False).dispose()")


def product(path: str, place: Place, work: Path) -> tuple[float, int]:
    if path == "load-postgresql":
        return _product_load(place)
    from core import runner, service
    from core.config import get_settings
    from core.connectors.base import FieldSpec
    from core.db import open_database

    warehouse_url = _warehouse_url(path, work)
    values = {"EXTRACTS_VAR_DIR": str(work / "var"),
              "EXTRACTS_SECRET_KEY": "bench",
              "EXTRACTS_WAREHOUSE_URL": warehouse_url,
              "EXTRACTS_FILES_ROOTS": str(place.folder),
              # To measure other DuckDB settings than the defaults:
              **{k: v for k, v in os.environ.items() if k.startswith("EXTRACTS_DUCKDB_")}}
    # Another process makes (migrates) the metadata database first, as a worker of a running
    # deployment finds it: this process opens it as it stands (and so never imports alembic).
    subprocess.run([sys.executable, "-c", MIGRATE, json.dumps(values)], check=True)
    db = open_database(get_settings(values), seed=False)
    try:
        if path.startswith("parquet"):
            connection: dict[str, Any] = {"datasource": "files",
                                          "config": {"path": str(place.parquet)}}
        else:
            connection = {"datasource": "sql",
                          "config": {"url": PG_URL, "schema": place.pg_schema}}
        date_from, date_to = _window()
        with db.session() as session:
            created = service.create_connection(session=session,
                                                data={"title": path, **connection})
            [template] = [t for t in service.list_templates(session=session,
                                                            connection_id=created.id)
                          if t.connection_id == created.id and t.name in ("ads", "files")]
            [extract] = service.create_extracts(session=session, data={
                "data_table_title": TABLE, "template_id": template.id,
                "template_settings": {"fields": FIELDS},
                "accounts": [created.accounts[0].id]})
            [run] = service.run_extract(session=session, extract_id=extract.id,
                                        date_from=date_from, date_to=date_to)
            table = service.get_data_table(session=session,
                                           data_table_id=extract.data_table_id)
            types = {f.name: f.type for f in template.fields}
        # The data table exists, as after the extract's first run (and as the floor's does).
        specs = [FieldSpec(n, types[n], "dimension") for n in FIELDS]  # type: ignore[arg-type]
        db.warehouse.ensure_table(table.table_name, specs, template.date_field, TABLE)
        started = time.perf_counter()
        done = runner.execute_run(db=db, run_id=run.id)
        seconds = time.perf_counter() - started
        if done.status != "succeeded":
            raise SystemExit(f"{path}: the run {done.status}: {done.error}")
    finally:
        db.dispose()
    return seconds, _count(warehouse_url, TABLE)


def _product_load(place: Place) -> tuple[float, int]:
    import pyarrow.parquet as pq

    from core.db import make_engine
    from core.warehouse import Warehouse, Window

    name, url = _fresh_pg_database()
    try:
        warehouse = Warehouse(make_engine(url))
        specs = place.field_specs()
        warehouse.ensure_table(TABLE, specs, "day", TABLE)
        started = time.perf_counter()
        # The batches as the file holds them: replace_window casts them to the fields' types.
        chunks = pq.ParquetFile(place.parquet).iter_batches(50_000)
        warehouse.replace_window(table_name=TABLE, window=Window(1, "day", *_window()),
                                 fields=specs, chunks=chunks, system_values=SYSTEM)
        seconds = time.perf_counter() - started
        warehouse.engine.dispose()
        return seconds, _count(url, TABLE)
    finally:
        _drop_pg_database(name)


def floor(path: str, place: Place, work: Path) -> tuple[float, int]:
    from core.db import make_engine
    from core.warehouse import Warehouse

    specs = place.field_specs()
    if path == "load-postgresql":
        name, url = _fresh_pg_database()
    else:
        name, url = "", _warehouse_url(path, work)
    try:
        warehouse = Warehouse(make_engine(url))
        warehouse.ensure_table(TABLE, specs, "day", TABLE)  # the same table and index
        warehouse.engine.dispose()
        if path == "load-postgresql":
            import psycopg

            with psycopg.connect(_pg_adbc_uri(url)) as conn:  # connected before the clock
                started = time.perf_counter()
                _floor_postgres(conn, (_with_system(b, specs)
                                       for b in _source_batches(path, place)))
        else:
            started = time.perf_counter()
            if path.endswith("sqlite"):
                _floor_sqlite(work / "warehouse.db", (_fields(b, specs)
                                                      for b in _source_batches(path, place)))
            else:
                _floor_duckdb(work / "warehouse.duckdb", (
                    _with_system(b, specs) for b in _source_batches(path, place)))
        seconds = time.perf_counter() - started
        return seconds, _count(url, TABLE)
    finally:
        if name:
            _drop_pg_database(name)


def _floor_sqlite(file: Path, batches: Iterator[Any]) -> None:
    """ADBC binds the fields into a scratch file (no journal), then one INSERT ... SELECT in
    C moves them into the indexed table, the system values as its parameters. Measured
    faster than ADBC's ingest straight into the indexed WAL table (0.76 s against 0.50 s for
    the product, best of three at 200,000 rows, 2026-12-01) and than staging the constant
    columns too, so that is the floor."""
    import sqlite3

    import adbc_driver_sqlite.dbapi as adbc_sqlite

    from core.warehouse import arrow

    scratch = file.with_name("scratch.db")
    with adbc_sqlite.connect(str(scratch), autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode=OFF")
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.execute("BEGIN")
        for number, batch in enumerate(batches):
            cursor.adbc_ingest("rows", arrow.for_sqlite(batch),
                               mode="append" if number else "create")
        cursor.execute("COMMIT")
    constants = [SYSTEM[name] if name != "__insert_date" else
                 SYSTEM[name].strftime("%Y-%m-%d %H:%M:%S.%f") for name in SYSTEM]
    target = sqlite3.connect(file, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "cache_size=-65536"):
        target.execute(f"PRAGMA {pragma}")
    target.execute("ATTACH DATABASE ? AS scratch", (str(scratch),))
    target.execute("BEGIN IMMEDIATE")
    columns = ", ".join(f'"{n}"' for n in [*SYSTEM, *FIELDS])
    values = ", ".join(["?"] * len(SYSTEM) + [f'"{n}"' for n in FIELDS])
    target.execute(f"INSERT INTO main.{TABLE} ({columns}) SELECT {values} FROM scratch.rows",
                   constants)
    target.execute("COMMIT")
    target.close()


def _floor_duckdb(file: Path, batches: Iterator[Any]) -> None:
    import duckdb
    import pyarrow as pa

    first = next(batches)
    reader = pa.RecordBatchReader.from_batches(
        first.schema, (b for t in itertools.chain([first], batches) for b in t.to_batches()))
    conn = duckdb.connect(str(file))
    conn.register("rows", reader)
    conn.execute(f"INSERT INTO {TABLE} SELECT * FROM rows")
    conn.close()


def _floor_postgres(conn: Any, tables: Iterator[Any]) -> None:
    import pgpq

    first = next(tables)
    columns = ", ".join(f'"{n}"' for n in first.column_names)
    with conn.cursor() as cursor:
        encoder = pgpq.ArrowToPostgresBinaryEncoder(first.schema)
        with cursor.copy(f"COPY {TABLE} ({columns}) FROM STDIN (FORMAT binary)") as copy:
            copy.write(encoder.write_header())
            for table in itertools.chain([first], tables):
                for batch in table.to_batches():
                    copy.write(encoder.write_batch(batch))
            copy.write(encoder.finish())
        conn.commit()


def dlt_contender(path: str, place: Place, work: Path) -> tuple[float, int]:
    import dlt
    from sqlalchemy.engine import make_url

    name = ""
    if path == "load-postgresql":
        name, url = _fresh_pg_database()
        parsed = make_url(url).set(drivername="postgresql")
        # dlt insists on a password; a trust-auth server ignores it.
        target: Any = dlt.destinations.postgres(credentials=parsed.set(
            password=parsed.password or "unused").render_as_string(hide_password=False))
        dataset = "bench"
        count_table = f"bench.{TABLE}"
    elif path.endswith("sqlite"):
        url = _warehouse_url(path, work)
        target = dlt.destinations.sqlalchemy(credentials=url)
        dataset, count_table = "main", TABLE
    else:
        url = _warehouse_url(path, work)
        target = dlt.destinations.duckdb(credentials=str(work / "warehouse.duckdb"))
        dataset, count_table = "main", f"main.{TABLE}"
    try:
        pipeline = dlt.pipeline(pipeline_name=f"bench_{secrets.token_hex(3)}",
                                pipelines_dir=str(work / "dlt"), destination=target,
                                dataset_name=dataset)
        specs = place.field_specs()
        if path == "load-postgresql" or path.startswith("parquet"):
            started = time.perf_counter()
            data: Any = (_with_system(b, specs) for b in _source_batches(path, place))
        else:
            from dlt.sources.sql_database import sql_table

            started = time.perf_counter()
            data = sql_table(credentials=PG_URL, table="ads",
                             schema=place.pg_schema, backend="pyarrow", chunk_size=50_000)
        info = pipeline.run(data, table_name=TABLE, write_disposition="append")
        seconds = time.perf_counter() - started
        info.raise_on_failed_jobs()
        return seconds, _count(url, count_table)
    finally:
        if name:
            _drop_pg_database(name)


RUNNERS: dict[str, Callable[[str, Place, Path], tuple[float, int]]] = {
    "product": product, "floor": floor, "dlt": dlt_contender}


def _child(path: str, contender: str, place: Place, round_: int) -> Result:
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        seconds, rows = RUNNERS[contender](path, place, Path(tmp))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return Result(path, contender, round_, rows, round(seconds, 3), round(peak, 1))


# -- the parent ------------------------------------------------------------------------------


def _prepare(rows: int, folder: Path) -> Place:
    """The rows as a Parquet file and a PostgreSQL table (made in a child process, so that
    this one stays small)."""
    subprocess.run([sys.executable, "-m", "bench.bench_connectors", "--write", str(folder),
                    "--rows", str(rows)], check=True)
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    from bench.bench_connectors import _load_postgres

    _load_postgres(folder / "ads.csv", schema)
    return Place(folder, schema, rows)


def _run_child(path: str, contender: str, place: Place, round_: int) -> Result:
    # The product's process allocates as its entry points make it (core/__init__.py): this
    # process imports pandas, and with it Arrow, before core. The others keep Arrow's own.
    env = {**os.environ, "ARROW_DEFAULT_MEMORY_POOL": "system"} if contender == "product" \
        else {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    out = subprocess.run(
        [sys.executable, "-m", "bench.bench_pipeline", "--child", path, contender,
         "--place", json.dumps({"folder": str(place.folder), "pg_schema": place.pg_schema,
                                "rows": place.rows}), "--round", str(round_)],
        capture_output=True, text=True, env=env)
    if out.returncode:
        raise SystemExit(f"{path} {contender} failed:\n{out.stderr[-3000:]}")
    result = Result(**json.loads(out.stdout.strip().splitlines()[-1]))
    if result.rows != place.rows:
        raise SystemExit(f"{path} {contender}: {result.rows:,} rows in the destination, "
                         f"{place.rows:,} in the source")
    return result


def best(results: list[Result]) -> dict[tuple[str, str], Result]:
    """The fastest round of each (path, contender)."""
    out: dict[tuple[str, str], Result] = {}
    for r in results:
        key = (r.path, r.contender)
        if key not in out or r.seconds < out[key].seconds:
            out[key] = r
    return out


def report(results: list[Result], paths: list[str]) -> str:
    top = best(results)
    lines = ["| path | product s | floor s | dlt s | product vs the floor | target | "
             "product vs dlt | target | product peak RSS (MB) |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for path in paths:
        ours, low, peer = (top.get((path, c)) for c in CONTENDERS)
        if ours is None:
            continue

        cell = [f"{r.seconds:.2f}" if r else "" for r in (ours, low, peer)]
        ratio = [f"**{r.seconds / ours.seconds:.2f}x**" if r else "" for r in (low, peer)]
        floor_target, dlt_target = TARGETS[path]
        lines.append(f"| {path.replace('-', ' -> ')} | {' | '.join(cell)} | {ratio[0]} | "
                     f">= {floor_target}x | {ratio[1]} | >= {dlt_target}x | "
                     f"{ours.peak_rss_mb:.0f} |")
    return "\n".join(lines)


def _write_docs(rows: int, table: str, payload: dict[str, Any]) -> None:
    """The JSON of a size next to the doc, and its table between the doc's markers."""
    (DOCS / f"bench_pipeline_{rows}.json").write_text(json.dumps(payload, indent=2) + "\n")
    doc = DOCS / "benchmarks.md"
    text = doc.read_text()
    start, end = f"<!-- pipeline-table {rows} -->", f"<!-- /pipeline-table {rows} -->"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        doc.write_text(f"{head}{start}\n{table}\n{end}{tail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--path", action="append", choices=PATHS,
                        help="a path to measure (repeatable); default all")
    parser.add_argument("--contender", action="append", choices=CONTENDERS,
                        help="a contender to run (repeatable); default all")
    parser.add_argument("--write", action="store_true",
                        help="write the table into docs/benchmarks.md and the JSON beside it")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--place", help=argparse.SUPPRESS)
    parser.add_argument("--round", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        place = Place(**{**json.loads(args.place),
                         "folder": Path(json.loads(args.place)["folder"])})
        path, contender = args.child
        print(json.dumps(asdict(_child(path, contender, place, args.round))))
        return 0
    paths = args.path or list(PATHS)
    contenders = args.contender or list(CONTENDERS)
    load_before = os.getloadavg()
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-src-") as tmp:
        place = _prepare(args.rows, Path(tmp))
        try:
            for round_ in range(1, args.rounds + 1):
                for path in paths:
                    for contender in contenders:
                        result = _run_child(path, contender, place, round_)
                        results.append(result)
                        print(f"round {round_} {path:18} {contender:8} {result.seconds:7.2f} s "
                              f"{result.rows:,} rows, peak {result.peak_rss_mb:.0f} MB, "
                              f"load {os.getloadavg()[0]:.1f}", file=sys.stderr, flush=True)
        finally:
            _drop_postgres(place.pg_schema)
    load_after = os.getloadavg()
    table = report(results, paths)
    print(table)
    print(f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after")
    if args.write:
        _write_docs(args.rows, table, {
            "measured": datetime.now(UTC).isoformat(timespec="seconds"),
            "rows": args.rows, "rounds": args.rounds,
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                        "platform": platform.platform()},
            "load_average": {"before": load_before, "after": load_after},
            "best": {f"{p} {c}": asdict(r) for (p, c), r in best(results).items()},
            "results": [asdict(r) for r in results],
        })
    return 0


if __name__ == "__main__":
    sys.exit(main())
