"""Engines, sessions and start-up: migrations, SQLite pragmas, the demo seed."""

from __future__ import annotations

import logging
import os
import re
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from core import audit, errors
from core.config import Settings, secret_key
from core.connectors import sandbox
from core.connectors.programs import installer
from core.crypto import Cipher
from core.models import DataTable
from core.schemas import Actor
from core.warehouse import WRITE_LOCK, Warehouse

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
READ_ONLY = "extracts_read_only"  # execution option and session.info key: only reads
WRITES_AFTER = "extracts_writes_after"  # session.info key: see write_after


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


@dataclass
class Database:
    """One deployment's metadata database, warehouse and secret cipher."""

    settings: Settings
    engine: Engine
    warehouse: Warehouse
    cipher: Cipher
    sessions: sessionmaker[Session]

    @cached_property
    def reader(self) -> Engine:
        """The metadata engine for sessions that only read (see read_only_engine)."""
        return read_only_engine(self.engine)

    @contextmanager
    def session(self, actor: Actor | None = None, now: datetime | None = None, *,
                read_only: bool = False) -> Iterator[Session]:
        """A session that commits on success and rolls back on error. With `actor`, its
        changes are checked against the actor's role and logged as theirs (core.audit).
        A `read_only` one takes no write lock, and the database refuses any write in it;
        what `write_after` gave it is written once it has closed, if it succeeded."""
        with (self.sessions(bind=self.reader) if read_only else self.sessions()) as session:
            session.info[READ_ONLY] = read_only
            audit.act_as(session, actor, now)
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise
        writes = session.info.pop(WRITES_AFTER, [])
        if writes:
            # After the read's connection went back to the pool: a reader never holds one
            # connection while it waits for another.
            with self.session() as writer:
                for write in writes:
                    write(writer)

    def release_space(self) -> None:
        """Truncate the write-ahead logs of the warehouse and the metadata database, so
        that recording a run's outcome after a full disk finds room."""
        for engine in (self.warehouse.engine, self.engine):
            try:
                release_wal(engine)
            except Exception as exc:  # nothing to give back, or still locked: go on
                log.warning("could not truncate the write-ahead log of %s: %s",
                            engine.url.render_as_string(hide_password=True), exc)

    def dispose(self) -> None:
        self.engine.dispose()
        self.warehouse.engine.dispose()


# -- faults of the databases ---------------------------------------------------------------
# The two faults a run meets that are not its source's: a full disk (a run that cannot
# finish; the message says so plainly), and a lock another connection held longer than the
# busy timeout (transient: the run is retried later). SQLite says them in words; PostgreSQL
# by SQLSTATE (53100 disk_full; 55P03 lock_not_available, raised by `lock_timeout`).
DISK_FULL = ("database or disk is full", "disk is full")
LOCKED = ("database is locked", "database table is locked")
PG_DISK_FULL, PG_LOCKED = "53100", "55P03"


def _driver_errors(exc: BaseException) -> Iterator[tuple[str | None, str]]:
    """(SQLSTATE or None, first line of the message) of each driver error in `exc`'s
    chain (SQLAlchemy wraps them); SQLite's errors have no SQLSTATE."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        original = getattr(current, "orig", None)
        for error in (current, original):
            if isinstance(error, sqlite3.Error):
                yield None, str(error)
            elif isinstance(state := getattr(error, "sqlstate", None), str):
                yield state, (str(error).strip().splitlines() or [state])[0]
        current = current.__cause__ or current.__context__


def _fault(exc: BaseException, words: tuple[str, ...], sqlstate: str) -> str | None:
    return next((message for state, message in _driver_errors(exc)
                 if (message.lower().startswith(words) if state is None else state == sqlstate)),
                None)


def disk_full(exc: BaseException) -> str | None:
    """The database's message if `exc` says the disk (or the database's size limit) is full."""
    return _fault(exc, DISK_FULL, PG_DISK_FULL)


def locked(exc: BaseException) -> str | None:
    """The database's message if `exc` is a lock held past the busy timeout."""
    return _fault(exc, LOCKED, PG_LOCKED)


# Disk space kept aside next to each SQLite file. A checkpoint copies the log's committed
# pages into the file before it can truncate the log, so on a disk with no byte free even
# the log of a rolled-back load cannot be given back: deleting the reserve makes room.
RESERVE_BYTES = 1 << 20


