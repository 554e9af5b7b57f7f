"""SQL databases (PostgreSQL, MariaDB/MySQL, SQLite) through SQLAlchemy.

The connection holds a SQLAlchemy URL *without* its password, and the password as a secret
setting: the URL stays readable and editable in the dashboard while only the password is
encrypted at rest and masked. Every table or view with a date or timestamp column becomes a
template (found by reflection); `add_query_template` adds a custom query as a template of its
own. Selected columns, the window and filters are pushed down into SQL with quoted identifiers
and bound values, and rows stream through a server-side cursor in chunks.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import NullPool
from sqlalchemy.sql.elements import ColumnElement, quoted_name

from core import errors, field_types
from core.connectors import shaping
from core.connectors.base import (
    AccountSpec,
    ConnectionInfo,
    FetchRequest,
    FetchResult,
    Filter,
    SourceError,
    TemplateSpec,
    TransientError,
)
from core.errors import Problem
from core.field_types import SQL_TYPES

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from core import schemas

CHUNK_ROWS = 50_000
QUERY_PREFIX = "query:"
SAMPLE_ROWS = 200
# A URL without a driver gets one that is installed with the product.
DEFAULT_DRIVERS = {"postgresql": "postgresql+psycopg", "postgres": "postgresql+psycopg",
                   "mysql": "mysql+pymysql", "mariadb": "mariadb+pymysql"}


def _url(config: Mapping[str, Any]) -> URL:
    url = make_url(str(config["url"]))
    if url.drivername in DEFAULT_DRIVERS:
        url = url.set(drivername=DEFAULT_DRIVERS[url.drivername])
    if config.get("password"):
        url = url.set(password=str(config["password"]))
    return url


def _engine(config: Mapping[str, Any]) -> Engine:
    url = _url(config)
    if url.get_backend_name() == "sqlite":
        path = url.database or ""
        if path in ("", ":memory:") or not Path(path).is_file():
            raise SourceError(f"SQLite database file {path or '(none)'} is missing: check the "
                              "path in the URL (sqlite:////absolute/path/to/file.db)")
    # One connection at a time per fetch or check; nothing pooled between runs.
    return sa.create_engine(url, poolclass=NullPool)


def _where(url: URL) -> str:
    if url.get_backend_name() == "sqlite":
        return f"SQLite file {url.database}"
    port = f":{url.port}" if url.port else ""
    return f"{url.get_backend_name()} database {url.database!r} at {url.host}{port}"


def _source_error(exc: Exception, url: URL, *, retry_unreachable: bool = False) -> Exception:
    """A SourceError (or TransientError) that says what to fix, from a driver's error."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    low = text.lower()
    where = _where(url)
    if any(s in low for s in ("password authentication failed", "access denied",
                              "authentication failed", "no password supplied")):
        return SourceError(f"authentication failed for user {url.username!r} on {where}: "
                           "check the user name in the URL and the password")
    if any(s in low for s in ("could not translate host name", "name or service not known",
                              "temporary failure in name resolution", "nodename nor servname")):
        return SourceError(f"host {url.host!r} is unknown: check the host name in the URL")
    if any(s in low for s in ("connection refused", "can't connect", "could not connect",
                              "timed out", "timeout expired", "connection reset",
                              "server closed the connection", "lost connection")):
        message = (f"host unreachable: nothing answered at {url.host}:{url.port or 'default'} "
                   "port; check the host and port in the URL and that the server is running")
        return TransientError(message) if retry_unreachable else SourceError(message)
    if ("does not exist" in low and "database" in low) or "unknown database" in low:
        return SourceError(f"database {url.database!r} does not exist on {url.host}: check "
                           "the database name in the URL")
    if any(s in low for s in ("does not exist", "doesn't exist", "no such table",
                              "no such column", "unknown column", "undefinedtable")):
        return SourceError(f"table or column missing in {where}: {first}; refresh the "
                           "connection's templates if the schema changed")
    return SourceError(f"{where} refused the request: {first}")


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
                           "minimum": 100, "maximum": 1_000_000},
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
            _url(config).get_dialect()
        except (NoSuchModuleError, ModuleNotFoundError, ImportError):
            known = ", ".join([*sorted(DEFAULT_DRIVERS), "sqlite"])
            return [Problem("config.url", f"no installed driver for {url.drivername!r}; use "
                                          f"one of {known}")]
        if url.get_backend_name() == "sqlite" and not url.database:
            return [Problem("config.url", "names no SQLite file; write "
                                          "sqlite:////absolute/path/to/file.db")]
        return []

    # -- protocol ----------------------------------------------------------------------------

    def check(self, connection: ConnectionInfo) -> str:
        config = connection.config
        url = _url(config)
        tables = self._reflect(config)
        if config.get("account_column") and not tables:
            raise SourceError(f"no table or view in {_where(url)} has the account column "
                              f"{config['account_column']!r}: check its name")
        return (f"Connected to {_where(url)}: {len(tables)} table(s) or view(s) with a date "
                "column")

    def discover_accounts(self, connection: ConnectionInfo) -> list[AccountSpec]:
        config = connection.config
        url = _url(config)
        column = config.get("account_column")
        if not column:
            name = Path(url.database or "db").stem if url.get_backend_name() == "sqlite" \
                else str(url.database or url.host)
            return [AccountSpec(name, f"{name} (whole database)")]
        values: set[str] = set()
        engine = _engine(config)
        try:
            with engine.connect() as conn:
                for table in self._reflect(config):
                    source = _table(table, [column], config.get("schema"))
                    query = sa.select(source.c[column]).distinct().where(
                        source.c[column].is_not(None)).limit(10_000)
                    values.update(str(v) for v in conn.execute(query).scalars())
        except SQLAlchemyError as exc:
            raise _source_error(exc, url) from None
        finally:
            engine.dispose()
        return [AccountSpec(v, v) for v in sorted(values)]

    def templates(self, connection: ConnectionInfo) -> list[TemplateSpec]:
        config = connection.config
        specs = [_template_of(name, types, None) for name, types in
                 self._reflect(config).items()]
        for name, query in dict(config.get("queries") or {}).items():
            specs.append(_query_template(name, query))
        return specs

    def fetch(self, request: FetchRequest) -> FetchResult:
        return FetchResult(chunks=self._chunks(request), filters_applied=True)

    # -- internals ---------------------------------------------------------------------------

    def _reflect(self, config: Mapping[str, Any]) -> dict[str, dict[str, str]]:
        """Tables and views that have a date or timestamp column: name -> column types."""
        url = _url(config)
        schema = config.get("schema") or None
        account_column = config.get("account_column")
        engine = _engine(config)
        found: dict[str, dict[str, str]] = {}
        try:
            inspector = sa.inspect(engine)
            if schema and schema not in inspector.get_schema_names():
                raise SourceError(f"schema {schema!r} does not exist in {_where(url)}: check "
                                  "the schema setting")
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
            raise _source_error(exc, url) from None
        finally:
            engine.dispose()
        return found

    def _chunks(self, request: FetchRequest) -> Iterator[pd.DataFrame]:
        config = request.connection.config
        url = _url(config)
        chunk_rows = int(config.get("chunk_rows") or CHUNK_ROWS)
        query = build_query(request, dialect=url.get_backend_name())
        engine = _engine(config)
        try:
            with engine.connect() as conn:
                result = conn.execution_options(stream_results=True,
                                                yield_per=chunk_rows).execute(query)
                keys = list(result.keys())
                for rows in result.partitions():
                    # Plain tuples: pandas probes Row objects attribute by attribute (slow).
                    frame = pd.DataFrame.from_records([tuple(r) for r in rows], columns=keys)
                    yield shaping.coerce_numbers(frame, request.template.fields)
        except DBAPIError as exc:
            raise _source_error(exc, url, retry_unreachable=True) from None
        finally:
            engine.dispose()


