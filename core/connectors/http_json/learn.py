"""The template's fields, learned from a sample of records: JSON numbers are `number` unless
the user says `integer` (and every sampled value is whole), `column_types` corrects the rest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from core.connectors import shaping
from core.connectors.base import SourceError
from core.connectors.http_json import typed


def field_types(sample: Sequence[Mapping[str, Any]], overrides: Mapping[str, str]
                ) -> dict[str, str]:
    """Each sampled field's type; SourceError naming the field and value an override
    does not fit, or an override of a field the sample does not have."""
    names = list(dict.fromkeys(k for record in sample for k in record))
    unknown = [n for n in overrides if n not in names]
    if unknown:
        raise SourceError(f"column_types names {', '.join(unknown)}, not in the sampled "
                          f"records; their fields: {', '.join(names)}")
    types: dict[str, str] = {}
    for name in names:
        values = [r.get(name) for r in sample]
        found = shaping.type_of_values(values)
        # JSON writes 0.0 as 0: a whole number in a sample says nothing about the next page.
        types[name] = "number" if found == "integer" else found
        wanted = overrides.get(name)
        if wanted is None:
            continue
        for index, value in enumerate(values):
            try:
                typed.convert(value, wanted)
            except ValueError as exc:
                raise SourceError(f"column_types {name}={wanted} does not fit the sample: "
                                  f"record {index + 1} has {name} = {value!r} ({exc})"
                                  ) from None
        types[name] = wanted
    return types
