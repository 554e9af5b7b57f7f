import streamlit as st

from dashboard import extracts_table, guard, state

st.title("Extracts")
extracts_table.notice()
query = extracts_table.filters()
with guard.section("The list of extracts"):
    extracts_table.live_list(query, state.timezone())
