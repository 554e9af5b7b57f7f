"""Custom queries of a sql connection: the templates they become, and sampling their columns.

The dashboard's service stores a custom query in the connection's config under `queries`
(`{name: {"sql", "title", "description", "date_column", "types"}}`); the connector offers each
as the template `query:<name>` and runs it as a subquery.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from core.connectors import shaping
from core.connectors.base import FieldType, TemplateSpec
from core.connectors.sql import driver_errors, engine

QUERY_PREFIX = "query:"
SAMPLE_ROWS = 200


def escaped(sql: str) -> str:
    """The query as SQLAlchemy text that runs verbatim."""
    # Colons are not bind parameters (`::date`, '10:30').
    return sql.replace(":", r"\:")


def template_of(name: str, query: Mapping[str, Any]) -> TemplateSpec:
    """The template a stored custom query offers."""
    types: dict[str, str] = dict(query["types"])
    date_column = query.get("date_column")
    fields, date_field = shaping.build_fields(types, date_column)
    return TemplateSpec(
        name=f"{QUERY_PREFIX}{name}", title=str(query.get("title") or name),
        description=str(query.get("description") or f"Custom query: {query['sql']}"),
        fields=fields, date_field=date_field,
        default_fields=tuple(f.name for f in fields[:30]),
    )


def sample_columns(config: Mapping[str, Any], statement: str) -> list[tuple[str, FieldType]]:
    """The columns a query returns, in order, with the field type of a sample of its rows.

    A query the database refuses raises SourceError with the database's message.
    """
    url = engine.url_of(config)
    source = engine.engine_of(config)
    try:
        with source.connect() as conn:
            sample = sa.select(sa.text("*")).select_from(
                sa.text(escaped(statement)).columns().subquery("q")).limit(SAMPLE_ROWS)
            result = conn.execute(sample)
            keys = list(result.keys())
            rows = result.fetchall()
    except DBAPIError as exc:
        raise driver_errors.source_error(exc, url) from None
    finally:
        source.dispose()
    return [(key, shaping.type_of_values(row[i] for row in rows)) for i, key in enumerate(keys)]
