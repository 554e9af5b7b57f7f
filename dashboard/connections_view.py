"""The Connections page's parts: one card per connection, and the form that adds one."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core import schemas, service
from dashboard import query_templates, readers, state, widgets

NOTICE = "connections_notice"
MASK = "••••••••"


def notice() -> None:
    """What the last action on this page did (shown once)."""
    if NOTICE in st.session_state:
        st.success(st.session_state.pop(NOTICE), icon=":material/check:")


def card(connection: schemas.ConnectionOut) -> None:
    """A connection: its settings (secrets masked), Test, its accounts and Refresh."""
    with st.container(border=True, key=f"connections_card_{connection.id}"):
        st.subheader(connection.title)
        # Custom queries have their own section below; the caption shows plain settings.
        plain = {k: v for k, v in connection.config.items() if k != "queries"}
        settings = {**plain, **dict.fromkeys(connection.secret_fields, MASK)}
        st.caption(f"{connection.datasource} · at most {connection.max_concurrent_runs} runs "
                   "at once · " + (", ".join(f"{k}: {v}" for k, v in settings.items())
                                   or "no settings"))
        with st.container(horizontal=True):
            test = st.button("Test connection", icon=":material/network_check:",
                             key=f"connections_test_{connection.id}")
            refresh = st.button("Refresh accounts", icon=":material/refresh:",
                                key=f"connections_refresh_{connection.id}")
        if test:
            result = state.call(service.test_connection, connection_id=connection.id)
            if result is not None and result.ok:
                st.success(result.message, icon=":material/check_circle:")
            elif result is not None:
                st.error(result.message, icon=":material/error:")
        accounts = connection.accounts
        if refresh:
            accounts = state.call(service.refresh_accounts,
                                  connection_id=connection.id) or accounts
        st.dataframe(pd.DataFrame([{"account": a.name, "external id": a.external_id}
                                   for a in accounts], columns=["account", "external id"]),
                     hide_index=True, alt=f"Accounts of {connection.title}")
        if connection.datasource == "sql":
            query_templates.section(connection)


def add_form() -> None:
    """Datasource, then its own config form; secrets as password inputs."""
    datasources = {d.name: d for d in service.list_datasources()}
    name = st.selectbox("Datasource", list(datasources), key="connections_datasource",
                        format_func=lambda n: datasources[n].title)
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
    created, error = state.attempt(service.create_connection, data={
        "datasource": name, "title": title, "config": config, "max_concurrent_runs": limit})
    if error is not None:
        slots.show(error)
        return
    assert created is not None
    st.session_state[NOTICE] = (f"Added {created.title!r} with {len(created.accounts)} "
                                "account(s).")
    readers.forget()
    st.rerun()
