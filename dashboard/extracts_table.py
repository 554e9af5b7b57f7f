"""The extracts list: its filters, the table with a selection, and bulk actions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from core import schemas, service
from core.vocabulary import ExtractStatus, Role
from dashboard import auth, display, navigation, readers, state

GENERATION = "extracts_generation"
NOTICE = "extracts_notice"
PAGE_SIZE = 200

REFRESH_SECONDS = 3
STRIP_RUNS = 10
# What a person scans for comes first, so that it is in view at 1440 px: the title, its status,
# its last runs, since when it fails, when it last synced and next runs.
COLUMNS: dict[str, Any] = {
    "open": st.column_config.LinkColumn("", display_text="Open", width=50),
    "title": st.column_config.TextColumn("Title", width="large"),
    "status": st.column_config.TextColumn("Status", width=100),
    "last_runs": st.column_config.ImageColumn(
        "Last runs", width=120, help=f"The statuses of its last {STRIP_RUNS} runs, oldest "
        "left: green succeeded, red failed, orange cancelled, blue running, gray queued"),
    "failing": st.column_config.TextColumn(
        "Failing", width=170, help="Failed runs in a row since the last success, and when "
        "the first of them failed (in the timezone picked in the sidebar)"),
    "last_sync": st.column_config.TextColumn("Last sync", width=90),
    "next_run": st.column_config.TextColumn("Next run", width=120,
                                            help="In the timezone picked in the sidebar"),
    "schedule": st.column_config.TextColumn("Schedule", width="medium"),
    "connection": st.column_config.TextColumn("Connection", width="small"),
    "last_rows": st.column_config.TextColumn("Rows (last run)", width="small"),
    "data_table": st.column_config.TextColumn("Data table", width="small"),
    "account": st.column_config.TextColumn("Account", width="small"),
    "template": st.column_config.TextColumn("Template", width="small"),
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


@dataclass(frozen=True)
class Extras:
    """What the list shows besides the extracts themselves, read in one go per page."""

    last_rows: dict[int, int | None] = field(default_factory=dict)
    recent: dict[int, list[str]] = field(default_factory=dict)
    failing: dict[int, service.Failing] = field(default_factory=dict)
    connections: dict[int, str] = field(default_factory=dict)


def failing_text(failing: service.Failing | None, timezone: str) -> str:
    """'3 failed since Nov 28 10:05' ('' when not failing)."""
    if failing is None:
        return ""
    since = failing.since.astimezone(ZoneInfo(timezone)).strftime("%b %-d %H:%M")
    return f"{failing.count} failed since {since}"


def frame(extracts: list[schemas.ExtractOut], timezone: str, extras: Extras,
          now: datetime) -> pd.DataFrame:
    """One row per extract, every cell already as the table shows it (no 'None' cells)."""
    return pd.DataFrame(
        [{"open": f"extract?id={e.id}", "title": e.title,
          "status": display.status_label(e.status)
          + (" · schema changed" if e.schema_changed else ""),
          "last_runs": display.status_strip(extras.recent.get(e.id, [])),
          "failing": failing_text(extras.failing.get(e.id), timezone),
          "last_sync": display.relative_time(e.last_sync, now),
          "next_run": display.next_run_short(e, now, timezone),
          "schedule": display.schedules_summary(e.schedules),
          "connection": extras.connections.get(e.connection_id, f"#{e.connection_id}"),
          "last_rows": display.number(extras.last_rows.get(e.id)),
          "data_table": e.data_table_title,
          "account": e.account_name, "template": e.template_title}
         for e in extracts],
        columns=columns_shown(extracts),
    )


def styled(table: pd.DataFrame) -> Any:
    """The frame with each status word in its colour."""
    return table.style.map(display.status_css, subset=["status"])


def extras(extracts: list[schemas.ExtractOut]) -> Extras:
    """The last rows, last runs, failure streaks and connection names of `extracts`."""
    ids = [e.id for e in extracts]
    return Extras(last_rows=state.call(service.last_run_rows, extract_ids=ids) or {},
                  recent=state.call(service.recent_statuses, extract_ids=ids,
                                    limit=STRIP_RUNS) or {},
                  failing=state.call(service.failing_since, extract_ids=ids) or {},
                  connections=readers.connection_titles())


def table(extracts: list[schemas.ExtractOut], timezone: str) -> list[int]:
    """The table with a row selection; returns the ids of the selected extracts."""
    shown = frame(extracts, timezone, extras(extracts), state.now())
    event = st.dataframe(styled(shown), column_config=COLUMNS, hide_index=True,
                         on_select="rerun", selection_mode="multi-row", key=table_key(),
                         alt="Extracts", row_height=36)
    return [extracts[i].id for i in event.selection.rows if i < len(extracts)]


def live_list(query: dict[str, Any], timezone: str) -> None:
    """The table, its bulk actions and pager; redrawn every few seconds while one of the
    extracts shown is syncing, still once nothing is."""
    page = state.call(service.list_extracts, **query, page=page_number(), page_size=PAGE_SIZE)
    syncing = page is not None and any(e.status == ExtractStatus.SYNCING for e in page.items)
    st.fragment(run_every=REFRESH_SECONDS if syncing else None)(_list)(query, timezone, syncing)


def _list(query: dict[str, Any], timezone: str, was_syncing: bool) -> None:
    page = state.call(service.list_extracts, **query, page=page_number(), page_size=PAGE_SIZE)
    if page is None:
        return
    if was_syncing and not any(e.status == ExtractStatus.SYNCING for e in page.items):
        st.rerun()  # the last sync ended: draw the page afresh, which stops the refresh
    if page.total == 0:
        if any(v is not None for v in query.values()):
            st.info("No extracts match these filters.", icon=":material/filter_alt_off:")
        else:
            st.info("No extracts yet: create one", icon=":material/info:")
            st.page_link(navigation.NEW_EXTRACT, label="Create an extract",
                         icon=":material/add_circle:")
        return
    selected = table(page.items, timezone)
    bulk_actions(selected)
    pager(page.total)


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
            if st.button(action.capitalize(), icon=f":material/{icon}:",
                         key=f"extracts_{action}",
                         **auth.lock(Role.EDITOR, f"{action.capitalize()} of extracts",
                                     disabled=not ids)):
                _bulk(action, ids)
                st.rerun()  # the whole page: the notice above the list, the statuses
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
