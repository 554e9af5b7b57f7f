import streamlit as st

from dashboard import guard, history_view, state

st.title("History")
st.caption("Is everything loading, what broke and since when, how much data came in, and "
           "which dates are missing.")
query = history_view.filters(state.timezone())
with guard.section("The headline figures"):
    history_view.headline(query)
with guard.section("The charts"):
    history_view.charts_grid(query)

with st.container(border=True), guard.section("The timeline"):
    st.subheader("Timeline of a day")
    history_view.timeline(query)

with st.container(border=True), guard.section("Failures"):
    st.subheader("Failures")
    history_view.failures(query)

extracts: dict[int, str] = {}
with st.container(border=True), guard.section("Freshness"):
    st.subheader("Freshness")
    extracts = history_view.freshness(query)

with st.container(border=True), guard.section("Coverage"):
    st.subheader("Coverage")
    history_view.coverage(extracts, default=query.extract_id)
