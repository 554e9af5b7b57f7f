import streamlit as st

from core.vocabulary import Role
from dashboard import auth, extract_form, state, widgets
from dashboard.filter_rows import filter_rows
from dashboard.schedule_rows import as_inputs, schedule_rows

st.title("New extract")
auth.page_needs(Role.EDITOR, "Creating extracts")
extract_form.created_links()
model = extract_form.clone_source()  # `?clone=N`: the form starts as a copy of extract N
slots = widgets.ProblemSlots("new", "Nothing was created")
form = extract_form.prefix()  # the widgets' keys: new ones after each create

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
copy = model if model is not None and model.template_id == template.id else None

with st.container(border=True):
    st.subheader("Fields")
    fields = extract_form.fields(template, form, copy.fields if copy else None)
    slots.here("template_settings.fields")
with st.container(border=True):
    st.subheader("Filters")
    filters = filter_rows(template, slots, form, "template_settings.filters",
                          copy.filters if copy else None)
with st.container(border=True):
    st.subheader("Template settings")
    settings = extract_form.own_settings(template, form, copy.template_settings
                                         if copy else None)
    slots.here("template_settings")
with st.container(border=True):
    st.subheader("Data table")
    table_title = extract_form.data_table(template)
    slots.here("data_table_title")
    title = st.text_input("Extract title (optional)", key=f"{form}_title",
                          help="Left empty, each extract is named after its account and "
                               "template.")
    slots.here("title")
with st.container(border=True):
    st.subheader("Schedules")
    schedules = schedule_rows(template, state.get_database().settings.schedules_limit,
                              slots, form, [as_inputs(s) for s in copy.schedules]
                              if copy and copy.schedules else None)
    slots.here("schedules")
with st.container(border=True):
    st.subheader("History")
    history = extract_form.history(template, form, copy.sync_historical_data
                                   if copy else None)
    slots.here("sync_historical_data")

extract_form.create({
    "template_id": template.id, "accounts": accounts, "data_table_title": table_title,
    "title": title or None, "schedules": schedules, "sync_historical_data": history,
    "template_settings": {**settings, "fields": fields, "filters": filters},
}, slots)
