"""Notification channels (admins): a signed webhook, a Slack incoming webhook, email over
SMTP. Secrets (the signing secret, the Slack URL, the SMTP password) are stored encrypted;
a webhook's secret is shown once, in the answer that created the channel."""

from __future__ import annotations

import base64
import binascii
import secrets as random
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import audit, errors, schemas
from core.clock import utcnow
from core.db import database_of
from core.errors import Problem
from core.models import AlertRule, NotificationChannel
from core.services.alerts import delivery, events
from core.services.alerts.listing import delivery_out
from core.services.common import load
from core.vocabulary import ChannelKind, DeliveryStatus, EventKind, Role

MASK = "••••"
CONFIG_KEYS = ("url", "to", "smtp_host", "smtp_port", "starttls", "username", "from_address")


def new_secret() -> str:
    """A Standard Webhooks signing secret: whsec_ and 24 random bytes in base64."""
    return "whsec_" + base64.b64encode(random.token_bytes(24)).decode()


def _masked(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/{MASK}"


def channel_out(channel: NotificationChannel, secret: str | None = None
                ) -> schemas.ChannelOut:
    config = channel.config
    kind = ChannelKind(channel.kind)
    url = config.get("url") if kind == ChannelKind.WEBHOOK else (
        _masked(config["shown_url"]) if kind == ChannelKind.SLACK else None)
    return schemas.ChannelOut(
        id=channel.id, kind=kind, title=channel.title, url=url, to=config.get("to", []),
        smtp_host=config.get("smtp_host"), smtp_port=config.get("smtp_port"),
        starttls=config.get("starttls"), username=config.get("username"),
        has_password=bool(config.get("has_password")), from_address=config.get("from_address"),
        created_at=channel.created_at, secret=secret)


def _url_problem(session: Session, url: str | None, field: str) -> Problem | None:
    if not url:
        return Problem(field, "is required for this kind of channel")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return Problem(field, f"must be an http:// or https:// URL, not {url[:80]!r}")
    refused = delivery.check_host(database_of(session).settings, parts.hostname)
    return Problem(field, refused) if refused else None


def _problems(session: Session, kind: ChannelKind, values: dict[str, Any],
              secret: str | None) -> list[Problem]:
    problems: list[Problem | None] = []
    if kind in (ChannelKind.WEBHOOK, ChannelKind.SLACK):
        problems.append(_url_problem(session, values.get("url"), "url"))
    if kind == ChannelKind.WEBHOOK and secret is not None:
        try:
            ok = secret.startswith("whsec_") and len(
                base64.b64decode(secret.removeprefix("whsec_"), validate=True)) >= 16
        except binascii.Error:
            ok = False
        if not ok:
            problems.append(Problem("secret", "must be whsec_ followed by at least 16 bytes "
                                    "in base64 (or leave it out and one is made)"))
    if kind == ChannelKind.EMAIL:
        if not values.get("to"):
            problems.append(Problem("to", "is required for email: one or more addresses"))
        if not values.get("smtp_host"):
            problems.append(Problem("smtp_host", "is required for email: the SMTP server"))
        elif refused := delivery.check_host(database_of(session).settings,
                                            values["smtp_host"]):
            problems.append(Problem("smtp_host", refused))
        if not values.get("from_address"):
            problems.append(Problem("from_address", "is required for email: the sender"))
    return [p for p in problems if p is not None]


def _store(channel: NotificationChannel, values: dict[str, Any],
           secrets: dict[str, str]) -> None:
    config = {k: values.get(k) for k in CONFIG_KEYS if values.get(k) is not None}
    if channel.kind == ChannelKind.SLACK:
        config.pop("url", None)  # the Slack URL is the credential: encrypted only
        config["shown_url"] = _masked(secrets["url"])
    if channel.kind == ChannelKind.EMAIL:
        config["has_password"] = bool(secrets.get("password"))
    channel.config = config


def create_channel(*, session: Session, data: schemas.ChannelCreate | dict[str, Any],
                   now: datetime | None = None) -> schemas.ChannelOut:
    """Create a channel; a webhook's signing secret is in this answer only."""
    body = schemas.parse(schemas.ChannelCreate, data)
    values = body.model_dump(exclude={"kind", "title", "secret", "password"})
    if body.kind != ChannelKind.EMAIL:
        values.update(to=None, smtp_host=None, smtp_port=None, starttls=None, username=None,
                      from_address=None)
    problems = _problems(session, body.kind, values, body.secret)
    if problems:
        raise errors.Invalid(problems)
    secrets: dict[str, str] = {}
    if body.kind == ChannelKind.WEBHOOK:
        secrets["secret"] = body.secret or new_secret()
    elif body.kind == ChannelKind.SLACK:
        secrets["url"] = str(values.pop("url"))
    else:
        values.pop("url", None)
        if body.password:
            secrets["password"] = body.password
    channel = NotificationChannel(kind=body.kind, title=body.title, created_at=now or utcnow())
    _store(channel, values, secrets)
    channel.secrets = database_of(session).cipher.encrypt(secrets)
    session.add(channel)
    session.flush()
    return channel_out(channel, secret=secrets.get("secret"))


def list_channels(*, session: Session) -> list[schemas.ChannelOut]:
    """Every channel, oldest first."""
    return [channel_out(c) for c in session.scalars(
        select(NotificationChannel).order_by(NotificationChannel.id))]


def get_channel(*, session: Session, channel_id: int) -> schemas.ChannelOut:
    return channel_out(load(session, NotificationChannel, channel_id, "notification channel"))


def update_channel(*, session: Session, channel_id: int,
                   data: schemas.ChannelPatch | dict[str, Any]) -> schemas.ChannelOut:
    """Change a channel; a secret (Slack URL, password) only when one is given."""
    channel = load(session, NotificationChannel, channel_id, "notification channel")
    body = schemas.parse(schemas.ChannelPatch, data)
    kind = ChannelKind(channel.kind)
    cipher = database_of(session).cipher
    secrets = cipher.decrypt(channel.secrets)
    values = {k: v for k, v in channel.config.items() if k in CONFIG_KEYS}
    if kind == ChannelKind.SLACK:
        values["url"] = secrets["url"]
    changes = body.model_dump(exclude_unset=True, exclude={"title", "password"})
    values.update({k: v for k, v in changes.items() if v is not None})
    problems = _problems(session, kind, values, None)
    if problems:
        raise errors.Invalid(problems)
    if kind == ChannelKind.SLACK:
        secrets["url"] = str(values.pop("url"))
    if kind == ChannelKind.EMAIL and body.password:
        secrets["password"] = body.password
    if body.title is not None:
        channel.title = body.title
    _store(channel, values, secrets)
    channel.secrets = cipher.encrypt(secrets)
    session.flush()
    return channel_out(channel)


def delete_channel(*, session: Session, channel_id: int) -> None:
    """Delete a channel and its delivery log; rules stop naming it."""
    channel = load(session, NotificationChannel, channel_id, "notification channel")
    for rule in session.scalars(select(AlertRule)):
        if channel_id in rule.channel_ids:
            rule.channel_ids = [c for c in rule.channel_ids if c != channel_id]
    session.delete(channel)
    session.flush()


def test_channel(*, session: Session, channel_id: int, now: datetime | None = None
                 ) -> schemas.DeliveryOut:
    """Send a test event to the channel now and say what the receiver answered (logged in
    the channel's delivery log; a test is not retried)."""
    audit.require(session, Role.ADMIN, "sending a test to a notification channel")
    channel = load(session, NotificationChannel, channel_id, "notification channel")
    now = now or utcnow()
    db = database_of(session)
    body = events.payload(db.settings, kind=EventKind.TEST, now=now, extract=None,
                          message=f"a test of the channel {channel.title!r} from Extracts")
    [row] = events.queue(session, body, [channel.id], now, extract_id=None, alert_id=None)
    session.info.pop("alerts_queued", None)  # sent here, not by the deliverer
    outcome = delivery.send(db.settings, channel, db.cipher.decrypt(channel.secrets), body)
    delivery.record(row, outcome, now, give_up_after=timedelta(0))
    if not outcome.ok:
        row.status = DeliveryStatus.FAILED
        row.error = outcome.error
    session.flush()
    return delivery_out(row, channel.title)

