import streamlit as st

from dashboard import history_view, state

st.title("History")
st.caption("Is everything loading, what broke and since when, how much data came in, and "
           "which dates are missing.")
query = history_view.filters(state.timezone())
history_view.headline(query)
history_view.charts_grid(query)

with st.container(border=True):
    st.subheader("Timeline of a day")
    history_view.timeline(query)

with st.container(border=True):
    st.subheader("Failures")
    history_view.failures(query)

with st.container(border=True):
    st.subheader("Freshness")
    extracts = history_view.freshness(query)

with st.container(border=True):
    st.subheader("Coverage")
    history_view.coverage(extracts, default=query.extract_id)
