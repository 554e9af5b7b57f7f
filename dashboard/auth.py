"""Who is at the dashboard, and what they may do.

With an identity provider configured (EXTRACTS_OIDC_*), people sign in with Streamlit's
`st.login` (OpenID Connect); the product's `users` table gives each email a role. Without
one, the dashboard is in single-user mode: it listens on 127.0.0.1 only, and the one person
at this machine is its admin. Every service call the pages make runs as the signed-in user
(dashboard/state.py), so each change is checked against their role and audit-logged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from datetime import timedelta
from typing import Any

import streamlit as st

from core import schemas, service
from core.config import PREFIX, Settings
from core.vocabulary import Role
from dashboard import display, state

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
USER_KEY = "auth_user"
# How long a page trusts the role it read: a role an admin changes applies within this.
RECHECK = timedelta(seconds=30)
SECRETS_FILE = "streamlit-auth.toml"


class StartupRefused(SystemExit):
    """The dashboard would be open to the network with nobody signing in."""


def configure(settings: Settings, address: str) -> None:
    """At server start: refuse to listen beyond this machine without sign-in, and point
    `st.login` at the identity provider (a secrets file under the var directory, 0600)."""
    if not settings.sign_in:
        if address not in LOOPBACK:
            raise StartupRefused(
                f"refusing to serve on {address or 'every address'} without sign-in: anyone "
                "who reaches the port could change extracts. Either listen on 127.0.0.1 "
                f"({PREFIX}LISTEN_ADDRESS=127.0.0.1, or --server.address=127.0.0.1), or "
                f"configure sign-in with {PREFIX}OIDC_METADATA_URL, {PREFIX}OIDC_CLIENT_ID and "
                f"{PREFIX}OIDC_CLIENT_SECRET (see the README, 'Sign-in and roles').")
        return
    missing = [f"{PREFIX}{name}" for name, value in (
        ("OIDC_CLIENT_ID", settings.oidc_client_id),
        ("OIDC_CLIENT_SECRET", settings.oidc_client_secret)) if not value]
    if missing:
        raise StartupRefused(f"{PREFIX}OIDC_METADATA_URL is set but {' and '.join(missing)} "
                             "not: set them to the dashboard's client at the identity provider")
    values = {
        "redirect_uri": settings.public_url.rstrip("/") + "/oauth2callback",
        "cookie_secret": cookie_secret(settings),
        "client_id": settings.oidc_client_id,
        "client_secret": settings.oidc_client_secret,
        "server_metadata_url": settings.oidc_metadata_url,
    }
    path = settings.var_dir / SECRETS_FILE
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        # TOML basic strings take JSON's escapes.
        handle.write("[auth]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in values.items()))
    st.config.set_option("secrets.files", [str(path)])


def cookie_secret(settings: Settings) -> str:
    """The key that signs the identity cookie, derived from the product's secret key."""
    from core.config import secret_key

    return hmac.new(secret_key(settings).encode(), b"streamlit identity cookie",
                    hashlib.sha256).hexdigest()


def gate() -> schemas.UserOut:
    """The signed-in user (single-user mode: the local admin); without one, the sign-in
    page, and the script stops there."""
    settings = state.get_database().settings
    if settings.sign_in and not st.user.is_logged_in:
        _sign_in_page()
        st.stop()
    email = str(st.user.get("email") or "") if settings.sign_in else service.LOCAL_USER
    name = str(st.user.get("name") or "") if settings.sign_in else "This machine"
    cached = st.session_state.get(USER_KEY)
    now = state.now()
    if cached is not None and cached[0] == email and now - cached[1] < RECHECK:
        user: schemas.UserOut = cached[2]
    else:
        with state.session() as session:
            user = service.sign_in(session=session, email=email, name=name, now=now)
        st.session_state[USER_KEY] = (email, now, user)
    state.act_as(service.actor_for(user))
    return user


def _sign_in_page() -> None:
    st.title("Extracts")
    st.write("Sign in to see and manage the data extracts.")
    if st.button("Sign in", icon=":material/login:", type="primary", key="auth_sign_in"):
        st.login()


def sidebar(user: schemas.UserOut) -> None:
    """Who is signed in, with their role, and the way out."""
    settings = state.get_database().settings
    with st.sidebar:
        if not settings.sign_in:
            st.caption("Single-user mode: only this machine can open the dashboard "
                       "(127.0.0.1). Configure sign-in to share it.")
            return
        st.caption(f"Signed in as {display.text(user.name or user.email)} "
                   f"({display.text(user.email)}) · {user.role}")
        if st.button("Sign out", icon=":material/logout:", key="auth_sign_out"):
            st.session_state.pop(USER_KEY, None)
            st.logout()


def allows(needed: Role) -> bool:
    """Whether the signed-in user may do what needs `needed`."""
    actor = state.actor()
    return actor is None or actor.role.allows(needed)


def why_not(needed: Role, doing: str) -> str | None:
    """None if the user may; else one line saying why not (for a disabled button's help)."""
    actor = state.actor()
    if actor is None or actor.role.allows(needed):
        return None
    return f"{doing} needs the {needed} role; you are {actor.role}. Ask an admin."


def lock(needed: Role, doing: str, *, disabled: bool = False, help: str | None = None
         ) -> dict[str, Any]:
    """A write button's `disabled` and `help`: disabled with the one-line why for a role
    that may not do it (the check behind it holds anyway: core.audit)."""
    why = why_not(needed, doing)
    return {"disabled": disabled or why is not None, "help": why or help}


def page_needs(needed: Role, doing: str) -> None:
    """Stop a page whose whole purpose the user's role does not allow, saying why."""
    why = why_not(needed, doing)
    if why is not None:
        st.info(why, icon=":material/lock:")
        st.stop()
