"""Engines, sessions and start-up: migrations, SQLite pragmas, the demo seed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from core.config import Settings, secret_key
from core.crypto import Cipher
from core.warehouse import Warehouse

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def make_engine(url: str, *, immediate: bool = False) -> Engine:
    """An engine for `url`; SQLite gets WAL, foreign keys and a busy timeout.

    With `immediate`, every SQLite transaction starts with BEGIN IMMEDIATE: it takes the
    write lock up front, so two processes claiming runs wait for each other instead of
    failing on a stale snapshot.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA temp_store=FILE")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


@dataclass
class Database:
    """One deployment's metadata database, warehouse and secret cipher."""

    settings: Settings
    engine: Engine
    warehouse: Warehouse
    cipher: Cipher
    sessions: sessionmaker[Session]

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error."""
        with self.sessions() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def dispose(self) -> None:
        self.engine.dispose()
        self.warehouse.engine.dispose()


def database_of(session: Session) -> Database:
    """The Database a session belongs to (for the warehouse, settings and cipher)."""
    database: Database = session.info["database"]
    return database


def migrate(engine: Engine) -> None:
    """Bring the metadata schema up to the newest migration."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def open_database(settings: Settings, *, seed: bool | None = None) -> Database:
    """Connect, migrate and (on first start, if enabled) create the demo connection."""
    engine = make_engine(settings.database_url, immediate=True)
    warehouse = Warehouse(make_engine(settings.warehouse_url))
    migrate(engine)
    database = Database(settings=settings, engine=engine, warehouse=warehouse,
                        cipher=Cipher(secret_key(settings)), sessions=sessionmaker())
    database.sessions.configure(bind=engine, info={"database": database})
    if settings.seed_demo if seed is None else seed:
        from core import service

        with database.session() as session:
            service.seed_demo(session=session)
    return database
