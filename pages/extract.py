import streamlit as st

from core import service
from dashboard import alerts_view, extract_view, guard, history_view, navigation, state

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
alerts_view.on_extract_page(extract.id)
extract_view.live(extract, timezone)  # header, Run panel, runs, latest rows

with st.container(border=True), guard.section("The schedules"):
    st.subheader("Schedules")
    extract_view.schedules(extract, timezone)

with st.container(border=True), guard.section("Manage"):
    st.subheader("Manage")
    with st.container(horizontal=True):
        extract_view.pause_resume(extract)
        extract_view.edit(extract)
        extract_view.clone(extract)
        extract_view.delete(extract)

with guard.section("The history"):
    history_view.extract_history(extract.id, timezone)
