"""Helpers the table-like connectors share: field types from values, the derived date field,
DataFrames as Arrow chunks.

A template's date field must hold dates: the runner and the warehouse compare it with the
window's days. When the only time column of a source is a timestamp, the template gets a
derived field `<column>__date` (the timestamp's day), and the timestamp stays a field of its own.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from core import filters
from core.connectors.base import FIELD_TYPES, FetchRequest, FieldSpec, FieldType, Filter
from core.errors import Problem

DERIVED_DATE_SUFFIX = "__date"
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_DATETIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")
_PREFERRED_DATE_NAMES = ("date", "day", "event_date", "report_date", "created_at", "timestamp")


def column_types(text: str) -> dict[str, str]:
    """`"amount=number, day=date"` as a mapping; ValueError naming the bad part."""
    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, type_ = (s.strip() for s in part.partition("="))
        if not sep or not name or type_ not in FIELD_TYPES:
            raise ValueError(f"{part!r} is not name=type with a type among "
                             f"{', '.join(FIELD_TYPES)}")
        out[name] = type_
    return out


def column_types_problems(config: Mapping[str, Any]) -> list[Problem]:
    """The problem with a connection's `column_types` setting, if it has one."""
    try:
        column_types(str(config.get("column_types") or ""))
    except ValueError as exc:
        return [Problem("config.column_types", str(exc))]
    return []


def type_of_values(values: Iterable[Any]) -> FieldType:
    """The field type that fits every non-null value (ISO text counts as a date or datetime)."""
    kinds: set[str] = set()
    for value in values:
        if value is None or (isinstance(value, float) and value != value):
            continue
        if isinstance(value, bool):
            kinds.add("boolean")
        elif isinstance(value, int):
            kinds.add("integer")
        elif isinstance(value, float | Decimal):
            kinds.add("number")
        elif isinstance(value, datetime):
            kinds.add("datetime")
        elif isinstance(value, date) or (isinstance(value, str) and _ISO_DATE.match(value)):
            kinds.add("date")
        elif isinstance(value, str) and _ISO_DATETIME.match(value):
            kinds.add("datetime")
        else:
            return "string"
    if not kinds:
        return "string"
    if len(kinds) == 1:
        return kinds.pop()  # type: ignore[return-value]
    if kinds == {"integer", "number"}:
        return "number"
    if kinds == {"date", "datetime"}:
        return "datetime"
    return "string"


def field_kind(name: str, type_: str) -> str:
    """Numbers are metrics unless their name says they identify something."""
    lowered = name.lower()
    if type_ in ("integer", "number") and not (lowered == "id" or lowered.endswith(("_id", ".id"))):
        return "metric"
    return "dimension"


def choose_date_column(types: Mapping[str, str], preferred: str | None = None) -> str | None:
    """The column that drives windows: the one asked for, else the likeliest date column."""
    if preferred:
        return preferred if types.get(preferred) in ("date", "datetime") else None
    candidates = [n for n, t in types.items() if t in ("date", "datetime")]
    if not candidates:
        return None
    for wanted in _PREFERRED_DATE_NAMES:
        for name in candidates:
            if name.lower() == wanted:
                return name
    dates = [n for n in candidates if types[n] == "date"]
    return (dates or candidates)[0]


def derived_date_name(column: str) -> str:
    return f"{column}{DERIVED_DATE_SUFFIX}"


def derived_base(field: str, types: Mapping[str, str]) -> str | None:
    """The timestamp column a derived date field is the day of, or None for a plain field."""
    if not field.endswith(DERIVED_DATE_SUFFIX):
        return None
    base = field[: -len(DERIVED_DATE_SUFFIX)]
    return base if types.get(base) == "datetime" else None


def build_fields(types: Mapping[str, str], date_column: str | None
                 ) -> tuple[tuple[FieldSpec, ...], str | None]:
    """Template fields for columns of these types, and the name of the date field."""
    specs = [FieldSpec(name, type_, field_kind(name, type_),  # type: ignore[arg-type]
                       required=name == date_column and type_ == "date")
             for name, type_ in types.items()]
    if date_column is None:
        return tuple(specs), None
    if types[date_column] == "date":
        return tuple(specs), date_column
    derived = derived_date_name(date_column)
    specs.insert(0, FieldSpec(derived, "date", "dimension", required=True,
                              title=f"Day of {date_column}"))
    return tuple(specs), derived


def typed_filters(request: FetchRequest) -> list[Filter]:
    """The request's filters with values of their fields' Python types (dates as dates)."""
    fields = {f.name: f for f in request.template.fields}
    out = []
    for raw in request.filters:
        item, _ = filters.check({"field": raw.field, "operator": raw.operator,
                                 "value": raw.value}, fields, "filters")
        if item is not None:
            out.append(item)
    return out