def _table(name: str, columns: list[str], schema: str | None,
           types: Mapping[str, str] | None = None) -> sa.TableClause:
    types = types or {}
    return sa.table(
        quoted_name(name, quote=True),
        *(sa.column(quoted_name(c, quote=True), SQL_TYPES[types.get(c, "string")]())
          for c in columns),
        schema=quoted_name(schema, quote=True) if schema else None,
    )


def _template_of(table: str, types: Mapping[str, str], date_column: str | None) -> TemplateSpec:
    date_column = shaping.choose_date_column(types, date_column)
    fields, date_field = shaping.build_fields(types, date_column)
    return TemplateSpec(
        name=table, title=table,
        description=f"Rows of the table or view {table}; the window applies to {date_column}.",
        fields=fields, date_field=date_field,
        default_fields=tuple(f.name for f in fields[:30]),
    )


def _query_template(name: str, query: Mapping[str, Any]) -> TemplateSpec:
    types: dict[str, str] = dict(query["types"])
    date_column = query.get("date_column")
    fields, date_field = shaping.build_fields(types, date_column)
    return TemplateSpec(
        name=f"{QUERY_PREFIX}{name}", title=str(query.get("title") or name),
        description=str(query.get("description") or f"Custom query: {query['sql']}"),
        fields=fields, date_field=date_field,
        default_fields=tuple(f.name for f in fields[:30]),
    )


