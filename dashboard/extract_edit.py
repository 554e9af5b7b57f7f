"""Editing an extract: what changed in the form, saved as a partial update."""

from __future__ import annotations

from typing import Any

import streamlit as st

from core import schemas, service
from dashboard import extract_view, navigation, state
from dashboard.filter_rows import plain
from dashboard.schedule_rows import as_inputs
from dashboard.widgets import ProblemSlots


def changes(current: schemas.ExtractOut, edited: dict[str, Any]) -> dict[str, Any]:
    """The keys of `edited` whose value differs from the extract's (a PATCH body)."""
    before = {
        "title": current.title,
        "fields": sorted(current.fields),
        "filters": current.filters,
        "template_settings": current.template_settings,
        "schedules": [as_inputs(s) for s in current.schedules],
        "sync_historical_data": current.sync_historical_data,
    }
    after = {**edited, "fields": sorted(edited["fields"]),
             "filters": [{**f, "value": plain(f["value"])} for f in edited["filters"]]}
    return {key: edited[key] for key in before if after[key] != before[key]}


def save(current: schemas.ExtractOut, edited: dict[str, Any], slots: ProblemSlots,
         page: str) -> None:
    """Save what changed; problems appear next to their fields, success goes back."""
    body = changes(current, edited)
    if not body:
        st.info("Nothing changed.", icon=":material/info:")
        return
    _, error = state.attempt(service.patch_extract, extract_id=current.id, data=body)
    if error is not None:
        slots.show(error)
        return
    for key in [k for k in st.session_state if str(k).startswith(f"{page}_")]:
        del st.session_state[key]
    st.session_state[extract_view.NOTICE] = f"Saved: {', '.join(body)}."
    st.switch_page(navigation.EXTRACT, query_params={"id": str(current.id)})
