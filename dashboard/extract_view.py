"""The parts of the Extract page: which extract, its header, the Run panel, pause and delete."""

from __future__ import annotations

from datetime import date

import pandas as pd
import streamlit as st

from core import schemas, service
from core.vocabulary import ExtractStatus, Role
from dashboard import (
    auth,
    display,
    guard,
    history_view,
    navigation,
    readers,
    runs_view,
    state,
    widgets,
)
from dashboard.windows import PRESETS, preset_window

NOTICE = "extract_notice"


def current_id() -> int | None:
    """The extract the page shows: `?id=N`, else the one last opened in this session."""
    raw = st.query_params.get("id")
    if raw and raw.isdigit():
        st.session_state["extract_id"] = int(raw)
    extract_id = st.session_state.get("extract_id")
    if extract_id is not None:
        st.query_params["id"] = str(extract_id)
    return extract_id if isinstance(extract_id, int) else None


def notice() -> None:
    """What the last action on this page did (shown once)."""
    if NOTICE in st.session_state:
        st.success(st.session_state.pop(NOTICE), icon=":material/check:")


REFRESH_SECONDS = 2


def live(extract: schemas.ExtractOut, timezone: str) -> None:
    """The header, the Run panel, the runs and the latest rows: redrawn every few seconds
    while a run of the extract is queued or running; once the last one ends, the whole page
    once more (the charts then show it), and no more refreshing."""
    syncing = extract.status == ExtractStatus.SYNCING
    st.fragment(run_every=REFRESH_SECONDS if syncing else None)(_live)(
        extract.id, timezone, syncing)


def _live(extract_id: int, timezone: str, was_syncing: bool) -> None:
    extract = state.call(service.get_extract, extract_id=extract_id)
    if extract is None:
        return
    if was_syncing and extract.status != ExtractStatus.SYNCING:
        history_view.forget()
        st.rerun()
    with guard.section("The header"):
        header(extract, timezone)
    with st.container(border=True), guard.section("The Run panel"):
        st.subheader("Run")
        run_panel(extract)
    with st.container(border=True), guard.section("The runs"):
        st.subheader("Runs")
        runs_view.runs_section(extract.id, timezone)
    with st.container(border=True), guard.section("The latest rows"):
        st.subheader("Latest rows")
        preview(extract.id, timezone)


def header(extract: schemas.ExtractOut, timezone: str) -> None:
    """Title, status, last sync, next run, since when it fails and any error, in plain
    sight."""
    st.title(display.text(extract.title))
    look = display.look(extract.status)
    with st.container(horizontal=True):
        st.badge(extract.status, icon=look.icon, color=look.colour)  # type: ignore[arg-type]
        if extract.schema_changed:
            st.badge("schema changed", icon=":material/schema:", color="orange")
    now = state.now()
    with st.container(horizontal=True):
        st.metric("Last sync", display.relative_time(extract.last_sync, now), border=True,
                  help=display.local_time(extract.last_sync, timezone))
        st.metric("Next run", display.next_run(extract, now), border=True,
                  help=display.local_time(extract.next_run_at, timezone))
        st.metric("Account", extract.account_name, border=True)
        st.metric("Data table", extract.data_table_title, border=True)
    st.caption(f"{extract.template_title} · fields: {', '.join(extract.fields)} · "
               f"{display.schedules_summary(extract.schedules)}")
    failing = (state.call(service.failing_since, extract_ids=[extract.id]) or {}).get(
        extract.id)
    if failing is not None:
        st.error(f"Failing since {display.local_time(failing.since, timezone)}: "
                 f"{failing.count} run(s) in a row failed."
                 + (f" Last error: {display.text(extract.error_text)}" if extract.error_text
                    else ""),
                 icon=":material/error:")
    elif extract.error_text:
        st.error(display.text(extract.error_text), icon=":material/error:")
    if extract.schema_changed and extract.schema_changed != extract.error_text:
        st.warning(extract.schema_changed, icon=":material/schema:")


def schedules(extract: schemas.ExtractOut, timezone: str) -> None:
    """Each schedule in words with its next fire time (in the chosen timezone)."""
    if not extract.schedules:
        st.caption("No schedules: the extract runs only when asked.")
        return
    now = state.now()
    with st.container(key=f"extract_{extract.id}_schedules"):
        st.dataframe(pd.DataFrame([{
            "schedule": display.schedules_summary([s]),
            "lookback": f"{s.lookback} days" if isinstance(s.lookback, int) else s.lookback,
            "next run": (f"{display.local_time(s.next_run_at, timezone)} "
                         f"({display.relative_time(s.next_run_at, now)})"
                         if s.next_run_at else "paused")}
            for s in extract.schedules]), hide_index=True)


def _set_window(extract_id: int, window: tuple[date, date]) -> None:
    st.session_state[f"extract_{extract_id}_date_from"] = window[0]
    st.session_state[f"extract_{extract_id}_date_to"] = window[1]


