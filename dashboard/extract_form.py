"""The sections of the extract form, each a function that draws its widgets and returns what
was chosen. New extract uses them all (keys start with `new_`); Edit extract reuses fields,
settings and history, pre-filled (keys start with `edit_<id>_`). Keys that depend on an earlier
choice carry its id, so changing the template starts its fields afresh."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import streamlit as st

from core import schemas, service
from dashboard import navigation, readers, state, widgets

CREATED = "new_created"


def created_links() -> None:
    """After a create: a link to each new extract."""
    created = st.session_state.get(CREATED)
    if not created:
        return
    with st.container(border=True):
        st.success(f"Created {len(created)} extract(s).", icon=":material/check_circle:")
        for extract_id, title in created:
            st.page_link(navigation.EXTRACT, label=title, icon=":material/description:",
                         query_params={"id": str(extract_id)})


def source() -> tuple[schemas.ConnectionOut, list[int]] | None:
    """Datasource, then connection, then accounts; None until a connection exists."""
    datasources = {d.name: d.title for d in service.list_datasources()}
    every_connection = state.call(service.list_connections) or []
    names = list(datasources)
    # Start on a datasource the user can use at once: the first one with a connection.
    connected = [c.datasource for c in every_connection if c.datasource in names]
    first = names.index(connected[0]) if connected else 0
    name = st.selectbox("Datasource", names, index=first, format_func=datasources.__getitem__,
                        key="new_datasource")
    connections = [c for c in every_connection if c.datasource == name]
    if not connections:
        st.info(f"No {datasources[name]} connection yet: add one first.",
                icon=":material/info:")
        st.page_link(navigation.CONNECTIONS, label="Add a connection", icon=":material/cable:")
        return None
    by_id = {c.id: c for c in connections}
    connection = by_id[st.selectbox("Connection", list(by_id), key=f"new_connection_{name}",
                                    format_func=lambda i: by_id[i].title)]
    accounts = {a.id: a.name for a in connection.accounts}
    chosen = st.multiselect("Accounts", list(accounts), format_func=accounts.__getitem__,
                            key=f"new_accounts_{connection.id}",
                            help="One extract is created per account; all write to one "
                                 "data table.", placeholder="Choose one or more accounts")
    return connection, chosen


def template(connection: schemas.ConnectionOut) -> schemas.TemplateOut | None:
    """The template, with its description."""
    templates = state.call(service.list_templates, datasource=connection.datasource,
                           connection_id=connection.id) or []
    if not templates:
        st.info("This connection offers no templates.", icon=":material/info:")
        return None
    by_id = {t.id: t for t in templates}
    picked = by_id[st.selectbox("Template", list(by_id), key=f"new_template_{connection.id}",
                                format_func=lambda i: by_id[i].title)]
    st.caption(picked.description)
    return picked


def fields(template: schemas.TemplateOut, page: str = "new",
           current: list[str] | None = None) -> list[str]:
    """Checkboxes grouped as dimensions and metrics; required ones locked on. Ticked at first:
    `current`, else the template's defaults."""
    ticked_first = set(template.default_fields if current is None else current)
    chosen = []
    columns = dict(zip(("dimension", "metric"), st.columns(2), strict=True))
    for kind, column in columns.items():
        column.markdown(f"**{kind.capitalize()}s**")
    for field in template.fields:
        label = field.title + (" (required)" if field.required else "") + (
            " (gone from the source: untick it)" if field.gone else "")
        ticked = columns[field.kind].checkbox(
            label, value=field.required or field.name in ticked_first,
            disabled=field.required, help=f"{field.name}: {field.type}",
            key=f"{page}_field_{template.id}_{field.name}")
        if ticked or field.required:
            chosen.append(field.name)
    return chosen


def own_settings(template: schemas.TemplateOut, page: str = "new",
                 current: dict[str, object] | None = None) -> dict[str, object]:
    """The template's own settings, rendered from its settings schema."""
    if not template.settings_schema.get("properties"):
        st.caption("This template has no settings of its own.")
        return {}
    return widgets.settings_inputs(template.settings_schema, key=f"{page}_setting_{template.id}",
                                   values=current)


def data_table(template: schemas.TemplateOut) -> str:
    """A new data table title, or an existing data table of this template."""
    existing = readers.data_table_titles(template.id)
    choice = "New data table"
    if existing:
        choice = st.radio("Write to", ["New data table", "Existing data table"],
                          horizontal=True, key=f"new_table_choice_{template.id}")
    if choice == "New data table":
        return st.text_input("Data table title", key="new_table_title",
                             placeholder="e.g. Campaign stats",
                             help="Rows of every account land in this one table.")
    picked = st.selectbox("Data table", list(existing.values()),
                          key=f"new_table_existing_{template.id}")
    return str(picked)


def history(template: schemas.TemplateOut, page: str = "new",
            current: date | None = None, now: datetime | None = None) -> date | None:
    """An optional start date from which to load historical data (up to today in UTC)."""
    if template.date_field is None:
        st.caption("This template has no date field: every run loads everything.")
        return None
    if not st.checkbox("Load historical data from a start date", key=f"{page}_history_on",
                       value=current is not None):
        return None
    today = (now or state.now()).astimezone(UTC).date()
    depth = template.depth_limit_days
    earliest = today - timedelta(days=depth) if depth else date(2000, 1, 1)
    start = current or max(earliest, today - timedelta(days=30))
    value = st.date_input("Start date", value=start, min_value=min(earliest, start),
                          max_value=today, key=f"{page}_history_from_{template.id}",
                          help="Backfill runs load from this date up to today, newest first."
                          + (f" The template reaches back at most {depth} days." if depth
                             else ""))
    return value if isinstance(value, date) else None
