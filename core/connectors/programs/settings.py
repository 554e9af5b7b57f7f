"""A program datasource's settings: the connection's form (package, version, the program's
own settings, date fields), the program's secrets kept apart by path, and its settings
checked against its spec."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from core.errors import Problem

SECRET_PREFIX = "source_config."


def settings_schema(example: str, kind: str) -> Mapping[str, Any]:
    """The connection settings of a program datasource."""
    return {
        "properties": {
            "package": {"type": "string", "title": "PyPI package",
                        "description": f"The {kind}'s package, e.g. {example}."},
            "version": {"type": "string", "title": "Version",
                        "description": "The package version, e.g. 6.2.1; empty: the newest "
                                       "when first installed."},
            "source_config": {"type": "object", "title": f"Settings of the {kind}",
                              "default": {},
                              "description": f"The {kind}'s own settings (its spec); those it "
                                             "marks secret are stored encrypted."},
            "date_fields": {"type": "string", "title": "Date fields",
                            "description": "Date field per stream where the cursor is not "
                                           "the one, e.g. users=created_at."},
        },
        "required": ["package"],
    }


def joined(config: Mapping[str, Any]) -> dict[str, Any]:
    """The program's settings with its secrets put back where they belong."""
    source_config = json.loads(json.dumps(config.get("source_config") or {}))
    for key, value in config.items():
        if not key.startswith(SECRET_PREFIX):
            continue
        path = key[len(SECRET_PREFIX):].split(".")
        holder = source_config
        for step in path[:-1]:
            holder = holder.setdefault(step, {})
        if holder.get(path[-1]) in (None, ""):  # a value given anew wins
            holder[path[-1]] = value
    return dict(source_config)


def spec_problems(spec: Mapping[str, Any], source_config: Mapping[str, Any], kind: str
                  ) -> list[Problem]:
    """The program's settings against its spec: required ones present, top-level types."""
    problems = []
    properties = spec.get("properties") or {}
    for name in spec.get("required") or []:
        if source_config.get(name) in (None, ""):
            title = properties.get(name, {}).get("title") or name
            problems.append(Problem(f"config.source_config.{name}",
                                    f"is required by the {kind} ({title})"))
    checks = {"integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
              "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
              "boolean": lambda v: isinstance(v, bool), "string": lambda v: isinstance(v, str)}
    for name, value in source_config.items():
        kinds = (properties.get(name) or {}).get("type")
        kinds = [kinds] if isinstance(kinds, str) else [k for k in kinds or [] if k != "null"]
        check = checks.get(kinds[0]) if len(kinds) == 1 else None
        if check is not None and value is not None and not check(value):
            problems.append(Problem(f"config.source_config.{name}",
                                    f"must be a {kinds[0]}, not {value!r}"))
    return problems


def secret_paths(spec: Mapping[str, Any], is_secret: Callable[[Mapping[str, Any]], bool],
                 prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """The paths of the settings `is_secret` marks, nested objects searched too."""
    out = []
    for name, prop in (spec.get("properties") or {}).items():
        if is_secret(prop):
            out.append((*prefix, name))
        elif prop.get("properties"):
            out += secret_paths(prop, is_secret, (*prefix, name))
    return out
