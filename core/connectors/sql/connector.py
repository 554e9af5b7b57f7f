"""The `sql` connector: its settings, reflection of the tables, templates and streaming rows."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from core import field_types
from core.connectors import shaping
from core.connectors.base import (
    AccountSpec,
    ConnectionInfo,
    FetchRequest,
    FetchResult,
    SourceError,
    TemplateSpec,
)
from core.connectors.sql import arrow_reader, custom_queries, driver_errors, engine, query
from core.errors import Problem

CHUNK_ROWS = 50_000


class SqlDatabase:
    """Tables, views and custom queries of one SQL database."""

    name = "sql"
    title = "SQL database"
    templates_per_connection = True
    config_schema: ClassVar[Mapping[str, Any]] = {
        "properties": {
            "url": {"type": "string", "title": "Database URL",
                    "description": "A SQLAlchemy URL without the password, e.g. "
                                   "postgresql://user@host:5432/db, "
                                   "mysql+pymysql://user@host:3306/db or "
                                   "sqlite:////path/to/file.db."},
            "password": {"type": "string", "title": "Password", "secret": True,
                         "description": "Stored encrypted; leave empty for none."},
            "schema": {"type": "string", "title": "Schema",
                       "description": "Where the tables live; empty for the default schema."},
            "account_column": {"type": "string", "title": "Account column",
                               "description": "Each distinct value of this column is an "
                                              "account; empty for the whole database as one "
                                              "account. Only tables with it become templates."},
            "chunk_rows": {"type": "integer", "title": "Rows per chunk", "default": CHUNK_ROWS,
                           "minimum": 100, "maximum": 1_000_000,
                           "description": "Rows a run streams and loads at a time."},
        },
        "required": ["url"],
    }

    # -- config ------------------------------------------------------------------------------

    def validate_config(self, config: Mapping[str, Any]) -> list[Problem]:
        """Problems with the URL a flat schema cannot see; empty when it is usable."""
        try:
            url = make_url(str(config["url"]))
        except ArgumentError:
            return [Problem("config.url", f"{config['url']!r} is not a database URL; write "
                                          "e.g. postgresql://user@host:5432/db")]
        if url.password:
            return [Problem("config.url", "holds a password; remove it from the URL and put "
                                          "it in config.password, which is stored encrypted")]
        try:
            engine.url_of(config).get_dialect()
        except (NoSuchModuleError, ModuleNotFoundError, ImportError):
            known = ", ".join([*sorted(engine.DEFAULT_DRIVERS), "sqlite"])
            return [Problem("config.url", f"no installed driver for {url.drivername!r}; use "
                                          f"one of {known}")]
        if url.get_backend_name() == "sqlite" and not url.database:
            return [Problem("config.url", "names no SQLite file; write "
                                          "sqlite:////absolute/path/to/file.db")]
        if url.get_backend_name() == "sqlite" and config.get("password"):
            return [Problem("config.password", "a SQLite file takes no password; leave it "
                                               "empty")]
        return []

    # -- protocol ----------------------------------------------------------------------------

    def check(self, connection: ConnectionInfo) -> str:
        config = connection.config
        url = engine.url_of(config)
        tables = self._reflect(config)
        if config.get("account_column") and not tables:
            raise SourceError(f"no table or view in {engine.where(url)} has the account column "
                              f"{config['account_column']!r}: check its name")
        return (f"Connected to {engine.where(url)}: {len(tables)} table(s) or view(s) with a "
                "date column")

    def discover_accounts(self, connection: ConnectionInfo) -> list[AccountSpec]:
        config = connection.config
        url = engine.url_of(config)
        column = config.get("account_column")
        if not column:
            name = Path(url.database or "db").stem if url.get_backend_name() == "sqlite" \
                else str(url.database or url.host)
            return [AccountSpec(name, f"{name} (whole database)")]
        values: set[str] = set()
        source = engine.engine_of(config)
        try:
            with source.connect() as conn:
                for table in self._reflect(config):
                    rows = query.table(table, [column], config.get("schema"))
                    distinct = sa.select(rows.c[column]).distinct().where(
                        rows.c[column].is_not(None)).limit(10_000)
                    values.update(str(v) for v in conn.execute(distinct).scalars())
        except SQLAlchemyError as exc:
            raise driver_errors.source_error(exc, url) from None
        finally:
            source.dispose()
        return [AccountSpec(v, v) for v in sorted(values)]

    def templates(self, connection: ConnectionInfo) -> list[TemplateSpec]:
        config = connection.config
        specs = [_template_of(name, types) for name, types in self._reflect(config).items()]
        for name, stored in dict(config.get("queries") or {}).items():
            specs.append(custom_queries.template_of(name, stored))
        return specs

    def live_template(self, connection: ConnectionInfo, name: str
                      ) -> TemplateSpec | bool | None:
        """The table `name` as it is now (one table reflected, for the drift check before a
        run); None when it is gone; False for a custom query (checked as it runs)."""
        config = connection.config
        if name.startswith(custom_queries.QUERY_PREFIX):
            queries = dict(config.get("queries") or {})
            return False if name.removeprefix(custom_queries.QUERY_PREFIX) in queries else None
        schema = config.get("schema") or None
        source = engine.engine_of(config)
        try:
            columns = sa.inspect(source).get_columns(name, schema=schema)
        except sa.exc.NoSuchTableError:
            return None
        except SQLAlchemyError as exc:
            raise driver_errors.source_error(exc, engine.url_of(config),
                                             retry_unreachable=True) from None
        finally:
            source.dispose()
        return _template_of(name, {c["name"]: field_types.of_sql_type(c["type"])
                                   for c in columns})

    def fetch(self, request: FetchRequest) -> FetchResult:
        # The window and the filters are in the query's WHERE.
        return FetchResult(chunks=self._chunks(request), filters_applied=True,
                           window_applied=True)

    # -- internals ---------------------------------------------------------------------------

    def _reflect(self, config: Mapping[str, Any]) -> dict[str, dict[str, str]]:
        """Tables and views that have a date or timestamp column: name -> column types."""
        url = engine.url_of(config)
        schema = config.get("schema") or None
        account_column = config.get("account_column")
        source = engine.engine_of(config)
        found: dict[str, dict[str, str]] = {}
        try:
            inspector = sa.inspect(source)
            if schema and schema not in inspector.get_schema_names():
                raise SourceError(f"schema {schema!r} does not exist in {engine.where(url)}: "
                                  "check the schema setting")
            names = inspector.get_table_names(schema=schema) + inspector.get_view_names(
                schema=schema)
            for name in sorted(names):
                types = {c["name"]: field_types.of_sql_type(c["type"])
                         for c in inspector.get_columns(name, schema=schema)}
                if account_column and account_column not in types:
                    continue
                if shaping.choose_date_column(types) is not None:
                    found[name] = types
        except SQLAlchemyError as exc:
            raise driver_errors.source_error(exc, url) from None
        finally:
            source.dispose()
        return found

    def _chunks(self, request: FetchRequest) -> Iterator[pa.RecordBatch | pa.Table]:
        config = request.connection.config
        url = engine.url_of(config)
        chunk_rows = int(config.get("chunk_rows") or CHUNK_ROWS)
        select = query.build_query(request, dialect=url.get_backend_name())
        types = {f.name: f.type for f in request.template.fields}
        custom = request.template.name.startswith(custom_queries.QUERY_PREFIX)
        yield from arrow_reader.batches(config, select, types, chunk_rows, custom=custom)


def _template_of(table: str, types: Mapping[str, str]) -> TemplateSpec:
    date_column = shaping.choose_date_column(types)
    fields, date_field = shaping.build_fields(types, date_column)
    return TemplateSpec(
        name=table, title=table,
        description=f"Rows of the table or view {table}; the window applies to {date_column}.",
        fields=fields, date_field=date_field,
        default_fields=tuple(f.name for f in fields[:30]),
    )
