"""The Alerts page's parts: open alerts (acknowledge), channels (add, Send test), rules (add,
delete), the delivery log; and the open alerts an extract's page shows."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from core import schemas, service
from core.vocabulary import RULE_EVENTS, ChannelKind, Role
from dashboard import auth, display, navigation, state

NOTICE = "alerts_notice"
ALERT_COLUMNS: dict[str, Any] = {
    "kind": "Event", "extract": "Extract", "message": "What happened", "opened": "Open since",
    "reminders": st.column_config.NumberColumn("Reminders", help="Reminders sent so far"),
    "acknowledged": st.column_config.TextColumn(
        "Acknowledged", help="Who is on it; an acknowledged alert sends no more reminders"),
    "closed": "Closed",
}
DELIVERY_COLUMNS: dict[str, Any] = {
    "time": "Time", "channel": "Channel", "event": "Event", "status": "Status",
    "status_code": st.column_config.NumberColumn("Status code", format="%d"),
    "attempts": st.column_config.NumberColumn("Attempts"), "error": "Error",
}


def notice() -> None:
    """What the last action did (shown once)."""
    if NOTICE in st.session_state:
        st.success(display.text(st.session_state.pop(NOTICE)), icon=":material/check:")


def alerts_frame(alerts: list[schemas.AlertOut], timezone: str) -> pd.DataFrame:
    return pd.DataFrame([{
        "kind": a.kind, "extract": a.extract_title, "message": a.message,
        "opened": display.local_time(a.opened_at, timezone), "reminders": a.reminders,
        "acknowledged": (f"{a.acknowledged_by}, {display.local_time(a.acknowledged_at, timezone)}"
                         if a.acknowledged_at else ""),
        "closed": display.local_time(a.closed_at, timezone) if a.closed_at else "",
    } for a in alerts], columns=list(ALERT_COLUMNS))


def acknowledge(alerts: list[schemas.AlertOut]) -> None:
    """Pick an open alert nobody acknowledged yet and say you are on it."""
    waiting = [a for a in alerts if a.acknowledged_at is None]
    if not waiting:
        return
    with st.container(horizontal=True, vertical_alignment="bottom"):
        chosen = st.selectbox("Alert", waiting, key="alerts_ack_pick",
                              format_func=lambda a: f"{a.kind} · {a.extract_title}")
        if st.button("Acknowledge", icon=":material/done:", key="alerts_ack",
                     **auth.lock(Role.EDITOR, "Acknowledging an alert")) and chosen:
            _, error = state.attempt(service.acknowledge_alert, alert_id=chosen.id)
            if error is not None:
                st.error(display.text(error), icon=":material/error:")
                return
            st.session_state[NOTICE] = f"Acknowledged {chosen.kind} of {chosen.extract_title}."
            st.rerun()


def channels(found: list[schemas.ChannelOut]) -> None:
    """Each channel with where it sends and a Send test button."""
    for channel in found:
        where = channel.url or ", ".join(channel.to)
        with st.container(border=True, horizontal=True, vertical_alignment="center"):
            st.markdown(f"**{display.text(channel.title)}** · {channel.kind} · "
                        f"{display.text(where)}")
            if st.button("Send test", key=f"alerts_test_{channel.id}", icon=":material/send:",
                         **auth.lock(Role.ADMIN, "Sending a test")):
                sent, error = state.attempt(service.test_channel, channel_id=channel.id)
                if error is not None or sent is None:
                    st.error(display.text(error), icon=":material/error:")
                elif sent.status == "delivered":
                    st.success(f"Delivered (status {sent.status_code or 'OK'}).",
                               icon=":material/check:")
                else:
                    st.error(f"Not delivered: {display.text(sent.error)}",
                             icon=":material/error:")


def channel_form() -> None:
    """Add a channel (admins); a webhook's signing secret is shown this once."""
    kind = st.segmented_control("Kind", list(ChannelKind), default=ChannelKind.WEBHOOK,
                                key="alerts_kind")
    with st.form("alerts_new_channel", clear_on_submit=True):
        data: dict[str, Any] = {"kind": kind, "title": st.text_input(
            "Title", key="alerts_channel_title", max_chars=200)}
        if kind == ChannelKind.EMAIL:
            data["to"] = [a.strip() for a in st.text_input(
                "To", key="alerts_to", help="Addresses separated by commas").split(",")
                if a.strip()]
            data["smtp_host"] = st.text_input("SMTP host", key="alerts_smtp_host") or None
            data["smtp_port"] = st.number_input("SMTP port", 1, 65535, 587,
                                                key="alerts_smtp_port")
            data["starttls"] = st.checkbox("STARTTLS", True, key="alerts_starttls")
            data["username"] = st.text_input("User", key="alerts_smtp_user") or None
            data["password"] = st.text_input("Password", type="password",
                                             key="alerts_smtp_password") or None
            data["from_address"] = st.text_input("From", key="alerts_from") or None
        else:
            data["url"] = st.text_input(
                "URL", key="alerts_url", help="Slack: the incoming webhook's URL (kept secret)"
                if kind == ChannelKind.SLACK else "Where events are POSTed, signed") or None
        submitted = st.form_submit_button("Add channel", icon=":material/add:",
                                          **auth.lock(Role.ADMIN, "Adding a channel"))
    if not submitted:
        return
    made, error = state.attempt(service.create_channel, data=data)
    if error is not None or made is None:
        st.error(display.text(error), icon=":material/error:")
        return
    st.success(f"Added {display.text(made.title)}.", icon=":material/check:")
    if made.secret:  # only in this run's output, never in session state
        st.code(made.secret, language=None)
        st.warning("Copy the signing secret now: it is shown only this once. Receivers "
                   "verify each webhook-signature with it (Standard Webhooks).",
                   icon=":material/content_copy:")


