"""Small building blocks the forms share: settings rendered from a schema, problems by field."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from core import errors

# The words a person sees for the fields the service names (API field names stay in the API).
FIELD_WORDS = {"date_from": "start date", "date_to": "end date",
               "sync_historical_data": "historical start date",
               "data_table_title": "data table title", "template_id": "template",
               "template_settings.fields": "fields", "every_hours": "every (hours)",
               "day_of_month": "day of month"}
_PATH_PART = re.compile(r"([a-z_]+)\[(\d+)\]")


def field_label(path: str) -> str:
    """A field path as words: 'template_settings.filters[1].value' -> 'Filter 2, value';
    'schedules[0].hour' -> 'Schedule 1, hour'; 'date_from' -> 'Start date'."""
    if path in FIELD_WORDS:
        words = FIELD_WORDS[path]
        return words[0].upper() + words[1:]
    parts = []
    for part in path.removeprefix("template_settings.").split("."):
        numbered = _PATH_PART.fullmatch(part)
        if numbered:
            name, index = numbered.groups()
            parts.append(f"{name.rstrip('s').replace('_', ' ')} {int(index) + 1}")
        else:
            parts.append(FIELD_WORDS.get(part, part.replace("_", " ")))
    text = ", ".join(parts)
    return text[0].upper() + text[1:] if text else text


def plain_message(message: str) -> str:
    """A service message in the dashboard's words: field names as the form labels them."""
    leading = any(message.startswith(name) for name in FIELD_WORDS)
    for name, words in FIELD_WORDS.items():
        message = re.sub(rf"\b{re.escape(name)}\b", words, message)
    message = message.replace("; leave it out for the default", "; type a title")
    return message[0].upper() + message[1:] if leading else message


def route(problems: Sequence[errors.Problem], slots: Sequence[str]) -> dict[str, list[str]]:
    """Each problem's message under the most specific slot its field lies in ('' for none),
    in words (no field paths)."""
    routed: dict[str, list[str]] = {}
    for problem in problems:
        matches = [s for s in slots if s and (problem.field == s or problem.field.startswith(
            (s + ".", s + "[")))]
        slot = max(matches, key=len) if matches else ""
        message = plain_message(problem.message)
        if slot != problem.field and problem.field:
            message = f"{field_label(problem.field)}: {problem.message}"
            message = plain_message(message)
        routed.setdefault(slot, []).append(message)
    return routed


class ProblemSlots:
    """Places under each group of widgets where the problems with that group's field appear."""

    def __init__(self, page: str, outcome: str = "Nothing was saved") -> None:
        self.page = page
        self.outcome = outcome  # what the refusal means: "No run was queued", ...
        self.slots: dict[str, DeltaGenerator] = {}

    def here(self, field: str) -> None:
        """Reserve the place for the problems of `field` (and of the fields under it)."""
        self.slots[field] = st.container(key=slot_key(self.page, field))

    def show(self, error: errors.ExtractsError) -> None:
        """Show an error: an Invalid's problems each next to its field, anything else here."""
        if not isinstance(error, errors.Invalid):
            st.error(plain_message(str(error)), icon=":material/error:")
            return
        routed = route(error.problems, list(self.slots))
        for slot, messages in routed.items():
            place = self.slots.get(slot)
            for message in messages:
                (place or st).error(message, icon=":material/error:")
        if set(routed) - {""}:
            st.error(f"{self.outcome}: fix the problems marked above.",
                     icon=":material/error:")


def add_row(key: str) -> None:
    """Add a row to the list of row ids kept under `key` (filters, schedules)."""
    ids: list[int] = st.session_state[key]
    ids.append(max(ids, default=-1) + 1)


def remove_row(key: str, row: int) -> None:
    """Remove one row id from the list kept under `key`."""
    st.session_state[key].remove(row)


def slot_key(page: str, field: str) -> str:
    """The container key of a problem slot (tests find problems under it)."""
    return f"{page}_problems_" + re.sub(r"[^A-Za-z0-9_]", "_", field)


def settings_inputs(schema: Mapping[str, Any], key: str,
                    values: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Inputs for a small JSON-schema-like settings schema; returns the values entered.

    Secret settings are password inputs and never pre-filled.
    """
    properties: Mapping[str, Mapping[str, Any]] = schema.get("properties", {})
    required = set(schema.get("required", []))
    values = values or {}
    out: dict[str, Any] = {}
    for name, spec in properties.items():
        label = str(spec.get("title") or name) + (" *" if name in required else "")
        help_text = spec.get("description")
        current = values.get(name, spec.get("default"))
        widget_key = f"{key}_{name}"
        kind = spec.get("type", "string")
        if "enum" in spec:
            options = list(spec["enum"])
            out[name] = st.selectbox(label, options, help=help_text, key=widget_key,
                                     index=options.index(current) if current in options
                                     else None)
        elif kind == "boolean":
            out[name] = st.checkbox(label, value=bool(current), help=help_text, key=widget_key)
        elif kind == "integer":
            out[name] = st.number_input(
                label, value=None if current is None else int(current),
                min_value=_bound(spec, "minimum", int), max_value=_bound(spec, "maximum", int),
                step=1, help=help_text, key=widget_key)
        elif kind == "number":
            out[name] = st.number_input(
                label, value=None if current is None else float(current),
                min_value=_bound(spec, "minimum", float),
                max_value=_bound(spec, "maximum", float), help=help_text, key=widget_key)
        elif kind in ("object", "array"):
            text = st.text_area(label, value="" if current in (None, "", {}, [])
                                else json.dumps(current, indent=1),
                                help=(help_text or "") + " (JSON)", key=widget_key)
            try:
                out[name] = json.loads(text) if text.strip() else None
            except ValueError:
                out[name] = text  # the check names the field and says it is not JSON
        elif spec.get("secret"):
            out[name] = st.text_input(label, type="password", help=help_text, key=widget_key)
        else:
            out[name] = st.text_input(label, value=current or "", help=help_text,
                                      key=widget_key)
    return {k: v for k, v in out.items() if v not in (None, "")}


def _bound(spec: Mapping[str, Any], name: str, cast: Any) -> Any:
    return None if name not in spec else cast(spec[name])
