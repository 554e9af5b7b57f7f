"""A SQL connection's custom query templates: the ones it has, and the form that adds one."""

from __future__ import annotations

import streamlit as st

from core import schemas, service
from core.vocabulary import Role
from dashboard import auth, display, state, widgets

FIELDS = ("name", "title", "description", "sql", "date_column")


def key(connection_id: int, part: str) -> str:
    """The session-state key of one part of a connection's query section."""
    return f"connections_query_{connection_id}_{part}"


def section(connection: schemas.ConnectionOut) -> None:
    """An expander with the connection's custom queries and a form to write a new one."""
    saved = st.session_state.pop(key(connection.id, "saved"), None)
    with st.expander("Custom query templates", icon=":material/code:",
                     expanded=saved is not None):
        if saved is not None:
            st.success(saved, icon=":material/check:")
        existing(connection.id)
        why = auth.why_not(Role.ADMIN, "Writing custom SQL templates")
        if why is None:
            add_form(connection.id)
        else:
            st.caption(why)


def existing(connection_id: int) -> None:
    """Each custom query with its SQL, date column and fields."""
    queries = state.call(service.list_query_templates, connection_id=connection_id)
    if not queries:
        st.caption("No custom queries yet. Write one below: it becomes a template whose fields "
                   "are the columns the query returns.")
        return
    for query in queries:
        st.markdown(f"**{display.text(query.title)}** · `{query.name}`")
        if query.description:
            st.caption(query.description)
        st.code(query.sql, language="sql")
        date = f"windows on `{query.date_column}`" if query.date_column \
            else "no date column: every run loads everything"
        st.caption(f"{date} · fields: {', '.join(query.fields) or 'none'}")


def add_form(connection_id: int) -> None:
    """Name, title, description, the SQL and a date column; Save checks the query first."""
    slots = widgets.ProblemSlots(f"connections_query_{connection_id}",
                                 "No query template was saved")
    with st.form(key(connection_id, "form"), enter_to_submit=False):
        name = st.text_input("Name *", key=key(connection_id, "name"),
                             placeholder="e.g. daily_clicks",
                             help="Lowercase letters, digits and _, starting with a letter. "
                                  "Saving under an existing name replaces that query.")
        slots.here("name")
        title = st.text_input("Title", key=key(connection_id, "title"),
                              help="Shown in the New extract form; the name when empty.")
        slots.here("title")
        description = st.text_input("Description", key=key(connection_id, "description"))
        slots.here("description")
        sql = st.text_area("SQL *", key=key(connection_id, "sql"), height=160,
                           placeholder="SELECT day, campaign, SUM(clicks) AS clicks\n"
                                       "FROM ad_stats GROUP BY day, campaign",
                           help="One SELECT (or WITH ... SELECT) statement. Each run wraps it "
                                "as a subquery and applies the window and filters around it.")
        slots.here("sql")
        date_column = st.text_input(
            "Date column", key=key(connection_id, "date_column"),
            help="The date or timestamp column that drives windows; when empty, the likeliest "
                 "one the query returns (none: every run loads everything).")
        slots.here("date_column")
        submitted = st.form_submit_button("Save query template", type="primary",
                                          icon=":material/save:")
    if not submitted:
        return
    saved, error = state.attempt(
        service.add_query_template, connection_id=connection_id, name=name.strip(), sql=sql,
        title=title.strip(), description=description.strip(),
        date_column=date_column.strip() or None)
    if error is not None:
        slots.show(error)
        return
    assert saved is not None
    for field in FIELDS:
        st.session_state.pop(key(connection_id, field), None)
    st.session_state[key(connection_id, "saved")] = (
        f"Saved {saved.title!r} with {len(saved.fields)} field(s); pick it as a template in "
        "New extract.")
    st.rerun()
