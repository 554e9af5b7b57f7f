"""SQLAlchemy ORM of the metadata database. The schema itself is made by migrations/."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from core.vocabulary import ExtractStatus, Role, RunStatus


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every database (SQLite stores naive text)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}; pass an aware UTC datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# SQLite gives a new row the largest id + 1 unless the table is AUTOINCREMENT: a deleted
# newest extract's id (and its rows in the data table) would pass to the next one.
NEVER_REUSE_IDS: dict[str, Any] = {"sqlite_autoincrement": True}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(), dict[str, Any]: JSON, list[Any]: JSON,
    }


class Connection(Base):
    """Credentials and settings for one datasource; secrets are stored encrypted."""

    __tablename__ = "connections"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    datasource: Mapped[str] = mapped_column(String(64), index=True)
    title: Mapped[str] = mapped_column(String(200))
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    secrets: Mapped[str] = mapped_column(Text, default="")
    max_concurrent_runs: Mapped[int] = mapped_column(Integer, default=2)
    created_at: Mapped[datetime]

    accounts: Mapped[list[Account]] = relationship(
        back_populates="connection", cascade="all, delete-orphan", order_by="Account.id"
    )


class Account(Base):
    """An account inside a connection (an ad account, a database, a folder)."""

    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("connection_id", "external_id"), NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))

    connection: Mapped[Connection] = relationship(back_populates="accounts")


class Template(Base):
    """What an extract can pull from a datasource: its fields, date field and settings."""

    __tablename__ = "templates"
    __table_args__ = (UniqueConstraint("datasource", "connection_id", "name"),
                      NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(primary_key=True)
    datasource: Mapped[str] = mapped_column(String(64), index=True)
    connection_id: Mapped[int | None] = mapped_column(
        ForeignKey("connections.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    fields: Mapped[list[Any]] = mapped_column(default=list)
    date_field: Mapped[str | None] = mapped_column(String(100))
    default_fields: Mapped[list[Any]] = mapped_column(default=list)
    default_lookback_days: Mapped[int] = mapped_column(Integer, default=7)
    depth_limit_days: Mapped[int | None] = mapped_column(Integer)
    settings_schema: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Set by a refresh that no longer finds the template at its source (kept while extracts
    # use it); a field that disappeared carries "gone": true in `fields`.
    gone_at: Mapped[datetime | None]


class DataTable(Base):
    """A table in the warehouse that receives the rows of one or more extracts."""

    __tablename__ = "data_tables"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200), unique=True)
    table_name: Mapped[str] = mapped_column(String(63), unique=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("templates.id"))
    created_at: Mapped[datetime]

    template: Mapped[Template] = relationship()


class Extract(Base):
    """A configured data-extraction order for one account."""

    __tablename__ = "extracts"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    template_id: Mapped[int] = mapped_column(ForeignKey("templates.id"))
    data_table_id: Mapped[int] = mapped_column(ForeignKey("data_tables.id"), index=True)
    fields: Mapped[list[Any]] = mapped_column(default=list)
    filters: Mapped[list[Any]] = mapped_column(default=list)
    template_options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    additional_params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    sync_historical_data: Mapped[date | None] = mapped_column(Date)
    schedules_limit: Mapped[int] = mapped_column(Integer, default=3)
    status: Mapped[str] = mapped_column(String(16), default=ExtractStatus.ACTIVE, index=True)
    is_paused: Mapped[bool] = mapped_column(Boolean, default=False)
    error_text: Mapped[str | None] = mapped_column(Text)
    # Why the last run found the source's schema changed (a selected field missing or
    # retyped); cleared when a run passes the check or the extract's fields are edited.
    schema_drift: Mapped[str | None] = mapped_column(Text)
    last_sync: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    connection: Mapped[Connection] = relationship()
    account: Mapped[Account] = relationship()
    template: Mapped[Template] = relationship()
    data_table: Mapped[DataTable] = relationship()
    schedules: Mapped[list[Schedule]] = relationship(
        back_populates="extract", cascade="all, delete-orphan", order_by="Schedule.position"
    )


class Schedule(Base):
    """When an extract runs by itself, and how many days back each run reaches."""

    __tablename__ = "schedules"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    extract_id: Mapped[int] = mapped_column(
        ForeignKey("extracts.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)
    frequency: Mapped[str] = mapped_column(String(16))
    every_hours: Mapped[int | None] = mapped_column(Integer)
    minute: Mapped[int] = mapped_column(Integer, default=0)
    hour: Mapped[int | None] = mapped_column(Integer)
    weekday: Mapped[int | None] = mapped_column(Integer)
    day_of_month: Mapped[int | None] = mapped_column(Integer)
    cron: Mapped[str | None] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    lookback: Mapped[str] = mapped_column(String(16), default="default")

    extract: Mapped[Extract] = relationship(back_populates="schedules")


class Run(Base):
    """One execution of an extract for a date window, from queued to its outcome."""

    __tablename__ = "runs"
    __table_args__ = (
        Index("ix_runs_queue", "status", "priority", "id"),
        Index("ix_runs_extract_status", "extract_id", "status"),
        Index("ix_runs_queued_at", "queued_at"),
        # Covering indexes of the history aggregations (core/services/history/).
        Index("ix_runs_history", "queued_at", "status", "extract_id", "trigger", "rows",
              "duration_seconds", "date_from", "date_to"),
        Index("ix_runs_extract_finished", "extract_id", "status", "finished_at", "queued_at",
              "rows", "date_from", "date_to"),
        Index("ix_runs_extract_date_to", "extract_id", "status", "date_to"),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    extract_id: Mapped[int] = mapped_column(ForeignKey("extracts.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default=RunStatus.QUEUED)
    trigger: Mapped[str] = mapped_column(String(16))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    date_from: Mapped[date | None] = mapped_column(Date)
    date_to: Mapped[date | None] = mapped_column(Date)
    queued_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    rows: Mapped[int | None] = mapped_column(Integer)
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    error: Mapped[str | None] = mapped_column(Text)
    log: Mapped[list[Any]] = mapped_column(default=list)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    worker_id: Mapped[str | None] = mapped_column(String(100))
    # Set anew by every claim; the load commits only while the run still carries it.
    claim_token: Mapped[str | None] = mapped_column(String(64))

    extract: Mapped[Extract] = relationship()


class SourceState(Base):
    """The state an Airbyte source or Singer tap ended an extract's last loaded read with;
    written with the window's rows, in one transaction."""

    __tablename__ = "source_states"

    extract_id: Mapped[int] = mapped_column(
        ForeignKey("extracts.id", ondelete="CASCADE"), primary_key=True)
    state: Mapped[Any] = mapped_column(JSON)
    updated_at: Mapped[datetime]