def _reserve(engine: Engine) -> Path | None:
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).with_name(Path(database).name + "-reserve")


def keep_reserve(engine: Engine) -> None:
    """Set RESERVE_BYTES of disk aside next to a SQLite file, if not yet (best effort)."""
    path = _reserve(engine)
    if path is None or path.exists():
        return
    try:
        with path.open("wb") as handle:
            os.posix_fallocate(handle.fileno(), 0, RESERVE_BYTES)
    except OSError as exc:
        path.unlink(missing_ok=True)
        log.warning("could not set disk space aside at %s: %s", path, exc)


def release_wal(engine: Engine) -> None:
    """Give back the disk space a SQLite file's write-ahead log holds: after a rolled-back
    load it still holds every page the load wrote, and keeps a full disk full."""
    if engine.dialect.name != "sqlite":
        return
    reserve = _reserve(engine)
    if reserve is not None:
        reserve.unlink(missing_ok=True)
    with engine.connect() as conn:
        # On the driver's connection, outside any transaction: inside one (and a BEGIN is
        # what SQLAlchemy's autobegin would emit) the checkpoint cannot reset the log.
        raw: Any = conn.connection.driver_connection
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    keep_reserve(engine)


def is_read_only(session: Session) -> bool:
    """Whether `session` was opened to read only (Database.session(read_only=True))."""
    return bool(session.info.get(READ_ONLY, False))


def write_after(session: Session, write: Callable[[Session], Any]) -> None:
    """Have `write` done, in a session of its own, once the read-only `session` has closed
    (a small bookkeeping write of a request that otherwise only reads)."""
    session.info.setdefault(WRITES_AFTER, []).append(write)


def writes_after(session: Session) -> bool:
    """Whether closing `session` will write (see write_after)."""
    return bool(session.info.get(WRITES_AFTER))


def database_of(session: Session) -> Database:
    """The Database a session belongs to (for the warehouse, settings and cipher)."""
    database: Database = session.info["database"]
    return database


_REVISION_LINE = re.compile(r"^(down_revision|revision)\s*=\s*['\"]?([\w-]+|None)['\"]?\s*$",
                            re.MULTILINE)


