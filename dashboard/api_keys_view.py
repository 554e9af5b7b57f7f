"""The Settings page's API keys: the list, the form that creates one (its secret shown once),
and revoking one after a confirmation."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from core import schemas, service
from core.vocabulary import Role
from dashboard import display, state

NOTICE = "settings_notice"
REVOKING = "settings_revoking"
COLUMNS: dict[str, Any] = {
    "name": "Name",
    "key_id": "Key id",
    "role": st.column_config.TextColumn(
        "Role", help="What the key may do; never more than its owner may"),
    "owner": st.column_config.TextColumn(
        "Owner", help="Who made it; keys made with `python -m core.apikeys` have none"),
    "created": "Created",
    "last_used": "Last used",
    "revoked": st.column_config.TextColumn(
        "Revoked", help="A revoked key, and every token minted from it, no longer works"),
}


def notice() -> None:
    """What the last revoke did (shown once)."""
    if NOTICE in st.session_state:
        st.success(st.session_state.pop(NOTICE), icon=":material/check:")


def create_form() -> None:
    """Name a new key; on success show its secret this once, with a hint to copy it now."""
    with st.form("settings_create_key", clear_on_submit=True, border=True):
        name = st.text_input("Name", key="settings_key_name", placeholder="nightly-report",
                             help="Who or what uses the key, so you know which to revoke.",
                             max_chars=200)
        actor = state.actor()
        ceiling = actor.role if actor is not None else Role.ADMIN
        roles = [r for r in Role if ceiling.allows(r)]
        role = st.selectbox("Role", roles, index=len(roles) - 1, key="settings_key_role",
                            help="What scripts using the key may do: viewer reads, editor "
                                 "also changes and runs extracts, admin also connections. "
                                 f"At most your own role ({ceiling}).")
        submitted = st.form_submit_button("Create key", icon=":material/key:")
    if not submitted:
        return
    key, error = state.attempt(service.create_api_key, name=name, role=role)
    if error is not None:
        st.error(str(error), icon=":material/error:")
        return
    assert key is not None
    # The secret lives only in this run's output: never in session state, never shown again.
    with st.container(border=True, key="settings_new_key"):
        st.success(f"Created {display.text(repr(key.name))}, key id `{key.key_id}`.",
                   icon=":material/check:")
        st.code(key.secret, language=None)
        st.warning("Copy the secret now (the button at the code's right edge): it is shown "
                   "only this once and stored only as a hash. Use it as the password of HTTP "
                   "Basic on POST /api/v3/token, with the key id as the user name.",
                   icon=":material/content_copy:")


def frame(keys: list[schemas.ApiKeyOut], timezone: str) -> pd.DataFrame:
    """One row per key, every cell as the table shows it."""
    return pd.DataFrame(
        [{"name": k.name, "key_id": k.key_id, "role": k.role, "owner": k.owner or "(none)",
          "created": display.local_time(k.created_at, timezone),
          "last_used": display.local_time(k.last_used_at, timezone),
          "revoked": display.local_time(k.revoked_at, timezone) if k.revoked_at else ""}
         for k in keys],
        columns=list(COLUMNS),
    )


def keys_table(keys: list[schemas.ApiKeyOut], timezone: str) -> None:
    """Every key, newest first; secrets are never listed."""
    if not keys:
        st.info("No API keys yet: create one above to use the REST API.",
                icon=":material/info:")
        return
    st.dataframe(frame(keys, timezone), column_config=COLUMNS, hide_index=True,
                 key="settings_keys_table", alt="API keys")


def revoke(keys: list[schemas.ApiKeyOut]) -> None:
    """Pick an active key and revoke it, after a confirmation."""
    active = {k.key_id: k.name for k in keys if k.revoked_at is None}
    if not active:
        return
    revoking = st.session_state.get(REVOKING)
    if revoking not in active:
        with st.container(horizontal=True, vertical_alignment="bottom"):
            key_id = st.selectbox("Key to revoke", list(active), index=None,
                                  format_func=lambda k: f"{active[k]} ({k})",
                                  placeholder="Pick a key", key="settings_revoke_key")
            if st.button("Revoke…", icon=":material/block:", disabled=key_id is None,
                         key="settings_revoke"):
                st.session_state[REVOKING] = key_id
                st.rerun()
        return
    with st.container(border=True):
        st.warning(f"Revoke {active[revoking]!r} ({revoking})? Scripts using it, and its "
                   "tokens, stop working at once. This cannot be undone.",
                   icon=":material/warning:")
        with st.container(horizontal=True):
            if st.button("Revoke for good", type="primary", key="settings_revoke_confirm"):
                revoked = state.call(service.revoke_api_key, key_id=revoking)
                st.session_state.pop(REVOKING, None)
                if revoked is not None:
                    st.session_state[NOTICE] = f"Revoked {revoked.name!r} ({revoked.key_id})."
                    st.rerun()
            if st.button("Keep it", key="settings_revoke_cancel"):
                st.session_state.pop(REVOKING, None)
                st.rerun()
