"""Custom query templates of SQL connections: the queries users write in the dashboard."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import audit, errors, schemas
from core.connectors import shaping
from core.connectors.base import SourceError
from core.connectors.sql import connector as sql_connector
from core.connectors.sql import custom_queries
from core.errors import Problem
from core.models import Connection, Template
from core.services import catalog
from core.services.common import load
from core.vocabulary import Role

_QUERY_NAME = re.compile(r"^[a-z][a-z0-9_]{0,59}$")


@dataclass(frozen=True)
class QueryTemplate:
    """One custom query of a connection, with the template it became."""

    name: str
    title: str
    description: str
    sql: str
    date_column: str | None
    template_id: int | None
    fields: list[str]


def add_query_template(*, session: Session, connection_id: int, name: str, sql: str,
                       title: str = "", description: str = "", date_column: str | None = None
                       ) -> schemas.TemplateOut:
    """Add (or replace) a custom query as a template of one SQL connection."""
    audit.require(session, Role.ADMIN, "adding a custom SQL template")
    connection = load(session, Connection, connection_id, "connection")
    problems: list[Problem] = []
    if connection.datasource != sql_connector.SqlDatabase.name:
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
    template = session.scalars(select(Template).where(
        Template.connection_id == connection_id,
        Template.name == f"{custom_queries.QUERY_PREFIX}{name}")).one()
    return catalog.get_template(session=session, template_id=template.id)


def list_query_templates(*, session: Session, connection_id: int) -> list[QueryTemplate]:
    """The custom queries of one connection, by name (none for a connection without any)."""
    connection = load(session, Connection, connection_id, "connection")
    queries = dict(connection.config.get("queries") or {})
    prefix = custom_queries.QUERY_PREFIX
    templates = {t.name: t for t in session.scalars(select(Template).where(
        Template.connection_id == connection_id,
        Template.name.in_([f"{prefix}{n}" for n in queries])))}
    out = []
    for name, query in sorted(queries.items()):
        template = templates.get(f"{prefix}{name}")
        out.append(QueryTemplate(
            name=name, title=str(query.get("title") or name),
            description=str(query.get("description") or ""), sql=str(query["sql"]),
            date_column=query.get("date_column"),
            template_id=None if template is None else template.id,
            fields=[] if template is None else [f["name"] for f in template.fields]))
    return out


def _sample_types(config: Mapping[str, Any], statement: str) -> dict[str, str]:
    """Column name -> field type of a query, from a sample of its rows; Invalid on `sql`."""
    try:
        columns = custom_queries.sample_columns(config, statement)
    except SourceError as exc:
        raise errors.Invalid(f"the query failed: {exc}", field="sql") from None
    types: dict[str, str] = dict(columns)
    if len(types) != len(columns):
        raise errors.Invalid("the query returns two columns of the same name; give each "
                             "column its own alias", field="sql")
    return types
