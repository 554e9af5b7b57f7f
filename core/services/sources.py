"""Sources installed from PyPI (the airbyte and singer datasources): installing one with
progress, and its settings as a form's schema, before a connection is made."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy.orm import Session

from core import audit, errors
from core.connectors import registry
from core.connectors.base import SourceError
from core.connectors.programs.source import ProgramSource
from core.vocabulary import Role

_KINDS = {"string": "string", "integer": "integer", "number": "number", "boolean": "boolean"}


def source_settings(*, session: Session, datasource: str, package: str,
                    version: str | None = None,
                    progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Install a source package (once; `progress` hears pip's lines) and return its
    settings as a form's schema (secret settings marked secret); Invalid with the
    installer's own error when the install fails."""
    audit.require(session, Role.ADMIN, "installing a source")
    connector = _program(datasource)
    try:
        spec = connector.spec({"package": package.strip(), "version": version or None},
                              progress=progress)
    except SourceError as exc:
        raise errors.Invalid(str(exc), field="config.package") from None
    return form_schema(spec, connector.is_secret)


def installed_source_settings(*, session: Session, datasource: str, package: str,
                              version: str | None = None) -> dict[str, Any] | None:
    """The settings of a source package installed on this machine as a form's schema, or
    None when it is not (nothing is installed or started to find out)."""
    audit.require(session, Role.ADMIN, "changing a connection")
    connector = _program(datasource)
    spec = connector.installed_spec({"package": package.strip(), "version": version or None})
    return None if spec is None else form_schema(spec, connector.is_secret)


def _program(datasource: str) -> ProgramSource:
    connector = registry.get(datasource)
    if not isinstance(connector, ProgramSource):
        raise errors.Invalid(f"{datasource} is not a datasource installed from PyPI; "
                             "choose airbyte or singer", field="datasource")
    return connector


def form_schema(spec: Mapping[str, Any], is_secret: Callable[[Mapping[str, Any]], bool]
                ) -> dict[str, Any]:
    """A JSON Schema's top-level properties as the settings form's schema; a nested object
    or a list is entered as JSON text."""
    properties: dict[str, Any] = {}
    for name, prop in (spec.get("properties") or {}).items():
        kinds = prop.get("type", "string")
        kinds = [kinds] if isinstance(kinds, str) else [k for k in kinds if k != "null"]
        kind = _KINDS.get(kinds[0], "object") if len(kinds) == 1 else "object"
        if "oneOf" in prop or "anyOf" in prop:
            kind = "object"
        field: dict[str, Any] = {"type": kind, "title": prop.get("title") or name,
                                 "description": prop.get("description") or ""}
        for key in ("default", "enum", "minimum", "maximum"):
            if key in prop:
                field[key] = prop[key]
        if is_secret(prop):
            field["secret"] = True
        properties[name] = field
    order = sorted(properties, key=lambda n: (spec["properties"][n].get("order", 1000), ))
    return {"properties": {n: properties[n] for n in order},
            "required": list(spec.get("required") or [])}
