import streamlit as st

from core import service
from dashboard import extract_form, readers, state, widgets
from dashboard.filter_rows import filter_rows
from dashboard.schedule_rows import schedule_rows

st.title("New extract")
extract_form.created_links()
slots = widgets.ProblemSlots("new")

with st.container(border=True):
    st.subheader("Source")
    picked = extract_form.source()
    slots.here("accounts")
if picked is None:
    st.stop()
connection, accounts = picked

with st.container(border=True):
    st.subheader("Template")
    template = extract_form.template(connection)
    slots.here("template_id")
if template is None:
    st.stop()

with st.container(border=True):
    st.subheader("Fields")
    fields = extract_form.fields(template)
    slots.here("template_settings.fields")
with st.container(border=True):
    st.subheader("Filters")
    filters = filter_rows(template, slots, "new", "template_settings.filters")
with st.container(border=True):
    st.subheader("Template settings")
    settings = extract_form.own_settings(template)
    slots.here("template_settings")
with st.container(border=True):
    st.subheader("Data table")
    table_title = extract_form.data_table(template)
    slots.here("data_table_title")
    title = st.text_input("Extract title (optional)", key="new_title",
                          help="Left empty, each extract is named after its account and "
                               "template.")
    slots.here("title")
with st.container(border=True):
    st.subheader("Schedules")
    schedules = schedule_rows(template, state.get_database().settings.schedules_limit,
                              slots, "new")
    slots.here("schedules")
with st.container(border=True):
    st.subheader("History")
    history = extract_form.history(template)
    slots.here("sync_historical_data")

if st.button("Create extracts", type="primary", icon=":material/add:", key="new_create"):
    created, error = state.attempt(service.create_extracts, data={
        "template_id": template.id, "accounts": accounts, "data_table_title": table_title,
        "title": title or None, "schedules": schedules, "sync_historical_data": history,
        "template_settings": {**settings, "fields": fields, "filters": filters},
    })
    if error is not None:
        slots.show(error)
    else:
        st.session_state[extract_form.CREATED] = [(e.id, e.title) for e in created or []]
        readers.forget()
        st.rerun()
