"""Who acts: people, API keys and their tokens, and the audit log of what they changed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    ForeignKey,
    Index,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.models.base import NEVER_REUSE_IDS, Base
from core.vocabulary import Role


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