def rules(found: list[schemas.RuleOut], names: dict[int, str]) -> None:
    """Each rule in words, with Delete."""
    for rule in found:
        scope = ("every extract" if not (rule.extract_ids or rule.data_table_ids
                                         or rule.connection_ids or rule.datasources)
                 else "some extracts")
        muted = f" · muted until {rule.muted_until:%Y-%m-%d %H:%M} UTC" \
            if rule.muted_until else ""
        with st.container(border=True, horizontal=True, vertical_alignment="center"):
            st.markdown(f"{', '.join(rule.events)} of {scope} → "
                        f"{display.text(', '.join(names.get(c, str(c)) for c in rule.channel_ids))}"
                        f"{muted}")
            if st.button("Delete", key=f"alerts_rule_delete_{rule.id}", icon=":material/delete:",
                         **auth.lock(Role.EDITOR, "Deleting a rule")):
                _, error = state.attempt(service.delete_alert_rule, rule_id=rule.id)
                if error is not None:
                    st.error(display.text(error), icon=":material/error:")
                    return
                st.session_state[NOTICE] = "Deleted the rule."
                st.rerun()


def rule_form(names: dict[int, str], tables: dict[int, str]) -> None:
    """Add a rule (editors): events, channels, and optionally which data tables."""
    with st.form("alerts_new_rule", clear_on_submit=True):
        events = st.multiselect("Events", RULE_EVENTS, key="alerts_rule_events",
                                default=["run.failed", "extract.recovered"])
        chosen = st.multiselect("Channels", list(names), key="alerts_rule_channels",
                                format_func=lambda i: names.get(i, str(i)))
        table_ids = st.multiselect("Data tables", list(tables), key="alerts_rule_tables",
                                   format_func=lambda i: tables.get(i, str(i)),
                                   help="Only extracts writing these; none: every extract")
        submitted = st.form_submit_button("Add rule", icon=":material/add:",
                                          **auth.lock(Role.EDITOR, "Adding a rule"))
    if not submitted:
        return
    _, error = state.attempt(service.create_alert_rule, data={
        "events": events, "channel_ids": chosen, "data_table_ids": table_ids})
    if error is not None:
        st.error(display.text(error), icon=":material/error:")
        return
    st.session_state[NOTICE] = "Added the rule."
    st.rerun()


def deliveries_frame(log: list[schemas.DeliveryOut], timezone: str) -> pd.DataFrame:
    return pd.DataFrame([{
        "time": display.local_time(d.created_at, timezone), "channel": d.channel_title,
        "event": d.event, "status": d.status, "status_code": d.status_code,
        "attempts": d.attempts, "error": d.error or ""} for d in log],
        columns=list(DELIVERY_COLUMNS))


def on_extract_page(extract_id: int) -> None:
    """The extract's open alerts, above its runs (nothing when none is open)."""
    found = state.call(service.list_alerts, status="open", extract_id=extract_id)
    for alert in found.items if found is not None else []:
        acked = f" · acknowledged by {alert.acknowledged_by}" if alert.acknowledged_by else ""
        st.warning(f"**{alert.kind}** since {alert.opened_at:%Y-%m-%d %H:%M} UTC: "
                   f"{display.text(alert.message)}{display.text(acked)}",
                   icon=":material/notifications_active:")
    if found is not None and found.items:
        st.page_link(navigation.ALERTS, label="Alerts", icon=":material/notifications:")
