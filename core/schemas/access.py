"""Who acts and what they may do: API keys, tokens, users, and the audit log of their changes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from core.vocabulary import ActorKind, Role

# -- API keys ---------------------------------------------------------------------------


class ApiKeyOut(BaseModel):
    """An API key as listed; the secret is never included."""

    key_id: str
    name: str
    role: Role
    owner: str | None = None  # the owner's email; None for a key made by the CLI
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


# -- who acts ---------------------------------------------------------------------------


class Actor(BaseModel):
    """Who is acting: a signed-in person, or an API key (acting for its owner, if any).
    Sessions carry it (core.audit.act_as); every change they flush is checked against its
    role and written to the audit log."""

    model_config = ConfigDict(frozen=True)

    kind: ActorKind
    name: str  # a user's email; a key's "key_... (its name)"
    role: Role
    user_id: int | None = None
    api_key_id: int | None = None

    @property
    def label(self) -> str:
        return f"{self.kind} {self.name}"


class UserOut(BaseModel):
    id: int
    email: str
    name: str
    role: Role
    created_at: datetime
    last_seen_at: datetime | None


class AuditEventOut(BaseModel):
    """One change, as the audit log keeps it: who, when, what, and each field before/after."""

    id: int
    at: datetime
    actor: str
    actor_kind: ActorKind
    action: str
    object_type: str
    object_id: int | None
    object_title: str
    changes: dict[str, Any]


class NewApiKey(ApiKeyOut):
    """A key just created, with its secret: the only time the secret is shown."""

    secret: str


class TokenOut(BaseModel):
    """A bearer token minted from an API key."""

    access_token: str
    token_type: str = "Bearer"
    expires_in: int
    expires_at: datetime
