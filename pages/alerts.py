import streamlit as st

from core import service
from dashboard import alerts_view, state

st.title("Alerts")
st.caption("Failures, paused extracts, stale data and volume anomalies, sent to channels "
           "(signed webhook, Slack, email) by rules. One alert per extract and kind while it "
           "is open, a reminder every few hours until someone acknowledges it, and one "
           "extract.recovered when the extract succeeds again.")
alerts_view.notice()
timezone = state.timezone()

st.header("Open alerts")
open_alerts = state.call(service.list_alerts, status="open")
if open_alerts is not None:
    if open_alerts.items:
        st.dataframe(alerts_view.alerts_frame(open_alerts.items, timezone), hide_index=True,
                     column_config=alerts_view.ALERT_COLUMNS, width="stretch")
        alerts_view.acknowledge(open_alerts.items)
    else:
        st.info("No open alerts: every extract is fine.", icon=":material/check_circle:")
with st.expander("Closed alerts"):
    closed = state.call(service.list_alerts, status="closed", page_size=50)
    if closed is not None:
        st.dataframe(alerts_view.alerts_frame(closed.items, timezone), hide_index=True,
                     column_config=alerts_view.ALERT_COLUMNS, width="stretch")

st.header("Channels")
with st.expander("Add a channel"):
    alerts_view.channel_form()
channels = state.call(service.list_channels) or []  # after the form: a new one is listed
alerts_view.channels(channels)

st.header("Rules")
names = {c.id: c.title for c in channels}
tables = {t.id: t.title for t in state.call(service.list_data_tables) or []}
alerts_view.rules(state.call(service.list_alert_rules) or [], names)
with st.expander("Add a rule"):
    alerts_view.rule_form(names, tables)

st.header("Delivery log")
log = state.call(service.list_deliveries, page_size=200)
if log is not None:
    st.caption(f"The newest {len(log.items)} of {log.total} deliveries.")
    st.dataframe(alerts_view.deliveries_frame(log.items, timezone), hide_index=True,
                 column_config=alerts_view.DELIVERY_COLUMNS, width="stretch")
