"""What one fetch of files reads, and what it pushes down into the dataset's filter.

The window and the filters whose value fits the column's stored type become a dataset
expression, so Parquet statistics skip files and row groups; the rest (a column whose type
config corrected, a filter that does not fit) is applied to each chunk after it is read.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from core.connectors import shaping
from core.connectors.base import FetchRequest, Filter, SourceError
from core.connectors.files import schema


class Plan:
    """What to read (columns), what to skip (a dataset filter) and what to derive."""

    def __init__(self) -> None:
        self.columns: dict[str, pc.Expression] = {}
        self.filter: pc.Expression | None = None
        self.derived: dict[str, str] = {}
        self.convert: dict[str, str] = {}
        # A window on a column whose type config corrected: applied after conversion.
        self.window_after: tuple[str, date, date] | None = None
        self.all_filters_pushed = True
        # Whether the rows read are exactly the window's: a window on a timestamp with a
        # zone is pushed down in UTC, while its days are local; the runner checks those.
        self.window_exact = True
        self.filter_columns: set[str] = set()

    def keep(self, expression: pc.Expression, column: str) -> None:
        self.filter = expression if self.filter is None else self.filter & expression
        self.filter_columns.add(column)


def for_fetch(request: FetchRequest, arrow_schema: pa.Schema, corrected: Mapping[str, str]
              ) -> Plan:
    """The plan of one fetch: its fields, its account and window, its filters."""
    plan = Plan()
    stored = schema.flat_names(arrow_schema)
    types = {f.name: f.type for f in request.template.fields}
    config = request.connection.config

    def need(name: str) -> None:
        base = shaping.derived_base(name, types)
        if base is not None:
            plan.derived[name] = base
            name = base
        if name not in stored:
            raise SourceError(f"the files have no column {name!r} any more: their columns are "
                              f"{', '.join(stored)}; refresh the connection's templates")
        plan.columns[name] = schema.ref(name, arrow_schema)
        if name in corrected:
            plan.convert[name] = corrected[name]

    for name in request.fields:
        need(name)
    if config.get("accounts") == "column":
        column = str(config["account_column"])
        if column not in stored:
            raise SourceError(f"the files have no account column {column!r}")
        value: Any = request.account.external_id
        if pa.types.is_integer(stored[column]):
            value = int(value)
        plan.keep(schema.ref(column, arrow_schema) == _scalar(value, stored[column]), column)
    date_field = request.template.date_field
    if date_field and request.date_from and request.date_to:
        column = shaping.derived_base(date_field, types) or date_field
        start, stop = request.date_from, request.date_to + timedelta(days=1)
        zoned = pa.types.is_timestamp(stored[column]) and stored[column].tz is not None
        if zoned:
            # Compared in UTC, while its days are local: a day more on each side here, and
            # the runner keeps the window's local days exactly.
            start, stop = start - timedelta(days=1), stop + timedelta(days=1)
            plan.window_exact = False
        window = None if column in corrected else _window(
            schema.ref(column, arrow_schema), stored[column], start, stop)
        if window is not None:
            plan.keep(window, column)
        else:
            need(column)
            plan.window_after = (column, request.date_from, request.date_to + timedelta(days=1))
    for item in shaping.typed_filters(request):
        pushed = None
        if item.field in stored and item.field not in corrected \
                and _fits(types[item.field], stored[item.field]):
            pushed = _condition(schema.ref(item.field, arrow_schema), stored[item.field], item)
        if pushed is None:
            plan.all_filters_pushed = False
            need(item.field)
        else:
            plan.keep(pushed, item.field)
    return plan


def _scalar(value: Any, stored: pa.DataType) -> pa.Scalar:
    if isinstance(value, date) and not isinstance(value, datetime) \
            and pa.types.is_timestamp(stored):
        value = datetime.combine(value, time())
    return pa.scalar(value, type=stored)


def _fits(field_type: str, stored: pa.DataType) -> bool:
    """Whether a filter value of `field_type` compares safely with a stored column."""
    return {
        "string": pa.types.is_string(stored) or pa.types.is_large_string(stored),
        "integer": pa.types.is_integer(stored),
        "number": pa.types.is_integer(stored) or pa.types.is_floating(stored),
        "boolean": pa.types.is_boolean(stored),
        "date": pa.types.is_date(stored),
        "datetime": pa.types.is_timestamp(stored),
    }[field_type]


def _window(column: pc.Expression, stored: pa.DataType, start: date, stop: date
            ) -> pc.Expression | None:
    """start <= column < stop (stop exclusive), in the column's stored type."""
    if pa.types.is_date(stored) or pa.types.is_timestamp(stored):
        return (column >= _scalar(start, stored)) & (column < _scalar(stop, stored))
    if pa.types.is_string(stored) or pa.types.is_large_string(stored):
        # ISO text sorts as time does: "2025-01-31" and "2025-01-31T10:00" < "2025-02-01".
        return (column >= start.isoformat()) & (column < stop.isoformat())
    return None


def _condition(column: pc.Expression, stored: pa.DataType, item: Filter) -> pc.Expression:
    value = item.value

    def s(v: Any) -> pa.Scalar:
        return _scalar(v, stored)

    def values() -> pa.Array:
        return pa.array([s(v).as_py() for v in value], type=stored)

    conditions: dict[str, Any] = {
        "eq": lambda: column == s(value),
        "ne": lambda: (column != s(value)) & column.is_valid(),
        "in": lambda: column.isin(values()),
        "not_in": lambda: ~column.isin(values()) & column.is_valid(),
        "is_null": lambda: column.is_null(),
        "is_not_null": lambda: column.is_valid(),
        "gt": lambda: column > s(value),
        "gte": lambda: column >= s(value),
        "lt": lambda: column < s(value),
        "lte": lambda: column <= s(value),
        "between": lambda: (column >= s(value[0])) & (column <= s(value[1])),
        "contains": lambda: pc.match_substring(column, value),
        "not_contains": lambda: ~pc.match_substring(column, value) & column.is_valid(),
        "starts_with": lambda: pc.starts_with(column, value),
        "ends_with": lambda: pc.ends_with(column, value),
    }
    result: pc.Expression = conditions[item.operator]()
    return result
