import streamlit as st

from core import service
from dashboard import audit_view, state

st.title("Audit log")
st.caption("Every change people and API keys made to extracts, schedules, connections, keys "
           "and users, and every run, cancel, pause and resume they asked for: who, when, "
           "and each field before → after. Nothing here can be changed or deleted.")
chosen = audit_view.filters()
found = state.call(service.list_audit_events, page_size=audit_view.PAGE_SIZE, **chosen)
if found is None:
    st.stop()
if not found.items:
    st.info("No changes match these filters.", icon=":material/info:")
    st.stop()
shown = f"the newest {len(found.items)} of {found.total}" if found.total > len(found.items) \
    else f"{found.total}"
st.caption(f"Showing {shown} change(s).")
st.dataframe(audit_view.frame(found.items, state.timezone()), hide_index=True,
             column_config=audit_view.COLUMNS, width="stretch")
