"""The SELECT of one fetch: the fields, of the account, in the window, through the filters.

Identifiers are quoted and every value is bound, so nothing a user typed becomes SQL.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement, quoted_name

from core.connectors import shaping
from core.connectors.base import FetchRequest, Filter, SourceError
from core.connectors.sql import custom_queries
from core.field_types import SQL_TYPES


def table(name: str, columns: list[str], schema: str | None,
          types: Mapping[str, str] | None = None) -> sa.TableClause:
    """A table or view with these columns (typed when `types` says), every name quoted."""
    types = types or {}
    return sa.table(
        quoted_name(name, quote=True),
        *(sa.column(quoted_name(c, quote=True), SQL_TYPES[types.get(c, "string")]())
          for c in columns),
        schema=quoted_name(schema, quote=True) if schema else None,
    )


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


def _source_of(request: FetchRequest, types: Mapping[str, str]) -> sa.FromClause:
    """The table, or the custom query wrapped as a subquery, with typed columns."""
    config = request.connection.config
    name = request.template.name
    columns = list(types)
    if name.startswith(custom_queries.QUERY_PREFIX):
        queries = dict(config.get("queries") or {})
        query = queries.get(name[len(custom_queries.QUERY_PREFIX):])
        if query is None:
            raise SourceError(f"the custom query {name!r} is gone from the connection; "
                              "add it again or pick another template")
        text = sa.text(custom_queries.escaped(str(query["sql"]))).columns(
            *(sa.column(c, SQL_TYPES[types[c]]()) for c in columns))
        return text.subquery("q")
    return table(name, columns, config.get("schema") or None, types)


def _day_of(column: ColumnElement[Any], dialect: str) -> ColumnElement[Any]:
    if dialect == "sqlite":
        return sa.type_coerce(sa.func.date(column), sa.Date)
    return sa.cast(column, sa.Date)


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