def _escaped(sql: str) -> str:
    # The query runs verbatim: colons are not bind parameters (`::date`, '10:30').
    return sql.replace(":", r"\:")


def _source_of(request: FetchRequest, types: Mapping[str, str]) -> sa.FromClause:
    """The table, or the custom query wrapped as a subquery, with typed columns."""
    config = request.connection.config
    name = request.template.name
    columns = list(types)
    if name.startswith(QUERY_PREFIX):
        queries = dict(config.get("queries") or {})
        query = queries.get(name[len(QUERY_PREFIX):])
        if query is None:
            raise SourceError(f"the custom query {name!r} is gone from the connection; "
                              "add it again or pick another template")
        text = sa.text(_escaped(str(query["sql"]))).columns(
            *(sa.column(c, SQL_TYPES[types[c]]()) for c in columns))
        return text.subquery("q")
    return _table(name, columns, config.get("schema") or None, types)


def _day_of(column: ColumnElement[Any], dialect: str) -> ColumnElement[Any]:
    if dialect == "sqlite":
        return sa.type_coerce(sa.func.date(column), sa.Date)
    return sa.cast(column, sa.Date)


def build_query(request: FetchRequest, *, dialect: str) -> sa.Select[Any]:
    """SELECT the fields FROM the source WHERE account, window and filters hold (all bound)."""
    template = request.template
    types = {f.name: f.type for f in template.fields}
    physical = {n: t for n, t in types.items() if shaping.derived_base(n, types) is None}
    source = _source_of(request, physical)

    def expression(field: str) -> ColumnElement[Any]:
        base = shaping.derived_base(field, types)
        if base is not None:
            return _day_of(source.c[base], dialect)
        if field not in source.c:
            raise SourceError(f"field {field!r} is not a column of {template.name!r}; refresh "
                              "the connection's templates")
        return source.c[field]

    selected = [expression(f).label(f) for f in request.fields]
    conditions: list[ColumnElement[bool]] = []
    account_column = request.connection.config.get("account_column")
    if account_column:
        if account_column not in source.c:
            raise SourceError(f"{template.name!r} has no account column {account_column!r}")
        value: Any = request.account.external_id
        if types.get(account_column) == "integer":
            value = int(value)
        conditions.append(source.c[account_column] == value)
    if template.date_field and request.date_from and request.date_to:
        base = shaping.derived_base(template.date_field, types)
        if base is not None:
            # On the timestamp itself, so an index on it is used: [from 00:00, to+1 00:00).
            start = datetime.combine(request.date_from, time())
            stop = datetime.combine(request.date_to + timedelta(days=1), time())
            conditions += [source.c[base] >= start, source.c[base] < stop]
        else:
            conditions.append(source.c[template.date_field].between(request.date_from,
                                                                    request.date_to))
    conditions += [_condition(expression(f.field), f) for f in shaping.typed_filters(request)]
    return sa.select(*selected).select_from(source).where(sa.true(), *conditions)


