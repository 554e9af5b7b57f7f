"""Engines: SQLite pragmas and its write lock, read-only transactions, PostgreSQL lock
timeouts and search path, DuckDB settings and its one-process file lock."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.dialects.sqlite.base import SQLiteCompiler
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from core import errors
from core.config import Settings
from core.warehouse import WRITE_LOCK

READ_ONLY = "extracts_read_only"  # execution option and session.info key: only reads


class _SQLiteCompiler(SQLiteCompiler):
    """SQLite's compiler, writing a table's hint after its name (SQLAlchemy's own writes
    none): `with_hint(Run, "INDEXED BY ix_runs_history", dialect_name="sqlite")`."""

    def get_from_hint_text(self, table: Any, text: str | None) -> str | None:
        return text


def make_engine(url: str, *, immediate: bool = False, busy_timeout: float = 30.0,
                schema: str | None = None,
                duckdb_settings: Mapping[str, str | int] | None = None) -> Engine:
    """An engine for `url`; SQLite gets WAL, foreign keys and a busy timeout (seconds),
    PostgreSQL a lock timeout of as long (and, with `schema`, that schema as the place its
    unqualified names live: the warehouse's data tables).

    With `immediate`, every SQLite transaction starts with BEGIN IMMEDIATE: it takes the
    write lock up front, so two processes claiming runs wait for each other instead of
    failing on a stale snapshot. Without it, only the connections given the execution
    option `WRITE_LOCK` (the warehouse's schema changes) begin that way. Connections given
    `READ_ONLY` (see `read_only_engine`) begin a plain BEGIN with `PRAGMA query_only` on: they
    never wait for the write lock, and any write in them fails.

    `duckdb_settings` are set on every DuckDB connection (`SET name = value`), e.g. its
    memory_limit, threads and temp_directory.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "duckdb":
        return _duckdb_engine(url, duckdb_settings or {})
    if parsed.get_backend_name() == "postgresql":
        # A lock wait ends at the busy timeout, as SQLite's does (SQLSTATE 55P03, transient
        # for a run): a holder that never goes on (a worker process stopped mid-transaction)
        # fails the waiter instead of hanging it.
        options = f"-c lock_timeout={max(1, round(busy_timeout * 1000))}"
        if schema is not None:
            options += f" -c search_path={schema}"
        return create_engine(url, pool_pre_ping=True, connect_args={"options": options})
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": busy_timeout,
                                              "check_same_thread": False})
    # Where the planner's pick is known to read far more (core.services.history.daily),
    # the query names its index: failure groups of a 200,000-run history 172 -> 55 ms
    # (docs/benchmarks.md, bench_failure_groups).
    engine.dialect.statement_compiler = _SQLiteCompiler

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        cursor.execute("PRAGMA temp_store=FILE")
        # 64 MB of page cache (default 2 MB): a load's index updates stay in memory; the
        # 1M-row swap of bench_load takes half the time.
        cursor.execute("PRAGMA cache_size=-65536")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        options = conn.get_execution_options()
        read_only = options.get(READ_ONLY, False)
        # The pragma stays with the pooled connection: set it only when this use differs.
        pooled = conn.connection.info
        if pooled.get(READ_ONLY, False) != read_only:
            conn.exec_driver_sql(f"PRAGMA query_only={'ON' if read_only else 'OFF'}")
            pooled[READ_ONLY] = read_only
        # A deferred transaction that reads, then writes, fails at once ("database is
        # locked") if another connection wrote meanwhile: the busy timeout cannot help it.
        # One that only reads never writes, and in WAL mode never waits for a writer.
        write_lock = not read_only and (immediate or options.get(WRITE_LOCK, False))
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write_lock else "BEGIN")

    return engine


def read_only_engine(engine: Engine) -> Engine:
    """`engine` for transactions that only read: on SQLite a plain BEGIN with
    `PRAGMA query_only` (no write lock taken or waited for), on PostgreSQL a READ ONLY
    transaction. A write in one fails in the database, whatever the code above it does."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(postgresql_readonly=True)
    return engine.execution_options(**{READ_ONLY: True})


def _duckdb_engine(url: str, settings: Mapping[str, str | int]) -> Engine:
    """A DuckDB warehouse. DuckDB lets one process at a time open a file for writing; the
    pool keeps no idle connection (the file is free between loads) and a file another
    process holds is refused with a Conflict naming both, not a lock traceback."""
    path = make_url(url).database or ":memory:"
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    if spill := settings.get("temp_directory"):
        Path(str(spill)).mkdir(parents=True, exist_ok=True)  # DuckDB makes only the last
    engine = create_engine(url, poolclass=NullPool)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # SET, not connect()'s config: DuckDB refuses a second connection to an open file
        # whose config differs, and these are the instance's settings either way.
        for name, value in settings.items():
            dbapi_connection.execute(f"SET {name} = ?", [value])

    @event.listens_for(engine, "do_connect")
    def _connect(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        try:
            return dialect.connect(*cargs, **cparams)
        except Exception as exc:
            if "lock" not in str(exc).lower():
                raise
            holder = re.search(r"PID (\d+)", str(exc))
            raise errors.Conflict(
                f"the DuckDB warehouse {path} is open in another process"
                + (f" (PID {holder.group(1)})" if holder else "")
                + "; DuckDB lets one process at a time use a file: stop that process, or "
                "run the dashboard, API and worker as one process (python3 dev.py run)"
            ) from None

    return engine


def duckdb_settings(settings: Settings) -> dict[str, str | int]:
    """What a DuckDB warehouse is told on each connection: the memory it may use (a load
    holds its rows until the commit; beyond the limit they spill to the var folder) and
    its threads (each holds buffers of its own). See docs/benchmarks.md, "Pipeline"."""
    return {"memory_limit": settings.duckdb_memory_limit,
            "threads": settings.duckdb_threads,
            "temp_directory": str(settings.var_dir / "duckdb-spill")}
