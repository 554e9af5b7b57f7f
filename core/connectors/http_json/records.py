"""The records in a JSON body: found at a dot path, nested objects flattened to columns."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from core.connectors.base import SourceError
from core.connectors.http_json.transport import Response


def records(response: Response, config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The list of record objects at `records_path`; SourceError saying where they are not."""
    path = str(config.get("records_path") or "")
    found = at(body(response), path)
    if not isinstance(found, list) or any(not isinstance(r, dict) for r in found):
        kind = type(found).__name__ if not isinstance(found, list) else "a list of values"
        raise SourceError(f"bad JSON at path {path or '(the body)'!r}: expected a list of "
                          f"objects, found {kind}; set records_path to where the records are")
    return found


def body(response: Response) -> Any:
    """The parsed JSON of a response; SourceError when it is not JSON."""
    try:
        return json.loads(response.body)
    except ValueError as exc:
        raise SourceError(f"bad JSON from {str(response.url).split('?')[0]}: {exc}") from None


def at(value: Any, path: str) -> Any:
    """The value at a dot path; SourceError naming the missing step."""
    walked: list[str] = []
    for step in filter(None, path.split(".")):
        if isinstance(value, list) and step.isdigit() and int(step) < len(value):
            value = value[int(step)]
        elif isinstance(value, dict) and step in value:
            value = value[step]
        else:
            where = ".".join(walked) or "the top level"
            keys = ", ".join(map(str, value)) if isinstance(value, dict) else type(value).__name__
            raise SourceError(f"bad JSON at path {path!r}: no {step!r} at {where} "
                              f"(found: {keys or 'nothing'})")
        walked.append(step)
    return value


def flatten(record: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested objects as parent.child keys; lists as JSON text."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        elif isinstance(value, list):
            out[name] = json.dumps(value)
        else:
            out[name] = value
    return out
