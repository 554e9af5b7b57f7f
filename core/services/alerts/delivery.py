"""Sending: each channel kind's request, and the deliverer's step over the outbox.

Webhooks are signed as the Standard Webhooks spec says: `webhook-id` (the event's id, the
same on every retry, so a receiver drops a repeat), `webhook-timestamp` (seconds, the moment
of this attempt) and `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`
keyed with the base64 part of the channel's `whsec_` secret. Slack gets text plus blocks;
email goes over SMTP (STARTTLS and login when configured).

Outbound requests go only to hosts in EXTRACTS_ALERT_HOSTS when it is set (apart from
EXTRACTS_HTTP_HOSTS, which confines connections: an alert destination is chosen by an admin,
a source by whoever may add connections); redirects are never followed.

A failed attempt is retried after 30 s, 1, 2, 4 ... minutes (at most an hour apart) until
ALERT_RETRY_HOURS after the event; then the delivery is logged as failed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import smtplib
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select, update

from core import errors
from core.clock import utcnow
from core.config import Settings
from core.db import Database
from core.models import Delivery, NotificationChannel
from core.redact import Redactor
from core.vocabulary import ChannelKind, DeliveryStatus, EventKind

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10.0
FIRST_RETRY = timedelta(seconds=30)
LONGEST_WAIT = timedelta(hours=1)
CLAIM_FOR = timedelta(minutes=2)  # a claimed delivery is not taken by another deliverer
BATCH = 200


@dataclass(frozen=True)
class Outcome:
    """What one attempt got: delivered or not, the HTTP status (None for email or no answer),
    and the error in words."""

    ok: bool
    status_code: int | None = None
    error: str | None = None


def backoff(attempts: int) -> timedelta:
    """The wait after failed attempt n: 30 s doubled each time, at most an hour."""
    return min(FIRST_RETRY * 2 ** (attempts - 1), LONGEST_WAIT)


def check_host(settings: Settings, host: str) -> str | None:
    """Why alerts may not go to `host`, or None."""
    allowed = settings.alert_hosts
    if allowed and host.lower() not in allowed:
        return (f"host {host} is not in EXTRACTS_ALERT_HOSTS ({', '.join(sorted(allowed))}); "
                "add it there to send alerts to it")
    return None


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The Standard Webhooks signature header value of one attempt."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a 3xx is the answer: an alert never follows one elsewhere


_OPENER = urllib.request.build_opener(_NoRedirects)


def _post(settings: Settings, url: str, body: bytes, headers: dict[str, str]) -> Outcome:
    host = urlsplit(url).hostname or ""
    if refused := check_host(settings, host):
        return Outcome(False, None, refused)
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": "extracts-alerts/1", **headers})
    try:
        with _OPENER.open(request, timeout=TIMEOUT_SECONDS) as answer:
            return Outcome(True, answer.status)
    except urllib.error.HTTPError as exc:
        text = exc.read(300).decode(errors="replace").strip()
        return Outcome(False, exc.code, f"HTTP {exc.code} {exc.reason}" +
                       (f": {text}" if text else ""))
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return Outcome(False, None, f"could not reach {host}: {reason}")


def slack_body(event: dict[str, Any]) -> dict[str, Any]:
    """A Slack message: the text (for notifications) and blocks (for the channel)."""
    title = event["type"] + (" (reminder)" if event.get("reminder") else "")
    extract = event.get("extract") or {}
    facts = [f"*Extract:* {extract.get('title', '-')}"]
    if extract:
        facts += [f"*Data table:* {extract['data_table']['title']}",
                  f"*Connection:* {extract['connection']['title']}"]
    run = event.get("run")
    if run:
        facts.append(f"*Run:* {run['id']} ({run['date_from']} → {run['date_to']})")
    return {
        "text": f"{title}: {event['message']}",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": event["message"][:2900]}},
            {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in facts]},
            {"type": "actions", "elements": [{"type": "button", "url": event["url"],
                                              "text": {"type": "plain_text",
                                                       "text": "Open in Extracts"}}]},
        ],
    }


def email_message(event: dict[str, Any], sender: str, to: list[str]) -> EmailMessage:
    message = EmailMessage()
    reminder = " (reminder)" if event.get("reminder") else ""
    message["Subject"] = f"[Extracts] {event['type']}{reminder}: {event['message']}"[:250]
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Message-ID"] = f"<{event['id']}@extracts>"
    message.set_content(f"{event['message']}\n\n{event['url']}\n\n"
                        f"{json.dumps(event, indent=2, default=str)}\n")
    return message


def digest_message(event: dict[str, Any], sender: str) -> EmailMessage:
    """The daily digest to one person: plain text with an HTML alternative."""
    message = EmailMessage()
    message["Subject"] = f"[Extracts] Daily digest: {event['day']}"
    message["From"] = sender
    message["To"] = ", ".join(event["to"])
    message["Message-ID"] = f"<{event['id']}@extracts>"
    message.set_content(event["text"])
    message.add_alternative(event["html"], subtype="html")
    return message


def _email(settings: Settings, config: dict[str, Any], secrets: dict[str, str],
           event: dict[str, Any]) -> Outcome:
    host = config["smtp_host"]
    if refused := check_host(settings, host):
        return Outcome(False, None, refused)
    try:
        with smtplib.SMTP(host, int(config.get("smtp_port") or 587),
                          timeout=TIMEOUT_SECONDS) as smtp:
            if config.get("starttls"):
                smtp.starttls()
            if config.get("username"):
                smtp.login(config["username"], secrets.get("password", ""))
            smtp.send_message(
                digest_message(event, config["from_address"]) if event["type"] == EventKind.DIGEST
                else email_message(event, config["from_address"], config["to"]))
    except smtplib.SMTPResponseException as exc:
        said = exc.smtp_error
        text = said.decode(errors="replace") if isinstance(said, bytes) else str(said)
        return Outcome(False, None, f"SMTP {exc.smtp_code}: {text}")
    except (smtplib.SMTPException, OSError) as exc:
        return Outcome(False, None, f"SMTP {host}: {exc}")
    return Outcome(True)


def send(settings: Settings, channel: NotificationChannel, secrets: dict[str, str],
         event: dict[str, Any], sent_at: Callable[[], datetime] = utcnow) -> Outcome:
    """One attempt to deliver `event` to `channel`; its error never carries a secret.

    The signature's timestamp is the moment of sending by the wall clock (`sent_at`): a
    receiver checks it against its own clock, whatever time the event is about.
    """
    redact = Redactor(secrets)
    if channel.kind == ChannelKind.WEBHOOK:
        body = json.dumps(event, separators=(",", ":")).encode()
        stamp = int(sent_at().timestamp())
        outcome = _post(settings, channel.config["url"], body, {
            "webhook-id": event["id"], "webhook-timestamp": str(stamp),
            "webhook-signature": sign(secrets["secret"], event["id"], stamp, body)})
    elif channel.kind == ChannelKind.SLACK:
        outcome = _post(settings, secrets["url"], json.dumps(slack_body(event)).encode(), {})
    else:
        outcome = _email(settings, channel.config, secrets, event)
    return Outcome(outcome.ok, outcome.status_code, redact(outcome.error))


def record(delivery: Delivery, outcome: Outcome, now: datetime, give_up_after: timedelta
           ) -> None:
    """Write an attempt's outcome: delivered, retried later, or failed for good."""
    for key, value in outcome_values(delivery.attempts, delivery.created_at, outcome, now,
                                     give_up_after).items():
        setattr(delivery, key, value)


