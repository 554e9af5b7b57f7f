"""Custom query templates of SQL connections: the queries users write in the dashboard."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import schemas
from core.connectors import sql as sql_connector
from core.models import Connection, Template
from core.services.common import load


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
    return sql_connector.add_query_template(
        session=session, connection_id=connection_id, name=name, sql=sql, title=title,
        description=description, date_column=date_column)


def list_query_templates(*, session: Session, connection_id: int) -> list[QueryTemplate]:
    """The custom queries of one connection, by name (none for a connection without any)."""
    connection = load(session, Connection, connection_id, "connection")
    queries = dict(connection.config.get("queries") or {})
    templates = {t.name: t for t in session.scalars(select(Template).where(
        Template.connection_id == connection_id,
        Template.name.in_([f"{sql_connector.QUERY_PREFIX}{n}" for n in queries])))}
    out = []
    for name, query in sorted(queries.items()):
        template = templates.get(f"{sql_connector.QUERY_PREFIX}{name}")
        out.append(QueryTemplate(
            name=name, title=str(query.get("title") or name),
            description=str(query.get("description") or ""), sql=str(query["sql"]),
            date_column=query.get("date_column"),
            template_id=None if template is None else template.id,
            fields=[] if template is None else [f["name"] for f in template.fields]))
    return out
