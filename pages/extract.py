import streamlit as st

from core import service
from dashboard import extract_view, history_view, navigation, runs_view, state

extract_id = extract_view.current_id()
if extract_id is None:
    st.info("Pick an extract in the list to see it here.", icon=":material/info:")
    st.page_link(navigation.EXTRACTS, label="Extracts", icon=":material/table_rows:")
    st.stop()
extract = state.call(service.get_extract, extract_id=extract_id)
if extract is None:
    st.page_link(navigation.EXTRACTS, label="Back to the extracts",
                 icon=":material/arrow_back:")
    st.stop()

timezone = state.timezone()
extract_view.notice()
extract_view.header(extract, timezone)

with st.container(border=True):
    st.subheader("Run")
    extract_view.run_panel(extract)

with st.container(border=True):
    st.subheader("Runs")
    runs_view.runs_section(extract.id, timezone)

with st.container(border=True):
    st.subheader("Latest rows")
    extract_view.preview(extract.id)

with st.container(border=True):
    st.subheader("Manage")
    with st.container(horizontal=True):
        extract_view.pause_resume(extract)
        extract_view.edit(extract)
        extract_view.delete(extract)

history_view.extract_history(extract.id, timezone)
