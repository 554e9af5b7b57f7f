"""The Settings page's people: who has signed in, and (for admins) their roles."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from core import schemas, service
from core.vocabulary import Role
from dashboard import auth, display, state

COLUMNS: dict[str, Any] = {"email": "Email", "name": "Name", "role": "Role",
                           "last_seen": "Last seen", "since": "Since"}


def frame(users: list[schemas.UserOut], timezone: str) -> pd.DataFrame:
    return pd.DataFrame(
        [{"email": u.email, "name": u.name or "(none)", "role": u.role,
          "last_seen": display.local_time(u.last_seen_at, timezone),
          "since": display.local_time(u.created_at, timezone)} for u in users],
        columns=list(COLUMNS))


def section(timezone: str) -> None:
    """The people with their roles; an admin may give anyone another role."""
    users = state.call(service.list_users) or []
    st.dataframe(frame(users, timezone), hide_index=True, column_config=COLUMNS,
                 key="settings_users_table")
    why = auth.why_not(Role.ADMIN, "Changing roles")
    if why is not None:
        st.caption(why)
        return
    by_id = {u.id: u for u in users}
    with st.form("settings_role_form", border=True):
        left, right = st.columns(2)
        user_id = left.selectbox("Person", list(by_id), index=None, key="settings_role_user",
                                 format_func=lambda i: f"{by_id[i].email} ({by_id[i].role})",
                                 placeholder="Pick a person")
        role = right.selectbox("New role", list(Role), key="settings_role_value")
        submitted = st.form_submit_button("Change role", icon=":material/manage_accounts:")
    if submitted:
        if user_id is None:
            st.error("Pick the person whose role changes.", icon=":material/error:")
            return
        changed = state.call(service.set_user_role, user_id=user_id, role=role)
        if changed is not None:
            st.success(f"{changed.email} is now {changed.role}.", icon=":material/check:")
