"""The product's field types as SQL column types, and SQL column types as field types."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

# The column type a field of each type gets, in the warehouse and in a source's typed query.
SQL_TYPES: dict[str, type[sa.types.TypeEngine[Any]]] = {
    "string": sa.Text, "integer": sa.BigInteger, "number": sa.Float, "date": sa.Date,
    "datetime": sa.DateTime, "boolean": sa.Boolean,
}


def of_sql_type(sql_type: Any) -> str:
    """The field type of a reflected column type (anything unknown holds strings)."""
    if isinstance(sql_type, sa.Boolean):
        return "boolean"
    if isinstance(sql_type, sa.DateTime):
        return "datetime"
    if isinstance(sql_type, sa.Date):
        return "date"
    if isinstance(sql_type, sa.Integer):
        return "integer"
    if isinstance(sql_type, sa.Numeric | sa.Float):
        return "number"
    return "string"
