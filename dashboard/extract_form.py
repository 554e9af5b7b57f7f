"""The sections of the extract form, each a function that draws its widgets and returns what
was chosen. New extract uses them all (keys start with `new_`, then `new1_`, ... after each
create: see `prefix`); Edit extract reuses fields, settings and history, pre-filled (keys start
with `edit_<id>_`). Keys that depend on an earlier
choice carry its id, so changing the template starts its fields afresh."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import streamlit as st

from core import schemas, service
from dashboard import display, navigation, readers, state, widgets

CREATED = "new_created"
SHOW_CREATED = "new_show_created"
DUPLICATES = "new_duplicates"
CLONED = "new_cloned"
GENERATION = "new_generation"
# Keys the New extract form keeps after a create (what it says about the create itself).
KEPT = (CREATED, SHOW_CREATED, GENERATION)


def prefix() -> str:
    """The prefix of the form's widget keys: 'new', then 'new1', 'new2', ... after each reset.
    A browser keeps what a widget showed while its key lives on, even once the key is dropped
    from the session: only a widget with a new key starts empty on the screen."""
    generation = int(st.session_state.get(GENERATION, 0))
    return "new" if generation == 0 else f"new{generation}"


def created_links() -> None:
    """After a create: each new extract with a link and a Run now button, at the top of the
    page and, once, in a dialog in view wherever the page was scrolled."""
    created: list[tuple[int, str]] = st.session_state.get(CREATED) or []
    if not created:
        return
    with st.container(border=True, key="new_created_box"):
        _created_body(created, "top")
    if st.session_state.pop(SHOW_CREATED, False):
        st.dialog(f"Created {len(created)} extract(s)")(_created_body)(created, "dialog")


def _created_body(created: list[tuple[int, str]], where: str) -> None:
    st.success(f"Created {len(created)} extract(s). The form is empty again for the next "
               "one.", icon=":material/check_circle:")
    for extract_id, title in created:
        with st.container(horizontal=True, vertical_alignment="center"):
            st.page_link(navigation.EXTRACT, label=title, icon=":material/description:",
                         query_params={"id": str(extract_id)})
            if st.button("Run now", icon=":material/rocket_launch:",
                         key=f"new_run_now_{where}_{extract_id}"):
                runs = state.call(service.run_extract, extract_id=extract_id)
                if runs is not None:
                    st.session_state["extract_notice"] = display.queued_notice(runs)
                    st.switch_page(navigation.EXTRACT, query_params={"id": str(extract_id)})


def reset() -> None:
    """Empty the form: every widget of the New extract page starts afresh (new keys)."""
    old = prefix() + "_"
    for key in [k for k in st.session_state if str(k).startswith(old) and k not in KEPT]:
        del st.session_state[key]
    st.session_state.pop(DUPLICATES, None)
    st.session_state[GENERATION] = int(st.session_state.get(GENERATION, 0)) + 1


def clone_source() -> schemas.ExtractOut | None:
    """The extract named by `?clone=N`, whose settings pre-fill the form; the widgets that
    pick source, account, template and data table are set to its the first time."""
    raw = st.query_params.get("clone")
    if not raw or not raw.isdigit():
        return None
    extract = state.call(service.get_extract, extract_id=int(raw))
    if extract is None:
        return None
    if st.session_state.get(CLONED) != extract.id:
        reset()
        st.session_state.pop(CREATED, None)
        st.session_state[CLONED] = extract.id
        form = prefix()
        st.session_state[f"{form}_datasource"] = extract.datasource_name
        st.session_state[f"{form}_connection_{extract.datasource_name}"] = \
            extract.connection_id
        st.session_state[f"{form}_accounts_{extract.connection_id}"] = [extract.account_id]
        st.session_state[f"{form}_template_{extract.connection_id}"] = extract.template_id
        st.session_state[f"{form}_table_choice_{extract.template_id}"] = "Existing data table"
        st.session_state[f"{form}_table_existing_{extract.template_id}"] = \
            extract.data_table_title
    st.info(f"A copy of {display.text(repr(extract.title))}: change what should differ (an "
            "account, a filter), "
            "then create it.", icon=":material/content_copy:")
    return extract


def create(data: dict[str, object], slots: widgets.ProblemSlots) -> None:
    """The Create button: asks first when an extract like this exists; after a create the
    form is emptied and the new extracts are shown with links and Run now."""
    asked = st.session_state.get(DUPLICATES)
    if st.button("Create extracts", type="primary", icon=":material/add:", key="new_create"):
        found = state.call(service.find_duplicates, data=data) or {}
        if found:
            st.session_state[DUPLICATES] = found
            asked = found
        else:
            _create(data, slots)
    if not asked:
        return
    with st.container(border=True, key="new_duplicate_box"):
        st.warning("An extract like this exists already (same account, template, fields, "
                   "filters and data table); a second one would load the same rows again. "
                   "Create it anyway?", icon=":material/content_copy:")
        for extract_id, title in asked.items():
            st.page_link(navigation.EXTRACT, label=title, icon=":material/description:",
                         query_params={"id": str(extract_id)})
        with st.container(horizontal=True):
            if st.button("Create anyway", key="new_create_anyway"):
                st.session_state.pop(DUPLICATES, None)
                _create(data, slots)
            if st.button("Don't create", key="new_create_cancel"):
                st.session_state.pop(DUPLICATES, None)
                st.rerun()


def _create(data: dict[str, object], slots: widgets.ProblemSlots) -> None:
    created, error = state.attempt(service.create_extracts, data=data)
    if error is not None:
        slots.show(error)
        return
    reset()
    st.session_state.pop(CLONED, None)  # cloning the same extract again starts afresh
    st.session_state[CREATED] = [(e.id, e.title) for e in created or []]
    st.session_state[SHOW_CREATED] = True
    if "clone" in st.query_params:
        del st.query_params["clone"]
    readers.forget()
    st.rerun()


def source() -> tuple[schemas.ConnectionOut, list[int]] | None:
    """Datasource, then connection, then accounts; None until a connection exists."""
    datasources = {d.name: d.title for d in service.list_datasources()}
    every_connection = state.call(service.list_connections) or []
    names = list(datasources)
    # Start on a datasource the user can use at once: the first one with a connection.
    connected = [c.datasource for c in every_connection if c.datasource in names]
    first = names.index(connected[0]) if connected else 0
    name = st.selectbox("Datasource", names, index=first, format_func=datasources.__getitem__,
                        key=f"{prefix()}_datasource")
    connections = [c for c in every_connection if c.datasource == name]
    if not connections:
        st.info(f"No {datasources[name]} connection yet: add one first.",
                icon=":material/info:")
        st.page_link(navigation.CONNECTIONS, label="Add a connection", icon=":material/cable:")
        return None
    by_id = {c.id: c for c in connections}
    connection = by_id[st.selectbox("Connection", list(by_id), key=f"{prefix()}_connection_{name}",
                                    format_func=lambda i: by_id[i].title)]
    accounts = {a.id: a.name for a in connection.accounts}
    chosen = st.multiselect("Accounts", list(accounts), format_func=accounts.__getitem__,
                            key=f"{prefix()}_accounts_{connection.id}",
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
    picked = by_id[st.selectbox("Template", list(by_id), key=f"{prefix()}_template_{connection.id}",
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
                          horizontal=True, key=f"{prefix()}_table_choice_{template.id}")
    if choice == "New data table":
        return st.text_input("Data table title", key=f"{prefix()}_table_title",
                             placeholder="e.g. Campaign stats",
                             help="Rows of every account land in this one table.")
    picked = st.selectbox("Data table", list(existing.values()),
                          key=f"{prefix()}_table_existing_{template.id}")
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
    # Wide bounds on purpose: a date out of range is refused by the service with a message
    # next to the field, never silently replaced by the nearest allowed one.
    value = st.date_input("Start date", value=start, min_value=date(1970, 1, 1),
                          max_value=date(2100, 12, 31),
                          key=f"{page}_history_from_{template.id}",
                          help="Backfill runs load from this date up to today, newest first."
                          + (f" The template reaches back at most {depth} days." if depth
                             else ""))
    return value if isinstance(value, date) else None