def run_panel(extract: schemas.ExtractOut) -> None:
    """Start and end date (the lookback window by default), presets and the Run button."""
    window = state.call(service.run_window, extract_id=extract.id)
    slots = widgets.ProblemSlots("extract", "No run was queued")
    dates: dict[str, date | None] = {"date_from": None, "date_to": None}
    if window is None:
        st.caption("This template has no date field: a run loads everything.")
    else:
        today = window[1]
        if f"extract_{extract.id}_date_from" not in st.session_state:
            _set_window(extract.id, window)
        with st.container(horizontal=True):
            st.button("Lookback window", key="extract_preset_lookback",
                      on_click=_set_window, args=(extract.id, window))
            for name, label in PRESETS.items():
                st.button(label, key=f"extract_preset_{name}", on_click=_set_window,
                          args=(extract.id, preset_window(name, today)))
        labels = {"date_from": "Start date", "date_to": "End date"}
        for column, name in zip(st.columns(2), dates, strict=True):
            with column:
                value = st.date_input(labels[name], key=f"extract_{extract.id}_{name}",
                                      min_value=date(1970, 1, 1), max_value=date(2100, 12, 31))
                dates[name] = value if isinstance(value, date) else None
                slots.here(name)
    if st.button("Run", type="primary", icon=":material/rocket_launch:", key="extract_run",
                 **auth.lock(Role.EDITOR, "Running an extract")):
        runs, error = state.attempt(service.run_extract, extract_id=extract.id, **dates)
        if error is not None:
            slots.show(error)
        else:
            st.session_state[NOTICE] = display.queued_notice(runs or [])
            st.rerun()


def pause_resume(extract: schemas.ExtractOut) -> None:
    """Pause stops the schedules (manual runs still work); Resume starts them again."""
    # A paused extract that is running by hand reads "syncing"; its schedules say the truth.
    paused = extract.status == ExtractStatus.PAUSED or (
        bool(extract.schedules) and extract.next_run_at is None)
    label, icon, fn, done = (
        ("Resume", "play_arrow", service.unpause_extract, "Resumed: its schedules fire again.")
        if paused else
        ("Pause", "pause", service.pause_extract,
         "Paused: its schedules will not fire until resumed."))
    clicked = st.button(label, icon=f":material/{icon}:", key=f"extract_{label.lower()}",
                        **auth.lock(Role.EDITOR, f"{'Resuming' if paused else 'Pausing'} an "
                                                 "extract"))
    if clicked and state.call(fn, extract_id=extract.id) is not None:
        st.session_state[NOTICE] = done
        st.rerun()


def edit(extract: schemas.ExtractOut) -> None:
    """Open the form, pre-filled."""
    if st.button("Edit", icon=":material/edit:", key="extract_edit",
                 **auth.lock(Role.EDITOR, "Editing an extract")):
        st.switch_page(navigation.EDIT_EXTRACT, query_params={"id": str(extract.id)})


def clone(extract: schemas.ExtractOut) -> None:
    """Open the New extract form pre-filled with this extract's settings."""
    if st.button("Clone", icon=":material/content_copy:", key="extract_clone",
                 **auth.lock(Role.EDITOR, "Creating an extract", help=(
                     "A new extract with the same template, fields, filters, data table and "
                     "schedules; pick its account before creating it."))):
        st.switch_page(navigation.NEW_EXTRACT, query_params={"clone": str(extract.id)})


def delete(extract: schemas.ExtractOut) -> None:
    """Delete, after a confirmation; the data table's rows stay unless the box is ticked."""
    confirming = f"extract_{extract.id}_confirm_delete"
    if not st.session_state.get(confirming):
        if st.button("Delete…", icon=":material/delete:", key="extract_delete",
                     **auth.lock(Role.EDITOR, "Deleting an extract")):
            st.session_state[confirming] = True
            st.rerun()
        return
    with st.container(border=True):
        st.warning(f"Delete {display.text(repr(extract.title))} with its schedules and runs?",
                   icon=":material/warning:")
        rows = st.checkbox(f"Also delete its rows from data table {extract.data_table_title!r}",
                           key=f"extract_{extract.id}_delete_rows")
        with st.container(horizontal=True):
            if st.button("Delete for good", type="primary", key="extract_delete_confirm"):
                deleted = state.call(service.delete_extract, extract_id=extract.id,
                                     delete_rows=rows)
                if deleted is not None:
                    st.session_state.pop("extract_id", None)
                    st.session_state["extracts_notice"] = (
                        f"Deleted {extract.title!r}" + (f" and {deleted} rows." if rows
                                                       else "; its rows were kept."), [])
                    readers.forget()
                    st.switch_page(navigation.EXTRACTS)
            if st.button("Keep it", key="extract_delete_cancel"):
                st.session_state[confirming] = False
                st.rerun()


def preview(extract_id: int, timezone: str) -> None:
    """The latest rows this extract wrote (times in the chosen timezone)."""
    rows = state.call(service.preview_rows, extract_id=extract_id, limit=50)
    if rows is None:
        return
    if rows.empty:
        st.caption("No rows yet: run the extract.")
    else:
        st.dataframe(display.local_rows(rows, timezone), hide_index=True,
                     alt="Latest rows of this extract")
