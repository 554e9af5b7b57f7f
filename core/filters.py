"""Row filters: which operators fit which field type, checking values, applying to Arrow
tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from core.connectors.base import FieldSpec, Filter
from core.errors import Problem
from core.vocabulary import LIST_VALUE, NO_VALUE, OPERATORS
from core.warehouse import arrow


def _scalar(type_: str, value: Any) -> Any:
    """`value` as the Python value of a field type; ValueError when it does not fit."""
    if value is None:
        raise ValueError("is required")
    if type_ == "string":
        if not isinstance(value, str):
            raise ValueError(f"must be text, not {value!r}")
        return value
    if type_ == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"must be a whole number, not {value!r}")
        return value
    if type_ == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"must be a number, not {value!r}")
        return float(value)
    if type_ == "boolean":
        if not isinstance(value, bool):
            raise ValueError(f"must be true or false, not {value!r}")
        return value
    if type_ == "date":
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            raise ValueError(f"must be an ISO date such as 2025-01-31, not {value!r}") from None
    if type_ == "datetime":
        if isinstance(value, datetime):
            return value
        try:
            return datetime.fromisoformat(str(value))
        except ValueError:
            raise ValueError(
                f"must be an ISO date-time such as 2025-01-31T08:00:00, not {value!r}"
            ) from None
    raise ValueError(f"unknown field type {type_}")


def check(raw: Mapping[str, Any], fields: Mapping[str, FieldSpec], where: str
          ) -> tuple[Filter | None, list[Problem]]:
    """Validate one filter given as a mapping; return it with typed values, or the problems."""
    name, operator, value = raw.get("field"), raw.get("operator"), raw.get("value")
    if not isinstance(name, str) or name not in fields:
        known = ", ".join(sorted(fields))
        return None, [Problem(f"{where}.field", f"unknown field {name!r}; pick one of {known}")]
    spec = fields[name]
    allowed = OPERATORS[spec.type]
    if operator not in allowed:
        return None, [Problem(f"{where}.operator",
                              f"operator {operator!r} does not fit {spec.type} field {name}; "
                              f"use one of {', '.join(allowed)}")]
    try:
        typed: Any
        if operator in NO_VALUE:
            typed = None
        elif operator in LIST_VALUE:
            if not isinstance(value, list) or not value:
                raise ValueError(f"must be a non-empty list for {operator}, not {value!r}")
            typed = [_scalar(spec.type, v) for v in value]
        elif operator == "between":
            if not isinstance(value, list) or len(value) != 2:
                raise ValueError(f"must be a list [low, high] for between, not {value!r}")
            typed = [_scalar(spec.type, v) for v in value]
            if typed[0] > typed[1]:
                raise ValueError(f"low {value[0]} is above high {value[1]}")
        else:
            typed = _scalar(spec.type, value)
    except ValueError as exc:
        return None, [Problem(f"{where}.value", f"{name} {operator}: value {exc}")]
    return Filter(name, operator, typed), []


def to_json(item: Filter) -> dict[str, Any]:
    """A filter as stored and shown: dates as ISO text."""
    def plain(v: Any) -> Any:
        if isinstance(v, list):
            return [plain(x) for x in v]
        return v.isoformat() if isinstance(v, date) else v
    return {"field": item.field, "operator": item.operator, "value": plain(item.value)}


def apply(table: pa.Table, filters: Sequence[Filter], types: Mapping[str, str]) -> pa.Table:
    """Keep the rows of `table` that pass every filter (pyarrow.compute, column-wise).

    Each filtered column is compared as its field's type: ISO text as dates, datetimes in
    UTC (aware and naive values compare); a null passes only `is_null`.
    """
    if not filters or not table.num_rows:
        return table
    mask: Any = None
    for item in filters:
        type_ = types.get(item.field, "string")
        column = arrow.cast(table.column(item.field), type_)
        passed = pc.fill_null(_mask(column, item.operator, _value(item.value, type_)), False)
        mask = passed if mask is None else pc.and_(mask, passed)
    return table.filter(mask)


def _value(value: Any, type_: str) -> Any:
    """A filter's value (or values) as Arrow scalars of the field's type."""
    if value is None:
        return None
    if isinstance(value, list):
        return pa.array([_scalar_of(v, type_).as_py() for v in value], type=arrow.TYPES[type_])
    return _scalar_of(value, type_)


def _scalar_of(value: Any, type_: str) -> pa.Scalar:
    if type_ == "datetime" and isinstance(value, datetime) and value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)  # stored in UTC, without a zone
    return pa.scalar(value, type=arrow.TYPES[type_])


def _mask(column: Any, operator: str, value: Any) -> Any:
    valid = pc.is_valid(column)
    masks: dict[str, Any] = {
        "eq": lambda: pc.equal(column, value),
        "ne": lambda: pc.not_equal(column, value),
        "in": lambda: pc.is_in(column, value_set=value),
        "not_in": lambda: pc.and_(pc.invert(pc.is_in(column, value_set=value)), valid),
        "is_null": lambda: pc.is_null(column),
        "is_not_null": lambda: valid,
        "gt": lambda: pc.greater(column, value),
        "gte": lambda: pc.greater_equal(column, value),
        "lt": lambda: pc.less(column, value),
        "lte": lambda: pc.less_equal(column, value),
        "between": lambda: pc.and_(pc.greater_equal(column, value[0]),
                                   pc.less_equal(column, value[1])),
        "contains": lambda: pc.match_substring(column, value.as_py()),
        "not_contains": lambda: pc.invert(pc.match_substring(column, value.as_py())),
        "starts_with": lambda: pc.starts_with(column, value.as_py()),
        "ends_with": lambda: pc.ends_with(column, value.as_py()),
    }
    return masks[operator]()
