import streamlit as st

from core import service
from dashboard import extracts_table, navigation, state

st.title("Extracts")
extracts_table.notice()
query = extracts_table.filters()
page = state.call(service.list_extracts, **query, page=extracts_table.page_number(),
                  page_size=extracts_table.PAGE_SIZE)
if page is None:
    st.stop()

if page.total == 0:
    if any(v is not None for v in query.values()):
        st.info("No extracts match these filters.", icon=":material/filter_alt_off:")
    else:
        st.info("No extracts yet: create one", icon=":material/info:")
        st.page_link(navigation.NEW_EXTRACT, label="Create an extract",
                     icon=":material/add_circle:")
    st.stop()

selected = extracts_table.table(page.items, state.timezone())
extracts_table.bulk_actions(selected)
extracts_table.pager(page.total)
