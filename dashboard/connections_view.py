"""The Connections page's parts: one card per connection (settings, Test, Refresh, Edit,
Delete, accounts), and the form that adds one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st

from core import schemas, service
from core.vocabulary import Role
from dashboard import auth, display, query_templates, readers, source_form, state, widgets

NOTICE = "connections_notice"
MASK = "••••••••"


def notice() -> None:
    """What the last action on this page did (shown once)."""
    if NOTICE in st.session_state:
        st.success(st.session_state.pop(NOTICE), icon=":material/check:")


def settings_caption(connection: schemas.ConnectionOut) -> str:
    """The connection's settings in one line; a secret masked, and only when one is set."""
    # Custom queries have their own section below; the caption shows plain settings.
    plain = {k: v for k, v in connection.config.items() if k != "queries"}
    settings = {**plain, **dict.fromkeys(connection.secrets_set, MASK)}
    return (f"{connection.datasource} · at most {connection.max_concurrent_runs} runs at once · "
            + (", ".join(f"{k}: {v}" for k, v in settings.items()) or "no settings"))


def card(connection: schemas.ConnectionOut) -> None:
    """A connection: its settings, Test, Refresh, Edit, Delete and its accounts."""
    with st.container(border=True, key=f"connections_card_{connection.id}"):
        st.subheader(display.text(connection.title))
        st.caption(settings_caption(connection))
        with st.container(horizontal=True):
            test = st.button("Test connection", icon=":material/network_check:",
                             key=f"connections_test_{connection.id}",
                             **auth.lock(Role.ADMIN, "Testing a connection"))
            refresh = st.button("Refresh accounts and templates", icon=":material/refresh:",
                                key=f"connections_refresh_{connection.id}",
                                **auth.lock(Role.ADMIN, "Refreshing a connection"))
        if test:
            result = state.call(service.test_connection, connection_id=connection.id)
            if result is not None and result.ok:
                st.success(display.text(result.message), icon=":material/check_circle:")
            elif result is not None:
                st.error(display.text(result.message), icon=":material/error:")
        accounts = connection.accounts
        if refresh:
            changes = state.call(service.refresh_connection, connection_id=connection.id)
            if changes is not None:
                readers.forget()
                st.info(changes.summary, icon=":material/sync:")
                fresh = state.call(service.list_accounts, connection_id=connection.id)
                accounts = fresh if fresh is not None else accounts
        st.dataframe(pd.DataFrame([{"account": a.name, "external id": a.external_id}
                                   for a in accounts], columns=["account", "external id"]),
                     hide_index=True, alt=f"Accounts of {connection.title}")
        if connection.datasource == "sql":
            query_templates.section(connection)
        if auth.allows(Role.ADMIN):
            with st.expander("Edit", icon=":material/edit:"):
                edit_form(connection)
            with st.expander("Delete", icon=":material/delete:"):
                delete_form(connection)


def edit_form(connection: schemas.ConnectionOut) -> None:
    """Title, settings and run cap; secrets empty (kept unless a new value is typed)."""
    [source] = [d for d in service.list_datasources() if d.name == connection.datasource]
    schema = source.config_schema
    key = f"connections_edit_{connection.id}"
    slots = widgets.ProblemSlots(key, outcome="Nothing was saved")
    with st.form(key, enter_to_submit=False):
        title = st.text_input("Title", value=connection.title, key=f"{key}_title")
        slots.here("title")
        if connection.secrets_set:
            st.caption(f"Leave {', '.join(connection.secrets_set)} empty to keep the stored "
                       "value.")
        if connection.datasource in source_form.PROGRAM_DATASOURCES:
            config = source_form.edit_inputs(connection, schema, key=f"{key}_config")
        else:
            config = widgets.settings_inputs(schema, key=f"{key}_config",
                                             values=connection.config)
        slots.here("config")
        limit = st.number_input("Most runs at once", 1, 50, connection.max_concurrent_runs,
                                key=f"{key}_limit")
        slots.here("max_concurrent_runs")
        submitted = st.form_submit_button("Test and save", type="primary",
                                          icon=":material/save:")
    if not submitted:
        return
    # A plain setting emptied goes back to its default; an empty secret keeps its value.
    cleared: dict[str, Any] = {n: None for n in schema.get("properties", {})
                               if n not in config}
    saved, error = state.attempt(service.update_connection, connection_id=connection.id,
                                 data={"title": title, "config": {**cleared, **config},
                                       "max_concurrent_runs": limit})
    if error is not None:
        slots.show(error)
        return
    assert saved is not None
    st.session_state[NOTICE] = f"Saved {saved.title!r}: tested, accounts and templates refreshed."
    readers.forget()
    st.rerun()


def delete_form(connection: schemas.ConnectionOut) -> None:
    """Delete, refused while extracts use it unless they are to go too."""
    key = f"connections_delete_{connection.id}"
    with_extracts = st.checkbox("Also delete the extracts that use it (their data tables and "
                                "rows stay)", key=f"{key}_extracts")
    if not st.button("Delete connection", icon=":material/delete_forever:", key=key,
                     **auth.lock(Role.ADMIN, "Deleting a connection")):
        return
    deleted, error = state.attempt(service.delete_connection, connection_id=connection.id,
                                   delete_extracts=with_extracts)
    if error is not None:
        st.error(str(error), icon=":material/error:")
        return
    assert deleted is not None
    extracts = (f" and {len(deleted.deleted_extract_ids)} extract(s)"
                if deleted.deleted_extract_ids else "")
    st.session_state[NOTICE] = f"Deleted {connection.title!r}{extracts}."
    readers.forget()
    st.rerun()


def add_form() -> None:
    """Datasource, then its own config form; secrets as password inputs."""
    datasources = {d.name: d for d in service.list_datasources()}
    name = st.selectbox("Datasource", list(datasources), key="connections_datasource",
                        format_func=lambda n: datasources[n].title)
    if name in source_form.PROGRAM_DATASOURCES:
        source_form.add_form(name, create)
        return
    slots = widgets.ProblemSlots("connections", "No connection was added")
    with st.form(f"connections_add_{name}", enter_to_submit=False):
        title = st.text_input("Title", key="connections_title",
                              placeholder=f"e.g. {datasources[name].title}, marketing team")
        slots.here("title")
        config = widgets.settings_inputs(datasources[name].config_schema,
                                         key=f"connections_config_{name}")
        slots.here("config")
        limit = st.number_input("Most runs at once", 1, 50, 2, key="connections_limit")
        slots.here("max_concurrent_runs")
        submitted = st.form_submit_button("Add connection", type="primary",
                                          icon=":material/add:")
    if not submitted:
        return
    create({"datasource": name, "title": title, "config": config,
            "max_concurrent_runs": limit}, slots,
           lambda c: f"Added {c.title!r} with {len(c.accounts)} account(s).")


def create(data: dict[str, Any], slots: widgets.ProblemSlots,
           said: Callable[[schemas.ConnectionOut], str]) -> None:
    """Add the connection: its problems under their fields, or what was added, shown once."""
    created, error = state.attempt(service.create_connection, data=data)
    if error is not None:
        slots.show(error)
        return
    assert created is not None
    st.session_state[NOTICE] = said(created)
    readers.forget()
    st.rerun()


