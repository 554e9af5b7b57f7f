"""Fixtures for connector tests: real PostgreSQL and MariaDB, each test in its own namespace.

`require_server` is the one rule for servers: under CI=true a test whose server is unreachable
FAILS (a green CI run must mean the connector was really exercised); elsewhere it is skipped
with the reason.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from core import runner, schemas, service
from core.db import Database
from core.models import Connection
from tests import needs
from tests.conftest import NOW

DAYS = [date(2026, 11, 1) + timedelta(days=i) for i in range(10)]
PG_URL = os.environ.get("EXTRACTS_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MARIADB_URL = os.environ.get("EXTRACTS_TEST_MARIADB_URL",
                             "mysql+pymysql://root@127.0.0.1:3306/test")


def require_server(name: str, url: str) -> None:
    """Fail (under CI=true) or skip the test when the server of `url` does not answer."""
    parsed = sa.engine.make_url(url)
    try:
        with socket.create_connection((parsed.host or "127.0.0.1", parsed.port or 0), 2):
            pass
        engine = sa.create_engine(parsed, poolclass=NullPool)
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
    except (OSError, sa.exc.SQLAlchemyError) as exc:
        needs.missing(f"{name} is not reachable at {parsed.host}:{parsed.port}: {exc}",
                      remedy="start the server, or point the test's URL setting at one")


@dataclass(frozen=True)
class SourceDb:
    """A database a test may fill: the URL a connection uses and an engine to seed it."""

    kind: str
    url: str
    schema: str | None
    engine: sa.Engine

    def table(self, name: str) -> str:
        quote = self.engine.dialect.identifier_preparer.quote
        return f"{quote(self.schema)}.{quote(name)}" if self.schema else quote(name)


def _unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def pg_source() -> Iterator[SourceDb]:
    """A fresh schema in PostgreSQL's `test` database, dropped afterwards."""
    require_server("PostgreSQL", PG_URL)
    schema = _unique("t_conn")
    engine = sa.create_engine(PG_URL, poolclass=NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield SourceDb("postgresql", PG_URL, schema, engine)
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture
def mariadb_source() -> Iterator[SourceDb]:
    """A fresh MariaDB database, dropped afterwards."""
    require_server("MariaDB", MARIADB_URL)
    name = _unique("t_conn")
    admin = sa.create_engine(MARIADB_URL, poolclass=NullPool)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE DATABASE `{name}`"))
    url = sa.engine.make_url(MARIADB_URL).set(database=name)
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        yield SourceDb("mariadb", url.render_as_string(hide_password=False), None, engine)
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))
        admin.dispose()


@pytest.fixture
def sqlite_source(tmp_path: Path) -> Iterator[SourceDb]:
    """A SQLite file in the test's own folder."""
    url = f"sqlite:///{tmp_path / 'source.db'}"
    engine = sa.create_engine(url, poolclass=NullPool)
    yield SourceDb("sqlite", url, None, engine)
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def source(request: pytest.FixtureRequest) -> SourceDb:
    """Each SQL backend in turn."""
    fixture = {"sqlite": "sqlite_source", "postgresql": "pg_source",
               "mariadb": "mariadb_source"}[request.param]
    db: SourceDb = request.getfixturevalue(fixture)
    return db


def metadata_bytes(var_dir: Path) -> bytes:
    """Every byte of the metadata database, its WAL and shared memory files included."""
    return b"".join(p.read_bytes() for p in sorted(var_dir.glob("extracts.db*")))


def own_template(session: Session, connection_id: int, name: str) -> schemas.TemplateOut:
    """The template `name` that belongs to the connection."""
    found = [t for t in service.list_templates(session=session, connection_id=connection_id)
             if t.name == name and t.connection_id == connection_id]
    assert found, f"no template {name}"
    return found[0]


def load(db: Database, session: Session, *, template: schemas.TemplateOut, account_id: int,
         fields: list[str], filters: list[dict[str, Any]] | None = None,
         date_from: date | None = DAYS[2], date_to: date | None = DAYS[4],
         title: str | None = None) -> tuple[schemas.RunOut, pd.DataFrame]:
    """Create an extract, run it for the window, return the run and the rows it loaded."""
    [extract] = service.create_extracts(session=session, now=NOW, data={
        "data_table_title": title or f"Table {uuid.uuid4().hex[:8]}",
        "template_id": template.id,
        "template_settings": {"fields": fields, "filters": filters or []},
        "accounts": [account_id]})
    [run] = service.run_extract(session=session, extract_id=extract.id, date_from=date_from,
                                date_to=date_to, now=NOW)
    session.commit()
    done = runner.execute_run(db=db, run_id=run.id)
    rows = service.preview_rows(session=session, extract_id=extract.id, limit=10_000)
    return done, rows


def connection_count(db: Database) -> int:
    """How many connections the metadata database holds."""
    with db.session() as s:
        return len(s.scalars(sa.select(Connection)).all())
