"""Alerts: notification channels, rules, alerts, their deliveries, digest subscriptions."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.models.base import NEVER_REUSE_IDS, Base

if TYPE_CHECKING:
    from core.models.extracts import Extract


class NotificationChannel(Base):
    """Where alerts go: a signed webhook, a Slack incoming webhook or email over SMTP.
    What is secret (the webhook's signing secret, the Slack URL, the SMTP password) is in
    `secrets`, encrypted."""

    __tablename__ = "notification_channels"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(200))
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    secrets: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]


class AlertRule(Base):
    """Which events, of which extracts (empty scope lists: all), go to which channels."""

    __tablename__ = "alert_rules"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    events: Mapped[list[Any]] = mapped_column(default=list)
    channel_ids: Mapped[list[Any]] = mapped_column(default=list)
    extract_ids: Mapped[list[Any]] = mapped_column(default=list)
    data_table_ids: Mapped[list[Any]] = mapped_column(default=list)
    connection_ids: Mapped[list[Any]] = mapped_column(default=list)
    datasources: Mapped[list[Any]] = mapped_column(default=list)
    # extract.stale also when an extract in scope has had no success for this many hours.
    stale_after_hours: Mapped[int | None] = mapped_column(Integer)
    muted_until: Mapped[datetime | None]
    created_at: Mapped[datetime]


class Alert(Base):
    """Something wrong with an extract, open until it recovers: one open alert per extract
    and kind (`open_key` is unique while open, NULL once closed), so a failing extract
    sends one alert and then reminders, never a storm."""

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_extract", "extract_id", "closed_at"), NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(primary_key=True)
    extract_id: Mapped[int] = mapped_column(ForeignKey("extracts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    open_key: Mapped[str | None] = mapped_column(String(80), unique=True)
    message: Mapped[str] = mapped_column(Text, default="")
    run_id: Mapped[int | None]
    opened_at: Mapped[datetime]
    last_notified_at: Mapped[datetime]
    reminders: Mapped[int] = mapped_column(Integer, default=0)
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(400))
    closed_at: Mapped[datetime | None]

    extract: Mapped[Extract] = relationship()


class Delivery(Base):
    """The outbox: one event for one channel, written in the transaction of the change that
    caused it; the deliverer sends it, retrying with backoff, and records each attempt."""

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_due", "status", "next_attempt_at"),
                      Index("ix_deliveries_channel", "channel_id", "id"), NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64))  # the webhook-id, the same on retries
    event: Mapped[str] = mapped_column(String(40))
    channel_id: Mapped[int] = mapped_column(
        ForeignKey("notification_channels.id", ondelete="CASCADE"))
    extract_id: Mapped[int | None]
    alert_id: Mapped[int | None]
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_attempt_at: Mapped[datetime | None]
    status_code: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None]
    # Set on what must go out once only: the daily digest's "digest:<user id>:<day>".
    once_key: Mapped[str | None] = mapped_column(String(120), unique=True)


class DigestSubscription(Base):
    """A person who asked for the daily digest email (to the email they sign in with)."""

    __tablename__ = "digest_subscriptions"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                         primary_key=True)
    created_at: Mapped[datetime]
