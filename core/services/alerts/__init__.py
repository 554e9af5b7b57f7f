"""Alerts: what goes wrong with extracts reaches people by webhook, Slack and email.

    events.py     the state changes that raise events: open, remind, close alerts; the
                  outbox rows, written in the transaction of the change
    channels.py   notification channels (admins): webhook, Slack, email; Send test
    rules.py      alert rules (editors): which events of which extracts to which channels
    delivery.py   sending: Standard Webhooks signing, Slack, SMTP; retries with backoff
    listing.py    open and closed alerts, acknowledgement, the delivery log
    digest.py     the daily digest email: who opted in, what it says, queueing it once a day
"""
