"""Records as an Arrow table with the template's field types: each value converted, or an
error naming the field, the value and the record it is in."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from core.connectors import shaping
from core.connectors.base import FieldSpec, SourceError

ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(), "integer": pa.int64(), "number": pa.float64(),
    "date": pa.date32(), "datetime": pa.timestamp("us", tz="UTC"), "boolean": pa.bool_(),
}
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}")


def convert(value: Any, type_: str) -> Any:
    """A JSON value as a value of `type_` (None stays None); ValueError saying why not."""
    if value is None:
        return None
    if type_ == "string":
        return value if isinstance(value, str) else json.dumps(value)
    if type_ in ("integer", "number"):
        if isinstance(value, bool):
            raise ValueError(f"a boolean is not a {type_}")
        number = float(value) if isinstance(value, str) else value
        if not isinstance(number, int | float):
            raise ValueError(f"not a {type_}")
        if type_ == "number":
            return float(number)
        if isinstance(number, float) and not number.is_integer():
            raise ValueError("a fraction in an integer field")
        return int(number)
    if type_ == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ValueError("not true or false")
    if not isinstance(value, str):
        raise ValueError(f"not ISO {type_} text")
    if type_ == "date":
        if not _DAY.match(value):
            raise ValueError("not an ISO date (YYYY-MM-DD)")
        return date.fromisoformat(value[:10])
    stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)


def _hint(name: str, type_: str, value: Any) -> str:
    if type_ == "integer" and isinstance(value, float):
        return (f"JSON numbers are learned as number, integer only when chosen: drop "
                f"{name}=integer from the connection's column_types if it is there, refresh its "
                "templates, then load the extract into a new data table (this one's column "
                "holds integers)")
    return (f"correct its type in the connection's column_types (e.g. {name}=string), "
            "refresh its templates, then edit the extract")


def _whole_column(values: list[Any], type_: str) -> pa.Array | None:
    """The column converted by Arrow in one go when its values already have the field's
    kind (ints and floats for a number, ISO day text for a date); None when some value needs
    a look of its own (then `convert` names any that does not fit)."""
    target = ARROW_TYPES[type_]
    try:
        if type_ == "string":
            return pa.array(values, type=target)
        if type_ == "datetime":
            return None  # offsets and a trailing Z: each value is parsed on its own
        inferred = pa.array(values)
        kind = inferred.type
        if pa.types.is_null(kind):
            return pa.nulls(len(values), target)
        fits = {"number": pa.types.is_integer(kind) or pa.types.is_floating(kind),
                "integer": pa.types.is_integer(kind),
                "boolean": pa.types.is_boolean(kind),
                "date": pa.types.is_string(kind)}[type_]
        return pc.cast(inferred, target) if fits else None
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
        return None


def table(rows: Sequence[Mapping[str, Any]], fields: Sequence[FieldSpec],
          date_field: str | None) -> pa.Table:
    """The records as an Arrow table with one column per field, typed as the field says;
    a derived `<timestamp>__date` field is the day (UTC) of its timestamp."""
    types = {f.name: f.type for f in fields}
    derived = {f.name: base for f in fields
               if (base := shaping.derived_base(f.name, types)) is not None}
    columns: dict[str, pa.Array] = {}
    for spec in fields:
        if spec.name in derived:
            continue
        whole = _whole_column([row.get(spec.name) for row in rows], spec.type)
        if whole is not None:
            columns[spec.name] = whole
            continue
        values = []
        for row in rows:
            value = row.get(spec.name)
            try:
                values.append(convert(value, spec.type))
            except (ValueError, TypeError) as exc:
                dated = row.get(date_field) if date_field and date_field not in derived \
                    else None
                where = f" (the record of {dated})" if dated else ""
                raise SourceError(
                    f"field {spec.name} is {spec.type} but the source sent {value!r}{where}: "
                    f"{exc}; {_hint(spec.name, spec.type, value)}") from None
        columns[spec.name] = pa.array(values, type=ARROW_TYPES[spec.type])
    for name, base in derived.items():
        # The day of the timestamp in UTC.
        columns[name] = pc.cast(pc.floor_temporal(columns[base], unit="day"), pa.date32())
    return pa.table({f.name: columns[f.name] for f in fields})
