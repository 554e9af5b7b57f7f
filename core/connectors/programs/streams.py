"""What Airbyte sources and Singer taps share: a stream's JSON Schema as template fields,
the date field (the cursor, else a date or date-time field), the window as a state, and
records as Arrow tables of the fields' types."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import Any

import pyarrow as pa

from core.connectors import shaping
from core.connectors.base import FetchRequest, FieldSpec, SourceError, TemplateSpec
from core.connectors.http_json import records, typed

CHUNK_ROWS = 10_000


def field_type(schema: Mapping[str, Any]) -> str:
    """The field type of one JSON Schema property (nested objects and arrays: JSON text)."""
    kinds = schema.get("type", "string")
    kinds = [k for k in ([kinds] if isinstance(kinds, str) else kinds) if k != "null"]
    kind = kinds[0] if len(kinds) == 1 else "string"
    if kind == "string":
        fmt = schema.get("format")
        return {"date": "date", "date-time": "datetime"}.get(str(fmt), "string")
    return {"integer": "integer", "number": "number", "boolean": "boolean"}.get(kind, "string")


def column_types(schema: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Each column of a stream's records: nested objects flattened to parent.child, as
    `records.flatten` flattens the records."""
    out: dict[str, str] = {}
    for name, spec in (schema.get("properties") or {}).items():
        kinds = spec.get("type")
        kinds = [kinds] if isinstance(kinds, str) else (kinds or [])
        if "object" in kinds and spec.get("properties"):
            out.update(column_types(spec, f"{prefix}{name}."))
        else:
            out[f"{prefix}{name}"] = field_type(spec)
    return out


def template(name: str, schema: Mapping[str, Any], cursor: str | None, source: str,
             wanted_date: str | None = None) -> TemplateSpec:
    """The template of one stream: its fields, and the date field from `wanted_date`, the
    cursor, or the likeliest date column; none when the stream has no date."""
    types = column_types(schema)
    if wanted_date and types.get(wanted_date) not in ("date", "datetime"):
        raise SourceError(f"date field {wanted_date!r} of stream {name} is "
                          + (f"{types[wanted_date]}" if wanted_date in types else "not a field")
                          + "; its date and date-time fields: "
                          + (", ".join(n for n, t in types.items() if t in ("date", "datetime"))
                             or "none"))
    preferred = wanted_date or (cursor if types.get(cursor or "") in ("date", "datetime")
                                else None)
    date_column = shaping.choose_date_column(types, preferred)
    fields, date_field = shaping.build_fields(types, date_column)
    how = (f"the window applies to {date_column}" if date_column
           else "no date field: each run loads the whole stream")
    return TemplateSpec(name=name, title=f"{name} ({source})"[:200],
                        description=f"Stream {name} of {source}; {how}.",
                        fields=fields, date_field=date_field,
                        default_fields=tuple(f.name for f in fields[:30]))


def date_overrides(text: str) -> dict[str, str]:
    """`"users=created_at, purchases=purchased_at"` as a mapping; ValueError naming the bad
    part."""
    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        stream, sep, field = (s.strip() for s in part.partition("="))
        if not sep or not stream or not field:
            raise ValueError(f"{part!r} is not stream=field")
        out[stream] = field
    return out


def resume_state(saved: Mapping[str, Any] | None, cursor_value: Any, day: date
                 ) -> dict[str, Any] | None:
    """The saved state, when its cursor value is at or before the window's first day (the
    source then skips only days before the window); else None, a read from the beginning.

    A state is never made up from the window: a source may read any state its own way
    (airbyte-source-faker, not always updating, takes any state as "all sent already")."""
    if saved is None or not isinstance(cursor_value, str):
        return None
    try:
        return dict(saved) if _day_of(cursor_value) <= day else None
    except ValueError:
        return None


def _day_of(value: str) -> date:
    if len(value) == 10:
        return date.fromisoformat(value)
    return datetime.fromisoformat(value.replace("Z", "+00:00")).date()


def wanted_fields(request: FetchRequest) -> list[FieldSpec]:
    """The template's fields a run needs: those asked for, the bases of derived date
    fields, and the date field."""
    template = request.template
    types = {f.name: f.type for f in template.fields}
    wanted = set(request.fields)
    wanted |= {b for n in request.fields if (b := shaping.derived_base(n, types))}
    if template.date_field:
        wanted.add(template.date_field)
        if base := shaping.derived_base(template.date_field, types):
            wanted.add(base)
    return [f for f in template.fields if f.name in wanted]


def tables(rows: Iterable[Mapping[str, Any] | None], fields: Sequence[FieldSpec],
           date_field: str | None) -> Iterator[pa.Table]:
    """Records (None: the source is quiet) as Arrow tables of CHUNK_ROWS rows; an empty
    table on each quiet tick, so the run can check for cancel and timeout meanwhile."""
    pending: list[dict[str, Any]] = []
    for row in rows:
        if row is None:
            if pending:
                yield typed.table(pending, fields, date_field)
                pending = []
            else:
                yield typed.table([], fields, date_field)
            continue
        pending.append(records.flatten(row))
        if len(pending) >= CHUNK_ROWS:
            yield typed.table(pending, fields, date_field)
            pending = []
    if pending:
        yield typed.table(pending, fields, date_field)
