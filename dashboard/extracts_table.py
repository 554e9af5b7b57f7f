"""The extracts list: its filters, the table with a selection, and bulk actions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pandas as pd
import streamlit as st

from core import schemas, service
from core.vocabulary import ExtractStatus
from dashboard import display, navigation, readers, state

GENERATION = "extracts_generation"
NOTICE = "extracts_notice"
PAGE_SIZE = 200

# What a person scans for comes first, so that it is in view at 1400 px: the title, its status,
# when it last synced and next runs, and the rows its last run loaded.
COLUMNS: dict[str, Any] = {
    "open": st.column_config.LinkColumn("", display_text="Open", width="small"),
    "title": st.column_config.TextColumn("Title", width="medium"),
    "status": st.column_config.TextColumn("Status", width=170),
    "last_sync": st.column_config.TextColumn("Last sync", width="small"),
    "next_run": st.column_config.TextColumn("Next run", width="small"),
    "last_rows": st.column_config.NumberColumn("Rows (last run)", format="localized"),
    "data_table": "Data table",
    "account": "Account",
    "template": "Template",
    "last_sync_at": st.column_config.TextColumn("Last sync at",
                                                help="In the timezone picked in the sidebar"),
    "next_run_at": st.column_config.TextColumn("Next run at",
                                               help="In the timezone picked in the sidebar"),
}
BULK_ACTIONS: dict[str, Callable[..., object]] = {
    "pause": service.pause_extract, "resume": service.unpause_extract, "run": service.run_extract,
}


def table_key() -> str:
    """The table's widget key; it changes when the rows it showed may have moved."""
    return f"extracts_table_{st.session_state.get(GENERATION, 0)}"


def _forget_selection() -> None:
    st.session_state[GENERATION] = st.session_state.get(GENERATION, 0) + 1


def _filters_changed() -> None:
    _forget_selection()
    st.session_state["extracts_page"] = 1


def filters() -> dict[str, Any]:
    """The filter row; returns keyword arguments for service.list_extracts."""
    connections = readers.connection_titles()
    tables = readers.data_table_titles()
    with st.container(horizontal=True, vertical_alignment="bottom"):
        search = st.text_input("Title contains", key="extracts_search",
                               on_change=_filters_changed)
        status = st.selectbox("Status", list(ExtractStatus), index=None, placeholder="Any",
                              key="extracts_status", on_change=_filters_changed)
        connection = st.selectbox("Connection", list(connections), index=None,
                                  format_func=connections.__getitem__, placeholder="Any",
                                  key="extracts_connection", on_change=_filters_changed)
        table = st.selectbox("Data table", list(tables), index=None, placeholder="Any",
                             format_func=tables.__getitem__, key="extracts_data_table",
                             on_change=_filters_changed)
    return {"search": search or None, "status": status, "connection_id": connection,
            "data_table_id": table}


def default_title(extract: schemas.ExtractOut) -> str:
    """The title an extract gets when none is given: 'account · template'."""
    return f"{extract.account_name} · {extract.template_title}"


def columns_shown(extracts: list[schemas.ExtractOut]) -> list[str]:
    """The columns to show: Account and Template only when a title does not already say them."""
    if all(e.title == default_title(e) for e in extracts):
        return [c for c in COLUMNS if c not in ("account", "template")]
    return list(COLUMNS)


def frame(extracts: list[schemas.ExtractOut], timezone: str,
          last_rows: dict[int, int | None], now: datetime) -> pd.DataFrame:
    """One row per extract, every cell already as the table shows it."""
    return pd.DataFrame(
        [{"open": f"extract?id={e.id}", "title": e.title,
          "status": display.status_label(e.status)
          + (" · schema changed" if e.schema_changed else ""),
          "last_sync": display.relative_time(e.last_sync, now),
          "next_run": display.next_run(e, now),
          "last_rows": last_rows.get(e.id), "data_table": e.data_table_title,
          "account": e.account_name, "template": e.template_title,
          "last_sync_at": display.local_time(e.last_sync, timezone),
          "next_run_at": display.next_run(e, now, timezone)}
         for e in extracts],
        columns=columns_shown(extracts),
    )


def table(extracts: list[schemas.ExtractOut], timezone: str) -> list[int]:
    """The table with a row selection; returns the ids of the selected extracts."""
    last_rows = state.call(service.last_run_rows, extract_ids=[e.id for e in extracts]) or {}
    event = st.dataframe(frame(extracts, timezone, last_rows, state.now()),
                         column_config=COLUMNS, hide_index=True, on_select="rerun",
                         selection_mode="multi-row", key=table_key(), alt="Extracts")
    return [extracts[i].id for i in event.selection.rows if i < len(extracts)]


def _bulk(action: str, ids: list[int]) -> None:
    fn = BULK_ACTIONS[action]
    failures = []
    for extract_id in ids:
        _, error = state.attempt(fn, extract_id=extract_id)
        if error is not None:
            failures.append(f"extract {extract_id}: {error}")
    done = {"pause": "Paused", "resume": "Resumed", "run": "Queued a run of"}[action]
    st.session_state[NOTICE] = (f"{done} {len(ids) - len(failures)} extract(s).", failures)
    _forget_selection()


def bulk_actions(ids: list[int]) -> None:
    """Open, pause, resume or run the selected extracts."""
    with st.container(horizontal=True):
        if st.button("Open", icon=":material/open_in_new:", disabled=len(ids) != 1,
                     key="extracts_open"):
            st.session_state["extract_id"] = ids[0]
            st.switch_page(navigation.EXTRACT, query_params={"id": str(ids[0])})
        for action, icon in (("pause", "pause"), ("resume", "play_arrow"),
                             ("run", "rocket_launch")):
            st.button(action.capitalize(), icon=f":material/{icon}:", disabled=not ids,
                      on_click=_bulk, args=(action, ids), key=f"extracts_{action}")
    if not ids:
        st.caption("Select rows to pause, resume or run several extracts at once.")


def page_number() -> int:
    """The page of the list the pager shows (1 until the pager is used)."""
    return int(st.session_state.get("extracts_page", 1))


def pager(total: int) -> None:
    """A page number input when the extracts fill more than one page."""
    pages = -(-total // PAGE_SIZE)
    if pages > 1:
        st.number_input(f"Page (of {pages}; {total} extracts)", 1, pages, key="extracts_page",
                        on_change=_forget_selection)
    else:
        st.caption(f"{total} extract(s)")


def notice() -> None:
    """What the last bulk action did (shown once)."""
    if NOTICE not in st.session_state:
        return
    message, failures = st.session_state.pop(NOTICE)
    st.success(message, icon=":material/check:")
    for failure in failures:
        st.error(failure, icon=":material/error:")
