import streamlit as st

from core import service
from dashboard import data_tables_view, navigation, state

st.title("Data tables")
tables = state.call(service.list_data_tables)
if tables == []:
    st.info("No data tables yet: each extract writes to one; create an extract first.",
            icon=":material/info:")
    st.page_link(navigation.NEW_EXTRACT, label="Create an extract",
                 icon=":material/add_circle:")
for table in tables or []:
    data_tables_view.card(table)
