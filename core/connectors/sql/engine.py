"""The database of a sql connection: its URL, an engine on it, and its name in messages."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.pool import NullPool

from core.connectors import sandbox
from core.connectors.base import SourceError

# A URL without a driver gets one that is installed with the product.
DEFAULT_DRIVERS = {"postgresql": "postgresql+psycopg", "postgres": "postgresql+psycopg",
                   "mysql": "mysql+pymysql", "mariadb": "mariadb+pymysql"}


def url_of(config: Mapping[str, Any]) -> URL:
    """The connection's URL with a default driver and its password (kept apart in config)."""
    url = make_url(str(config["url"]))
    if url.drivername in DEFAULT_DRIVERS:
        url = url.set(drivername=DEFAULT_DRIVERS[url.drivername])
    if config.get("password"):
        url = url.set(password=str(config["password"]))
    return url


def engine_of(config: Mapping[str, Any]) -> Engine:
    """An engine without a pool; SourceError when a SQLite file is missing, or the database
    is one a connection may not read (core.connectors.sandbox)."""
    url = url_of(config)
    sandbox.check_database(url)
    if url.get_backend_name() == "sqlite":
        path = url.database or ""
        if path in ("", ":memory:") or not Path(path).is_file():
            raise SourceError(f"SQLite database file {path or '(none)'} is missing: check the "
                              "path in the URL (sqlite:////absolute/path/to/file.db)")
    # One connection at a time per fetch or check; nothing pooled between runs. Every
    # session is read-only: a custom query (`WITH gone AS (DELETE ...) SELECT ...`) or a
    # function with side effects cannot change the source.
    backend = url.get_backend_name()
    if backend == "postgresql":
        return sa.create_engine(url, poolclass=NullPool, connect_args={
            "options": "-c default_transaction_read_only=on"})
    if backend in ("mysql", "mariadb"):
        return sa.create_engine(url, poolclass=NullPool, connect_args={
            "init_command": "SET SESSION TRANSACTION READ ONLY"})
    created = sa.create_engine(url, poolclass=NullPool)
    if backend == "sqlite":
        sa.event.listen(created, "connect",
                        lambda conn, _record: conn.execute("PRAGMA query_only = ON"))
    return created



def where(url: URL) -> str:
    """The database as messages name it: a SQLite file, or a database on a host."""
    if url.get_backend_name() == "sqlite":
        return f"SQLite file {url.database}"
    port = f":{url.port}" if url.port else ""
    return f"{url.get_backend_name()} database {url.database!r} at {url.host}{port}"
