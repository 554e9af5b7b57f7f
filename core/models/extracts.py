"""Extracts, their schedules and runs, and the state a source left for an extract."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.models.base import NEVER_REUSE_IDS, Base
from core.vocabulary import ExtractStatus, RunStatus

if TYPE_CHECKING:
    from core.models.catalog import Account, Connection, DataTable, Template


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