class AppState(Base):
    """Small facts about the deployment, e.g. that the demo connection was created once."""

    __tablename__ = "app_state"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text, default="")


class User(Base):
    """A person who signs in (OpenID Connect); their role says what they may change."""

    __tablename__ = "users"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(16), default=Role.VIEWER)
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime | None]


class ApiKey(Base):
    """A credential for the REST API; only a hash of its secret is stored. It acts with its
    own role, never above its owner's (a key made by the CLI has no owner)."""

    __tablename__ = "api_keys"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    key_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16), default=Role.ADMIN)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User | None] = relationship()


class AuditEvent(Base):
    """One change a person or key made, written in the transaction of the change. Nothing
    updates or deletes these rows."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_at", "at"), Index("ix_audit_object", "object_type",
                                                        "object_id"),
                      Index("ix_audit_actor", "actor"), NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(400))
    actor_kind: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(32))
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[int | None]
    object_title: Mapped[str] = mapped_column(String(400), default="")
    changes: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ApiToken(Base):
    """A short-lived bearer token minted from an API key; only its hash is stored."""

    __tablename__ = "api_tokens"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    api_key_id: Mapped[int] = mapped_column(
        ForeignKey("api_keys.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]

    api_key: Mapped[ApiKey] = relationship()


# The lease of the one process that fires schedules.
SCHEDULER_LEASE = "scheduler"


class Lease(Base):
    """Who may do a once-per-deployment job (firing schedules), and until when."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    holder: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[datetime]


class CeleryWorker(Base):
    """A live Celery worker and how many runs it executes at once (executor = celery); it
    renews `seen_at` while it lives, so the dispatcher and the dashboard can count them."""

    __tablename__ = "celery_workers"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    slots: Mapped[int] = mapped_column(Integer)
    seen_at: Mapped[datetime]


class ScheduleFire(Base):
    """The fire time a schedule last served, so that each fire time queues one run at most."""

    __tablename__ = "schedule_fires"

    schedule_id: Mapped[int] = mapped_column(
        ForeignKey("schedules.id", ondelete="CASCADE"), primary_key=True
    )
    fired_at: Mapped[datetime]


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