def newest_revision() -> str | None:
    """The one head of the migration scripts, read from their `revision` and `down_revision`
    lines; None when that is not plain (several heads, or a line in another form)."""
    revisions, parents = set(), set()
    for script in (MIGRATIONS / "versions").glob("*.py"):
        found = dict(_REVISION_LINE.findall(script.read_text()))
        if "revision" not in found or "down_revision" not in found:
            return None
        revisions.add(found["revision"])
        parents.add(found["down_revision"])
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _up_to_date(engine: Engine) -> bool:
    """Whether the database already stands at the newest revision (then alembic, 10 MB of
    every process's memory, is not imported at all)."""
    head = newest_revision()
    if head is None or not inspect(engine).has_table("alembic_version"):
        return False
    with engine.connect() as conn:
        found = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all()
    return list(found) == [head]


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the metadata schema up to `revision` (the newest by default)."""
    if revision == "head" and _up_to_date(engine):
        return
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.connect() as conn:
        sqlite = engine.dialect.name == "sqlite"
        raw: Any = conn.connection.driver_connection
        if sqlite:
            # A migration that rebuilds a table (SQLite's only way to change most of a
            # table) must not cascade the drop of the old copy: keys are off meanwhile, as
            # SQLite's ALTER TABLE guide says, and checked before the commit.
            raw.execute("PRAGMA foreign_keys=OFF")
        try:
            with conn.begin():
                config.attributes["connection"] = conn
                command.upgrade(config, revision)
                if sqlite:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
                    if broken:
                        raise RuntimeError(f"migration broke foreign keys: {broken[:5]}")
        finally:
            if sqlite:
                raw.execute("PRAGMA foreign_keys=ON")


def _one_sqlite_file(url: str, other: str) -> bool:
    """Whether two URLs name the same file (SQLite, or a DuckDB warehouse)."""
    first, second = make_url(url), make_url(other)
    files = ("sqlite", "duckdb")
    if first.get_backend_name() not in files or second.get_backend_name() not in files:
        return False
    if not first.database or first.database == ":memory:" or not second.database:
        return False
    return Path(first.database).resolve() == Path(second.database).resolve()


def duckdb_settings(settings: Settings) -> dict[str, str | int]:
    """What a DuckDB warehouse is told on each connection: the memory it may use (a load
    holds its rows until the commit; beyond the limit they spill to the var folder) and
    its threads (each holds buffers of its own). See docs/benchmarks.md, "Pipeline"."""
    return {"memory_limit": settings.duckdb_memory_limit,
            "threads": settings.duckdb_threads,
            "temp_directory": str(settings.var_dir / "duckdb-spill")}


def open_database(settings: Settings, *, seed: bool | None = None) -> Database:
    """Connect, migrate and (on first start, if enabled) create the demo connection."""
    if _one_sqlite_file(settings.database_url, settings.warehouse_url):
        # A load commits inside the metadata transaction that checks its claim (the fence);
        # SQLite has one writer per file, so the two must be different files.
        raise errors.Invalid(
            f"EXTRACTS_WAREHOUSE_URL={settings.warehouse_url!r} names the metadata "
            "database's file; use a file of its own, e.g. the default "
            "sqlite:///{VAR_DIR}/warehouse.db")
    engine = make_engine(settings.database_url, immediate=True,
                         busy_timeout=settings.busy_timeout)
    warehouse = Warehouse(make_engine(settings.warehouse_url, busy_timeout=settings.busy_timeout,
                                      schema=settings.warehouse_schema,
                                      duckdb_settings=duckdb_settings(settings)))
    database = Database(settings=settings, engine=engine, warehouse=warehouse,
                        cipher=Cipher(secret_key(settings)), sessions=sessionmaker())
    database.sessions.configure(bind=engine, info={"database": database})
    audit.install(database.sessions)
    for sqlite_engine in (warehouse.engine, engine):
        keep_reserve(sqlite_engine)
    for root in settings.files_roots:
        root.mkdir(parents=True, exist_ok=True)
    installer.configure(Path(settings.sources_dir))
    sandbox.configure(files_roots=settings.files_roots,
                      product_urls=(settings.database_url, settings.warehouse_url),
                      sql_hosts=settings.sql_hosts, http_hosts=settings.http_hosts)
    with _startup_lock(engine):
        migrate(engine)
        _warehouse_schema(database)
        if settings.seed_demo if seed is None else seed:
            from core import service

            with database.session() as session:
                service.seed_demo(session=session)
    return database


def _warehouse_schema(database: Database) -> None:
    """PostgreSQL: the data tables live in their own schema (EXTRACTS_WAREHOUSE_SCHEMA), apart
    from the product's tables, so metadata and warehouse may share one database: a data table
    titled `extracts` or `api_keys` is just a data table. Tables an earlier version made in
    `public` move there once."""
    engine = database.warehouse.engine
    if engine.dialect.name != "postgresql":
        return
    schema = database.settings.warehouse_schema
    quote = engine.dialect.identifier_preparer.quote
    with database.session() as session:
        names = list(session.scalars(select(DataTable.table_name)))
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {quote(schema)}")
        inspector = inspect(conn)
        legacy = set(inspector.get_table_names(schema="public")) & set(names)
        if schema != "public":
            here = set(inspector.get_table_names(schema=schema))
            for name in sorted(legacy - here):
                conn.exec_driver_sql(f"ALTER TABLE public.{quote(name)} SET SCHEMA "
                                     f"{quote(schema)}")


STARTUP_LOCK_KEY = 7_420_114  # any constant; names the "migrate and seed" advisory lock


@contextmanager
def _startup_lock(engine: Engine) -> Iterator[None]:
    """Processes starting at once (dashboard, API, workers) migrate and seed one at a time.

    On PostgreSQL an advisory lock held on its own connection serialises them; without it
    two would race to create the schema and the demo connection. SQLite needs none: its
    BEGIN IMMEDIATE already lets one writer in at a time.
    """
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as conn:
        conn.exec_driver_sql(f"SELECT pg_advisory_lock({STARTUP_LOCK_KEY})")
        try:
            yield
        finally:
            conn.exec_driver_sql(f"SELECT pg_advisory_unlock({STARTUP_LOCK_KEY})")
            conn.commit()