def _condition(column: ColumnElement[Any], item: Filter) -> ColumnElement[bool]:
    value = item.value
    conditions: dict[str, Any] = {
        "eq": lambda: column == value,
        "ne": lambda: column != value,
        "in": lambda: column.in_(value),
        "not_in": lambda: column.not_in(value),
        "is_null": lambda: column.is_(None),
        "is_not_null": lambda: column.is_not(None),
        "gt": lambda: column > value,
        "gte": lambda: column >= value,
        "lt": lambda: column < value,
        "lte": lambda: column <= value,
        "between": lambda: column.between(value[0], value[1]),
        "contains": lambda: column.contains(value, autoescape=True),
        "not_contains": lambda: sa.not_(column.contains(value, autoescape=True)),
        "starts_with": lambda: column.startswith(value, autoescape=True),
        "ends_with": lambda: column.endswith(value, autoescape=True),
    }
    result: ColumnElement[bool] = conditions[item.operator]()
    return result


# -- custom query templates ------------------------------------------------------------------

_QUERY_NAME = re.compile(r"^[a-z][a-z0-9_]{0,59}$")


def add_query_template(*, session: Session, connection_id: int, name: str, sql: str,
                       title: str = "", description: str = "", date_column: str | None = None
                       ) -> schemas.TemplateOut:
    """Add (or replace) a custom query as a template of one SQL connection."""
    from core.models import Connection, Template
    from core.services import catalog
    from core.services.common import load

    connection = load(session, Connection, connection_id, "connection")
    problems: list[Problem] = []
    if connection.datasource != SqlDatabase.name:
        raise errors.Invalid(f"connection {connection_id} is a {connection.datasource} "
                             "connection; custom queries need a sql connection",
                             field="connection_id")
    if not _QUERY_NAME.match(name):
        problems.append(Problem("name", f"{name!r} must be 1-60 lowercase letters, digits or "
                                        "_, starting with a letter"))
    statement = sql.strip().rstrip(";").strip()
    if not re.match(r"(?is)^(select|with)\b", statement) or ";" in statement:
        problems.append(Problem("sql", "must be one SELECT (or WITH ... SELECT) statement"))
    if problems:
        raise errors.Invalid(problems)
    info = catalog.connection_info(session, connection)
    types = _sample_types(info.config, statement)
    if date_column is not None and types.get(date_column) not in ("date", "datetime"):
        found = types.get(date_column)
        raise errors.Invalid(
            f"{date_column!r} is not a date or timestamp column of the query"
            + (f" (it holds {found} values)" if found else "")
            + f"; its columns: {', '.join(types)}", field="date_column")
    if info.config.get("account_column") and info.config["account_column"] not in types:
        raise errors.Invalid(f"the query must return the account column "
                             f"{info.config['account_column']!r}", field="sql")
    queries = dict(connection.config.get("queries") or {})
    queries[name] = {"sql": statement, "title": title or name, "description": description,
                     "date_column": date_column or shaping.choose_date_column(types),
                     "types": types}
    connection.config = {**connection.config, "queries": queries}
    session.flush()
    catalog.sync_templates(session=session, connection_id=connection_id)
    template = session.scalars(sa.select(Template).where(
        Template.connection_id == connection_id,
        Template.name == f"{QUERY_PREFIX}{name}")).one()
    return catalog.get_template(session=session, template_id=template.id)


def _sample_types(config: Mapping[str, Any], statement: str) -> dict[str, str]:
    """Column name -> field type of a query, from a sample of its rows."""
    url = _url(config)
    engine = _engine(config)
    try:
        with engine.connect() as conn:
            sample = sa.select(sa.text("*")).select_from(
                sa.text(_escaped(statement)).columns().subquery("q")).limit(SAMPLE_ROWS)
            result = conn.execute(sample)
            keys = list(result.keys())
            rows = result.fetchall()
    except DBAPIError as exc:
        raise errors.Invalid(f"the query failed: {_source_error(exc, url)}",
                             field="sql") from None
    finally:
        engine.dispose()
    if len(set(keys)) != len(keys):
        raise errors.Invalid("the query returns two columns of the same name; give each "
                             "column its own alias", field="sql")
    return {key: shaping.type_of_values(row[i] for row in rows) for i, key in enumerate(keys)}

