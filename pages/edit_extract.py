import streamlit as st

from core import service
from core.vocabulary import Role
from dashboard import (
    auth,
    display,
    extract_edit,
    extract_form,
    extract_view,
    navigation,
    state,
    widgets,
)
from dashboard.filter_rows import filter_rows
from dashboard.schedule_rows import as_inputs, schedule_rows

extract_id = extract_view.current_id()
extract = state.call(service.get_extract, extract_id=extract_id) if extract_id else None
template = state.call(service.get_template, template_id=extract.template_id) if extract else None
if extract is None or template is None:
    st.page_link(navigation.EXTRACTS, label="Back to the extracts",
                 icon=":material/arrow_back:")
    st.stop()

auth.page_needs(Role.EDITOR, "Editing an extract")
page = f"edit_{extract.id}"
slots = widgets.ProblemSlots("edit")
st.title(f"Edit {display.text(extract.title)}")
st.caption(f"{extract.account_name} · {template.title} · data table "
           f"{extract.data_table_title!r} stay as they are; only what you change is saved.")

with st.container(border=True):
    title = st.text_input("Extract title", value=extract.title, key=f"{page}_title")
    slots.here("title")
with st.container(border=True):
    st.subheader("Fields")
    fields = extract_form.fields(template, page, extract.fields)
    slots.here("fields")
with st.container(border=True):
    st.subheader("Filters")
    filters = filter_rows(template, slots, page, "filters", extract.filters)
with st.container(border=True):
    st.subheader("Template settings")
    settings = extract_form.own_settings(template, page, extract.template_settings)
    slots.here("template_settings")
with st.container(border=True):
    st.subheader("Schedules")
    schedules = schedule_rows(template, extract.schedules_limit, slots, page,
                              [as_inputs(s) for s in extract.schedules])
    slots.here("schedules")
with st.container(border=True):
    st.subheader("History")
    history = extract_form.history(template, page, extract.sync_historical_data)
    slots.here("sync_historical_data")

with st.container(horizontal=True):
    if st.button("Save changes", type="primary", icon=":material/save:", key="edit_save"):
        extract_edit.save(extract, {
            "title": title, "fields": fields, "filters": filters, "template_settings": settings,
            "schedules": schedules, "sync_historical_data": history}, slots, page)
    st.page_link(navigation.EXTRACT, label="Back without saving", icon=":material/close:",
                 query_params={"id": str(extract.id)})