def outcome_values(attempts: int, created_at: datetime, outcome: Outcome, now: datetime,
                   give_up_after: timedelta) -> dict[str, Any]:
    """The columns an attempt's outcome sets: delivered, retried later, or failed for good."""
    values: dict[str, Any] = {"attempts": attempts + 1, "last_attempt_at": now,
                              "status_code": outcome.status_code, "error": outcome.error}
    if outcome.ok:
        return {**values, "status": DeliveryStatus.DELIVERED, "delivered_at": now}
    retry_at = now + backoff(attempts + 1)
    if retry_at > created_at + give_up_after:
        return {**values, "status": DeliveryStatus.FAILED,
                "error": f"gave up after {attempts + 1} attempts: {outcome.error}"}
    return {**values, "next_attempt_at": retry_at}


@dataclass(frozen=True)
class _Due:
    id: int
    event_id: str
    channel_id: int
    attempts: int
    created_at: datetime
    payload: dict[str, Any]


def _claim(db: Database, now: datetime, limit: int) -> list[_Due]:
    """Take up to `limit` due deliveries: each is pushed CLAIM_FOR ahead, guarded on the
    time we saw, so a second deliverer never sends the same one at once."""
    claimed = []
    with db.session() as session:
        due = session.execute(
            select(Delivery.id, Delivery.next_attempt_at, Delivery.event_id,
                   Delivery.channel_id, Delivery.attempts, Delivery.created_at,
                   Delivery.payload)
            .where(Delivery.status == DeliveryStatus.PENDING, Delivery.next_attempt_at <= now)
            .order_by(Delivery.next_attempt_at, Delivery.id).limit(limit)).all()
        for delivery_id, seen, event_id, channel_id, attempts, created_at, body in due:
            result = session.execute(update(Delivery).where(
                Delivery.id == delivery_id, Delivery.status == DeliveryStatus.PENDING,
                Delivery.next_attempt_at == seen).values(next_attempt_at=now + CLAIM_FOR))
            if getattr(result, "rowcount", 0) == 1:
                claimed.append(_Due(delivery_id, event_id, channel_id, attempts, created_at,
                                    body))
    return claimed


def deliver_due(db: Database, now: datetime, *, limit: int = BATCH,
                sent_at: Callable[[], datetime] = utcnow) -> int:
    """Send the deliveries due at `now` (at most `limit`); return how many were attempted.

    No transaction is open while it sends (a SQLite transaction holds the write lock runs
    need): one claims, one reads the channels, the sending happens outside, one records.
    """
    due = _claim(db, now, limit)
    if not due:
        return 0
    give_up_after = timedelta(hours=db.settings.alert_retry_hours)
    with db.session() as session:
        channels = {c.id: c for c in session.scalars(select(NotificationChannel).where(
            NotificationChannel.id.in_({d.channel_id for d in due})))}
        session.expunge_all()
    secrets: dict[int, dict[str, str]] = {}
    results = []
    for item in due:
        channel = channels.get(item.channel_id)
        try:
            if channel is None:  # deleted meanwhile: its deliveries went with it
                continue
            if channel.id not in secrets:
                secrets[channel.id] = db.cipher.decrypt(channel.secrets)
            outcome = send(db.settings, channel, secrets[channel.id], item.payload, sent_at)
        except errors.ExtractsError as exc:
            outcome = Outcome(False, None, str(exc))
        if not outcome.ok:
            log.warning("alert %s to channel %s: attempt %s failed: %s", item.event_id,
                        item.channel_id, item.attempts + 1, outcome.error)
        results.append((item, outcome_values(item.attempts, item.created_at, outcome, now,
                                             give_up_after)))
    with db.session() as session:
        for item, values in results:
            session.execute(update(Delivery).where(Delivery.id == item.id).values(**values))
    return len(due)
