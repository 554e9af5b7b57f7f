"""Where data comes from and goes to: connections, their accounts and templates, data tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.models.base import NEVER_REUSE_IDS, Base


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
