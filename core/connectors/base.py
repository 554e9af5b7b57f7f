"""The Connector protocol every datasource implements, and the shapes it speaks in."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, ClassVar, Literal, Protocol, TypeAlias

import pyarrow as pa

from core.errors import Problem
from core.vocabulary import LogLevel

FieldType = Literal["string", "integer", "number", "date", "datetime", "boolean"]
FieldKind = Literal["dimension", "metric"]
# A line for a run's log: how serious, and what happened.
Note: TypeAlias = tuple[LogLevel, str]
FIELD_TYPES: tuple[str, ...] = ("string", "integer", "number", "date", "datetime", "boolean")


class TransientError(Exception):
    """A failure worth retrying: a timeout, a rate limit, a server hiccup."""


class SourceError(Exception):
    """A permanent failure of the source, with a message that tells people what to fix."""


@dataclass(frozen=True)
class FieldSpec:
    """One field a template offers."""

    name: str
    type: FieldType
    kind: FieldKind
    required: bool = False
    title: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "kind": self.kind,
                "required": self.required, "title": self.title or self.name}


@dataclass(frozen=True)
class TemplateSpec:
    """A template as a connector declares it."""

    name: str
    title: str
    description: str
    fields: tuple[FieldSpec, ...]
    date_field: str | None
    default_fields: tuple[str, ...]
    default_lookback_days: int = 7
    depth_limit_days: int | None = None
    settings_schema: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AccountSpec:
    """An account as the source names it."""

    external_id: str
    name: str


@dataclass(frozen=True)
class ConnectionInfo:
    """What a connector needs to know of a stored connection (secrets already decrypted)."""

    id: int
    datasource: str
    config: Mapping[str, Any]
    secrets: Mapping[str, str]


@dataclass(frozen=True)
class Filter:
    """A row filter: `field operator value`."""

    field: str
    operator: str
    value: Any = None


@dataclass(frozen=True)
class FetchRequest:
    """One run's ask of a connector: an account, a template, fields, filters and a window."""

    connection: ConnectionInfo
    account: AccountSpec
    template: TemplateSpec
    fields: tuple[str, ...]
    filters: tuple[Filter, ...]
    options: Mapping[str, Any]
    date_from: date | None
    date_to: date | None
    today: date
    # The state the source ended this extract's last loaded read with (Airbyte, Singer).
    state: Any = None


Chunk: TypeAlias = pa.RecordBatch | pa.Table


@dataclass
class FetchResult:
    """What `fetch` returns: the chunks (Arrow record batches or tables, a column per
    requested field, of any Arrow type that casts to the field's), and whether the source
    already applied the filters and kept to the window."""

    chunks: Iterator[Chunk]
    filters_applied: bool = False
    window_applied: bool = False
    # Lines the source logged while the chunks were read, each at its level (for the run's
    # log).
    notes: list[Note] = field(default_factory=list)
    # The state the read ended with, once the chunks are read: kept with the loaded window
    # and handed back as the next request's `state`.
    state: Any = None


class Connector(Protocol):
    """A datasource: checks credentials, lists accounts and templates, fetches rows."""

    name: str
    title: str
    config_schema: ClassVar[Mapping[str, Any]]

    def check(self, connection: ConnectionInfo) -> str:
        """Try the connection; return a short success message or raise SourceError."""
        ...

    def discover_accounts(self, connection: ConnectionInfo) -> list[AccountSpec]:
        """The accounts this connection can reach."""
        ...

    def templates(self, connection: ConnectionInfo) -> list[TemplateSpec]:
        """The templates this connection offers."""
        ...

    def fetch(self, request: FetchRequest) -> FetchResult:
        """Rows for the request, in Arrow chunks with one column per requested field."""
        ...


def validate_options(
    schema: Mapping[str, Any], values: Mapping[str, Any], prefix: str
) -> tuple[dict[str, Any], list[Problem]]:
    """Check `values` against a small JSON-schema-like `schema`; fill defaults.

    The schema is `{"properties": {name: {"type", "title", "default", "enum", "minimum",
    "maximum", "secret"}}, "required": [...]}`; types are string, integer, number, boolean.
    """
    properties: Mapping[str, Mapping[str, Any]] = schema.get("properties", {})
    required = set(schema.get("required", []))
    clean: dict[str, Any] = {}
    problems: list[Problem] = []
    unknown = sorted(set(values) - set(properties))
    if unknown:
        known = ", ".join(sorted(properties)) or "none"
        problems.append(Problem(prefix, f"unknown setting(s) {', '.join(unknown)}; "
                                        f"known settings: {known}"))
    for name, spec in properties.items():
        where = f"{prefix}.{name}"
        if name not in values or values[name] in (None, ""):
            if name in required:
                problems.append(Problem(where, "is required"))
            elif "default" in spec:
                clean[name] = spec["default"]
            continue
        value = values[name]
        kind = spec.get("type", "string")
        ok = {
            "string": isinstance(value, str),
            "integer": isinstance(value, int) and not isinstance(value, bool),
            "number": isinstance(value, int | float) and not isinstance(value, bool),
            "boolean": isinstance(value, bool),
        }.get(kind, True)
        if not ok:
            problems.append(Problem(where, f"must be a {kind}, not {value!r}"))
            continue
        if "enum" in spec and value not in spec["enum"]:
            choices = ", ".join(str(c) for c in spec["enum"])
            problems.append(Problem(where, f"must be one of {choices}, not {value!r}"))
            continue
        if "minimum" in spec and value < spec["minimum"]:
            problems.append(Problem(where, f"must be at least {spec['minimum']}, not {value}"))
            continue
        if "maximum" in spec and value > spec["maximum"]:
            problems.append(Problem(where, f"must be at most {spec['maximum']}, not {value}"))
            continue
        clean[name] = value
    return clean, problems


def secret_names(schema: Mapping[str, Any]) -> set[str]:
    """The names of the settings a schema marks as secret."""
    return {n for n, s in schema.get("properties", {}).items() if s.get("secret")}
