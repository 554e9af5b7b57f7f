import streamlit as st

from core import service
from dashboard import connections_view, state

st.title("Connections")
connections_view.notice()
connections = state.call(service.list_connections)
if connections == []:
    st.info("No connections yet: add one below.", icon=":material/info:")
for connection in connections or []:
    connections_view.card(connection)

st.subheader("Add a connection")
connections_view.add_form()
