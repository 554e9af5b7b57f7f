"""Row filters: which operators fit which field type, checking values, applying to frames."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from core.connectors.base import FieldSpec, Filter
from core.errors import Problem
from core.vocabulary import LIST_VALUE, NO_VALUE, OPERATORS


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


def apply(frame: pd.DataFrame, filters: Sequence[Filter], types: Mapping[str, str]
          ) -> pd.DataFrame:
    """Keep the rows of `frame` that pass every filter."""
    if not filters or frame.empty:
        return frame
    mask = np.ones(len(frame), dtype=bool)
    for item in filters:
        column = frame[item.field]
        if types.get(item.field) == "date":
            column = pd.to_datetime(column, errors="coerce")
        elif types.get(item.field) == "datetime":
            # As the warehouse stores them: UTC, naive; so aware and naive values compare.
            column = pd.to_datetime(column, errors="coerce", utc=True).dt.tz_convert(None)
        value = item.value
        if isinstance(value, date) or (isinstance(value, list) and value
                                       and isinstance(value[0], date)):
            value = ([_stamp(v) for v in value] if isinstance(value, list) else _stamp(value))
        mask &= _mask(column, item.operator, value).to_numpy(dtype=bool, na_value=False)
    return frame[mask]


def _stamp(value: date) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return stamp.tz_convert(None) if stamp.tzinfo is not None else stamp


def _mask(column: pd.Series, operator: str, value: Any) -> pd.Series:
    text = column.astype("string")
    masks: dict[str, Any] = {
        "eq": lambda: column == value,
        "ne": lambda: (column != value) & column.notna(),
        "in": lambda: column.isin(value),
        "not_in": lambda: ~column.isin(value) & column.notna(),
        "is_null": lambda: column.isna(),
        "is_not_null": lambda: column.notna(),
        "gt": lambda: column > value,
        "gte": lambda: column >= value,
        "lt": lambda: column < value,
        "lte": lambda: column <= value,
        "between": lambda: (column >= value[0]) & (column <= value[1]),
        "contains": lambda: text.str.contains(value, regex=False),
        "not_contains": lambda: ~text.str.contains(value, regex=False),
        "starts_with": lambda: text.str.startswith(value),
        "ends_with": lambda: text.str.endswith(value),
    }
    result: pd.Series = masks[operator]()
    return result
