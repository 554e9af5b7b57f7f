"""The datasources the product knows, by name."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from core import clock, errors
from core.connectors.airbyte import Airbyte
from core.connectors.base import Connector
from core.connectors.files import Files
from core.connectors.http_json import HttpJson
from core.connectors.sample_ads import SampleAds
from core.connectors.singer import Singer
from core.connectors.sql import SqlDatabase

_CONNECTORS: dict[str, Connector] = {}


def register(connector: Connector) -> None:
    """Make a datasource available under its `name` (replacing one of the same name)."""
    _CONNECTORS[connector.name] = connector


def get(datasource: str) -> Connector:
    """The connector of `datasource`, or Invalid naming the known ones."""
    try:
        return _CONNECTORS[datasource]
    except KeyError:
        known = ", ".join(sorted(_CONNECTORS))
        raise errors.Invalid(f"unknown datasource {datasource!r}; known: {known}",
                             field="datasource") from None


def names() -> list[str]:
    """The names of every registered datasource."""
    return sorted(_CONNECTORS)


def _kind(spec: Mapping[str, Any]) -> str:
    kind = str(spec.get("type", "string"))
    if "enum" in spec:
        kind += ": " + ", ".join(f"`{c}`" for c in spec["enum"])
    bounds = [f"{word} {spec[key]:,}".replace(",", "_") for key, word in
              (("minimum", "min"), ("maximum", "max")) if key in spec]
    return kind + (f" ({', '.join(bounds)})" if bounds else "")


def markdown_table() -> str:
    """The README's table of the built-in connectors' config keys, from their settings
    schemas (a test's or a plugin's connector registered in this process is not listed)."""
    lines = ["| Datasource | Key | Type | Default | What it does |",
             "| --- | --- | --- | --- | --- |"]
    for name in sorted(BUILT_IN):
        schema = get(name).config_schema
        required = set(schema.get("required", []))
        for key, spec in schema.get("properties", {}).items():
            default = ("required" if key in required else
                       f"`{spec['default']}`" if "default" in spec else "")
            text = str(spec.get("description") or spec.get("title", ""))
            text = text.replace("|", "\\|").replace("*", "\\*")
            if spec.get("secret") and "encrypted" not in text:
                text += " Secret: stored encrypted, never shown."
            lines.append(f"| `{name}` | `{key}` | {_kind(spec)} | {default} | {text} |")
    return "\n".join(lines)


register(SampleAds())
register(SqlDatabase())
register(Files())
register(HttpJson(clock=clock.utcnow))
register(Airbyte())
register(Singer())

# The connectors the product ships (the README documents these).
BUILT_IN: tuple[str, ...] = tuple(names())

if __name__ == "__main__":
    sys.stdout.write(markdown_table() + "\n")
