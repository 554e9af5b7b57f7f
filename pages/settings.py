import streamlit as st

from core import service
from core.vocabulary import Role
from dashboard import api_keys_view, auth, digest_view, state, users_view

st.title("Settings")
st.header("REST API keys")
st.caption("Scripts call the REST API at /api/v3 with a key: its id and secret buy a bearer "
           "token at POST /api/v3/token. Give each script its own key, so that you can revoke "
           "one without stopping the others.")
api_keys_view.notice()

st.subheader("Create a key")
api_keys_view.create_form()

st.subheader("Keys" if auth.allows(Role.ADMIN) else "Your keys")
keys = state.call(service.list_api_keys)
if keys is None:
    st.stop()
api_keys_view.keys_table(keys, state.timezone())
api_keys_view.revoke(keys)

st.header("People and roles")
st.caption("Viewers see everything and change nothing; editors also create, change, run, "
           "pause and cancel extracts; admins also manage connections, custom SQL templates, "
           "people's roles and any API key.")
users_view.section(state.timezone())

st.header("Daily digest email")
st.caption("One email a day, to the address you sign in with: per data table the success "
           "rate, the stale extracts and the missing dates of the day before.")
digest_view.section()
