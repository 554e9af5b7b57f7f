"""Shared fixtures: every test gets its own metadata database and warehouse in tmp_path."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from core import schemas, service
from core.config import Settings, get_settings
from core.db import Database, make_engine, migrate, open_database
from tests import needs

# A fixed "now" for tests that inject time: Saturday 2026-11-28 10:00 UTC.
NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A metadata database migrated once per test session; tests copy it (fast)."""
    path = tmp_path_factory.mktemp("template") / "extracts.db"
    engine = make_engine(f"sqlite:///{path}", immediate=True)
    migrate(engine)
    engine.dispose()
    return path


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings whose databases live in `tmp_path`; files connections may read anything in
    `tmp_path` (the tests' source files sit beside the var directory)."""
    env = {"EXTRACTS_VAR_DIR": str(tmp_path / "var"), "EXTRACTS_SECRET_KEY": "test-secret",
           "EXTRACTS_FILES_ROOTS": str(tmp_path)}
    return get_settings(env).with_overrides(**overrides)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "both_databases: run each test with `db` on SQLite and on PostgreSQL")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if ("db" in metafunc.fixturenames
            and metafunc.definition.get_closest_marker("both_databases") is not None):
        metafunc.parametrize("backend", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """Which database `db` runs on: SQLite, or also PostgreSQL in modules marked
    `both_databases` (the tests whose behaviour depends on the database)."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture
def db(request: pytest.FixtureRequest, backend: str, settings: Settings,
       migrated_template: Path) -> Iterator[Database]:
    """A fresh Database with the Sample Ads demo connection (accounts 1-3, templates 1-4)."""
    if backend == "postgresql":
        yield request.getfixturevalue("pg_db")
        return
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(migrated_template, settings.var_dir / "extracts.db")
    database = open_database(settings, seed=True)
    yield database
    database.dispose()


@pytest.fixture
def session(db: Database) -> Iterator[Session]:
    """A session on `db`; committed at the end of the test if it passed."""
    with db.session() as s:
        yield s


def extract_body(**overrides: Any) -> dict[str, Any]:
    """A valid create body for the demo campaign template, two accounts by default."""
    body: dict[str, Any] = {
        "data_table_title": "Campaign stats",
        "template_id": 1,
        "template_settings": {"fields": ["date", "campaign_id", "clicks", "spend"]},
        "accounts": [1, 2],
    }
    body.update(overrides)
    return body


def make_extract(session: Session, **overrides: Any) -> schemas.ExtractOut:
    """Create one extract (account 1 unless told) and return it."""
    overrides.setdefault("accounts", [1])
    return service.create_extracts(session=session, data=extract_body(**overrides), now=NOW)[0]


# -- PostgreSQL ----------------------------------------------------------------------------
# Tests where the behaviour depends on the database also run on a real PostgreSQL server:
# each test gets its own metadata and warehouse databases, dropped afterwards. Under CI=true
# an unreachable server fails those tests; on a laptop they are skipped with the reason.

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


def postgres_admin_url() -> str:
    """The server the PostgreSQL tests create their databases on (EXTRACTS_TEST_PG_URL)."""
    url = make_url(os.environ.get("EXTRACTS_TEST_PG_URL", POSTGRES_URL))
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _sqlalchemy_url(conninfo: str, database: str) -> str:
    url = make_url(conninfo).set(drivername="postgresql+psycopg", database=database)
    return url.render_as_string(hide_password=False)


def _admin(statement: str) -> None:
    import psycopg

    with psycopg.connect(postgres_admin_url(), autocommit=True, connect_timeout=5) as conn:
        conn.execute(statement)


def _unreachable(reason: str) -> NoReturn:
    needs.missing(f"PostgreSQL at {postgres_admin_url()} is unreachable: {reason}",
                  remedy="set EXTRACTS_TEST_PG_URL to a server the tests may use")


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A metadata database migrated once per test session; tests clone it (CREATE ... TEMPLATE)."""
    name = f"extracts_tmpl_{os.getpid()}_{secrets.token_hex(3)}"
    try:
        _admin(f'CREATE DATABASE "{name}"')
    except Exception as exc:
        _unreachable(f"{type(exc).__name__}: {exc}".strip())
    engine = make_engine(_sqlalchemy_url(postgres_admin_url(), name), immediate=True)
    try:
        migrate(engine)
    finally:
        engine.dispose()
    yield name
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def fresh_postgres_database(template: str | None = None) -> tuple[str, str]:
    """Create an empty database (or a clone of `template`); return its name and URL."""
    name = f"extracts_test_{secrets.token_hex(5)}"
    _admin(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    return name, _sqlalchemy_url(postgres_admin_url(), name)


def drop_postgres_database(name: str) -> None:
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url() -> Iterator[str]:
    """The URL of a fresh, empty PostgreSQL database, dropped after the test."""
    try:
        name, url = fresh_postgres_database()
    except Exception as exc:
        _unreachable(f"{type(exc).__name__}: {exc}".strip())
    yield url
    drop_postgres_database(name)


@pytest.fixture
def pg_db(tmp_path: Path, pg_template: str) -> Iterator[Database]:
    """`db` on PostgreSQL: fresh metadata and warehouse databases, the demo connection seeded."""
    meta, meta_url = fresh_postgres_database(pg_template)
    warehouse, warehouse_url = fresh_postgres_database()
    settings = make_settings(tmp_path, database_url=meta_url, warehouse_url=warehouse_url)
    database = open_database(settings, seed=True)
    yield database
    database.dispose()
    drop_postgres_database(meta)
    drop_postgres_database(warehouse)
