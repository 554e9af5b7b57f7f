import streamlit as st

from core import service
from core.vocabulary import Role
from dashboard import auth, connections_view, state

st.title("Connections")
connections_view.notice()
connections = state.call(service.list_connections)
if connections == []:
    st.info("No connections yet: add one below.", icon=":material/info:")
for connection in connections or []:
    connections_view.card(connection)

st.subheader("Add a connection")
auth.page_needs(Role.ADMIN, "Adding, changing and deleting connections")
connections_view.add_form()
