"""The metadata database and the warehouse: the Database, its sessions, and start-up
(migrate, warehouse schema, demo seed). Engines, faults and migrations are in their own
modules, all importable from here."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from core import audit, errors
from core.config import Settings, secret_key
from core.connectors import sandbox
from core.connectors.programs import installer
from core.crypto import Cipher
from core.db.engines import READ_ONLY, duckdb_settings, make_engine, read_only_engine
from core.db.faults import disk_full, keep_reserve, locked, release_wal
from core.db.revisions import MIGRATIONS, migrate, newest_revision
from core.models import DataTable
from core.schemas import Actor
from core.warehouse import Warehouse

log = logging.getLogger(__name__)

WRITES_AFTER = "extracts_writes_after"  # session.info key: see write_after
AFTER_COMMIT = "extracts_after_commit"  # session.info key: see after_commit


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
        what `write_after` gave it is written once it has closed, if it succeeded; then
        what `after_commit` gave it is done."""
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
        for action in session.info.pop(AFTER_COMMIT, []):
            action()

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


def is_read_only(session: Session) -> bool:
    """Whether `session` was opened to read only (Database.session(read_only=True))."""
    return bool(session.info.get(READ_ONLY, False))


def write_after(session: Session, write: Callable[[Session], Any]) -> None:
    """Have `write` done, in a session of its own, once the read-only `session` has closed
    (a small bookkeeping write of a request that otherwise only reads)."""
    session.info.setdefault(WRITES_AFTER, []).append(write)


def after_commit(session: Session, action: Callable[[], Any]) -> None:
    """Have `action` done once `session` has committed and let go of its locks, before the
    `Database.session` block that opened it ends (its failure is that block's error; the
    commit stands). For work that waits for another lock, which must not be waited for
    while holding this database's."""
    session.info.setdefault(AFTER_COMMIT, []).append(action)


def writes_after(session: Session) -> bool:
    """Whether closing `session` will write (see write_after)."""
    return bool(session.info.get(WRITES_AFTER))


def database_of(session: Session) -> Database:
    """The Database a session belongs to (for the warehouse, settings and cipher)."""
    database: Database = session.info["database"]
    return database


def _one_sqlite_file(url: str, other: str) -> bool:
    """Whether two URLs name the same file (SQLite, or a DuckDB warehouse)."""
    first, second = make_url(url), make_url(other)
    files = ("sqlite", "duckdb")
    if first.get_backend_name() not in files or second.get_backend_name() not in files:
        return False
    if not first.database or first.database == ":memory:" or not second.database:
        return False
    return Path(first.database).resolve() == Path(second.database).resolve()


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


__all__ = ["AFTER_COMMIT", "MIGRATIONS", "READ_ONLY", "WRITES_AFTER", "Database", "after_commit",
           "database_of", "disk_full", "duckdb_settings", "is_read_only", "keep_reserve", "locked",
           "make_engine", "migrate", "newest_revision", "open_database", "read_only_engine",
           "release_wal", "write_after", "writes_after"]
