"""The Settings page's daily digest: the signed-in person opts in or out for themselves;
admins see who gets it."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core import service
from core.vocabulary import Role
from dashboard import auth, display, state


def section() -> None:
    """The opt-in toggle, why no digest can be sent (if so), and for admins who gets it."""
    digest = state.call(service.get_digest)
    if digest is None:
        return
    no_address = "@" not in digest.email
    wanted = st.toggle("Email me the daily digest", value=digest.subscribed,
                       key="settings_digest", disabled=no_address,
                       help="Each morning: per data table the success rate, stale extracts "
                            "and missing dates of the day before.")
    if wanted != digest.subscribed:
        changed = state.call(service.set_digest, subscribed=wanted)
        if changed is not None:
            digest = changed
            st.success(f"The daily digest goes to {display.text(digest.email)}."
                       if digest.subscribed else "You will get no more daily digests.",
                       icon=":material/check:")
    if digest.why_not is not None:
        st.warning(display.text(digest.why_not[0].upper() + digest.why_not[1:] + "."),
                   icon=":material/mail_off:")
    elif digest.subscribed:
        st.caption(f"Sent from {digest.hour_utc:02d}:00 UTC to {display.text(digest.email)} "
                   f"through the SMTP server of the email channel "
                   f"'{display.text(digest.channel_title or '')}'.")
    if auth.allows(Role.ADMIN):
        recipients = state.call(service.list_digest_recipients) or []
        if not recipients:
            st.caption("Nobody gets the daily digest yet.")
            return
        st.dataframe(pd.DataFrame({"email": [u.email for u in recipients],
                                   "name": [u.name or "(none)" for u in recipients]}),
                     hide_index=True, key="settings_digest_recipients",
                     column_config={"email": "Gets the digest", "name": "Name"})
