"""What connections may reach: files only under EXTRACTS_FILES_ROOTS, never the product's own
databases, and (when allow-lists are set) only the listed database and HTTP hosts.

The product configures it when it opens its database (core.db.open_database); a connector
used on its own (a benchmark, a connector's unit test) is not confined. Each check raises
SourceError with what is allowed, so the message reaches the person creating the connection.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from core.connectors.base import SourceError

LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", ""}
DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306, "mariadb": 3306}


@dataclass
class Sandbox:
    files_roots: tuple[Path, ...] | None = None  # None: not confined
    product_databases: set[tuple[str, str, int | None, str]] = field(default_factory=set)
    sql_hosts: frozenset[str] = frozenset()  # empty: any host
    http_hosts: frozenset[str] = frozenset()


_current = Sandbox()
_lock = threading.Lock()


def configure(*, files_roots: Iterable[Path], product_urls: Iterable[str],
              sql_hosts: Iterable[str] = (), http_hosts: Iterable[str] = ()) -> None:
    """Confine connections (the product's databases add up: none of those opened in this
    process may be read)."""
    roots = tuple(Path(r).resolve() for r in files_roots)
    with _lock:
        _current.files_roots = roots
        _current.product_databases.update(identity(make_url(u)) for u in product_urls)
        _current.sql_hosts = frozenset(h.lower() for h in sql_hosts)
        _current.http_hosts = frozenset(h.lower() for h in http_hosts)


def identity(url: URL) -> tuple[str, str, int | None, str]:
    """What names one database, whatever the spelling of its URL."""
    backend = url.get_backend_name()
    if backend in ("sqlite", "duckdb"):
        database = url.database or ""
        path = str(Path(database).resolve()) if database and database != ":memory:" else ""
        return ("file", path, None, "")
    host = (url.host or "").lower()
    host = "127.0.0.1" if host in LOCAL_HOSTS else host
    port = url.port or DEFAULT_PORTS.get(backend)
    return (backend.replace("mariadb", "mysql"), host, port, url.database or "")


def check_path(path: Path, shown: str) -> None:
    """Refuse a file or folder outside the allowed roots (after `..` and symlinks)."""
    roots = _current.files_roots
    if roots is None:
        return
    resolved = path.resolve()
    if not any(resolved == root or resolved.is_relative_to(root) for root in roots):
        allowed = ", ".join(str(r) for r in roots) or "(none)"
        raise SourceError(f"{shown} is outside the folders files may be read from ({allowed}); "
                          "put the files there, or add their folder to EXTRACTS_FILES_ROOTS")


def check_database(url: URL) -> None:
    """Refuse the product's own metadata database or warehouse, and hosts not allowed."""
    if identity(url) in _current.product_databases:
        raise SourceError("that is this product's own database (its metadata or warehouse); "
                          "a sql connection may read any other database, never this one")
    backend = url.get_backend_name()
    if _current.sql_hosts and backend not in ("sqlite", "duckdb"):
        host = (url.host or "").lower()
        if host not in _current.sql_hosts:
            raise SourceError(f"database host {host or '(none)'} is not in EXTRACTS_SQL_HOSTS "
                              f"({', '.join(sorted(_current.sql_hosts))})")


def check_http(host: str) -> None:
    """Refuse an HTTP host outside the allow-list, when one is set."""
    if _current.http_hosts and host.lower() not in _current.http_hosts:
        raise SourceError(f"host {host} is not in EXTRACTS_HTTP_HOSTS "
                          f"({', '.join(sorted(_current.http_hosts))})")
