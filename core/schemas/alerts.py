"""Alerts: notification channels, alert rules, open and closed alerts, the delivery log."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from core.schemas.common import DbId, Title
from core.vocabulary import RULE_EVENTS, ChannelKind


def _address(value: str) -> str:
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
        raise PydanticCustomError("email", "must be an email address such as "
                                  "lead@example.com")
    return value


Address = Annotated[str, Field(max_length=320), AfterValidator(_address)]


def _rule_event(value: str) -> str:
    if value not in RULE_EVENTS:
        raise PydanticCustomError("event", "must be one of " + ", ".join(RULE_EVENTS))
    return value


RuleEvent = Annotated[str, Field(max_length=40), AfterValidator(_rule_event)]
Url = Annotated[str, Field(max_length=2000)]

# -- channels ----------------------------------------------------------------------------


class ChannelCreate(BaseModel):
    """A new channel. webhook: url (and optionally secret, else one is made); slack: url
    (the incoming webhook's); email: to, smtp_host, from_address, and SMTP login if needed."""

    model_config = ConfigDict(extra="forbid")

    kind: ChannelKind
    title: Title = Field(min_length=1)
    url: Url | None = None
    secret: str | None = Field(default=None, max_length=200,
                               description="webhook: a whsec_ secret; default: a new one")
    to: list[Address] | None = Field(default=None, max_length=50)
    smtp_host: str | None = Field(default=None, max_length=255)
    smtp_port: int = Field(default=587, ge=1, le=65535)
    starttls: bool = True
    username: str | None = Field(default=None, max_length=320)
    password: str | None = Field(default=None, max_length=500)
    from_address: Address | None = None


class ChannelPatch(BaseModel):
    """Fields to change; a secret (url of Slack, password) only when given."""

    model_config = ConfigDict(extra="forbid")

    title: Title | None = Field(default=None, min_length=1)
    url: Url | None = None
    to: list[Address] | None = Field(default=None, max_length=50)
    smtp_host: str | None = Field(default=None, max_length=255)
    smtp_port: int | None = Field(default=None, ge=1, le=65535)
    starttls: bool | None = None
    username: str | None = Field(default=None, max_length=320)
    password: str | None = Field(default=None, max_length=500)
    from_address: Address | None = None


class ChannelOut(BaseModel):
    """A channel as listed: secrets never (a Slack URL masked); `secret` only in the answer
    that created a webhook channel."""

    id: int
    kind: ChannelKind
    title: str
    url: str | None = None
    to: list[str] = Field(default_factory=list)
    smtp_host: str | None = None
    smtp_port: int | None = None
    starttls: bool | None = None
    username: str | None = None
    has_password: bool = False
    from_address: str | None = None
    created_at: datetime
    secret: str | None = Field(default=None, description="The webhook's signing secret "
                               "(whsec_...): in the answer to POST only, never again.")


# -- rules -------------------------------------------------------------------------------


class RuleCreate(BaseModel):
    """Which events of which extracts go to which channels; no scope: every extract."""

    model_config = ConfigDict(extra="forbid")

    title: Title = ""
    events: list[RuleEvent] = Field(min_length=1, max_length=10)
    channel_ids: list[DbId] = Field(min_length=1, max_length=50)
    extract_ids: list[DbId] = Field(default_factory=list, max_length=1000)
    data_table_ids: list[DbId] = Field(default_factory=list, max_length=1000)
    connection_ids: list[DbId] = Field(default_factory=list, max_length=1000)
    datasources: list[Annotated[str, Field(max_length=64)]] = Field(default_factory=list,
                                                                     max_length=100)
    stale_after_hours: int | None = Field(
        default=None, ge=1, le=24 * 366, description="Also raise extract.stale for an extract "
        "in scope with no successful run for this many hours (besides the History page's "
        "rule).")
    muted_until: datetime | None = None


class RulePatch(BaseModel):
    """Fields to change."""

    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    events: list[RuleEvent] | None = Field(default=None, min_length=1, max_length=10)
    channel_ids: list[DbId] | None = Field(default=None, min_length=1, max_length=50)
    extract_ids: list[DbId] | None = Field(default=None, max_length=1000)
    data_table_ids: list[DbId] | None = Field(default=None, max_length=1000)
    connection_ids: list[DbId] | None = Field(default=None, max_length=1000)
    datasources: list[Annotated[str, Field(max_length=64)]] | None = Field(default=None,
                                                                            max_length=100)
    stale_after_hours: int | None = Field(
        default=None, ge=1, le=24 * 366, description="Also raise extract.stale for an extract "
        "in scope with no successful run for this many hours (besides the History page's "
        "rule).")
    muted_until: datetime | None = None


class RuleOut(BaseModel):
    id: int
    title: str
    events: list[str]
    channel_ids: list[int]
    extract_ids: list[int]
    data_table_ids: list[int]
    connection_ids: list[int]
    datasources: list[str]
    stale_after_hours: int | None
    muted_until: datetime | None
    created_at: datetime


# -- alerts and deliveries ---------------------------------------------------------------


class AlertOut(BaseModel):
    """Something wrong with an extract: open until the extract recovers."""

    id: int
    kind: str
    status: str  # open | closed
    extract_id: int
    extract_title: str
    message: str
    run_id: int | None
    opened_at: datetime
    last_notified_at: datetime
    reminders: int
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    closed_at: datetime | None


class DeliveryOut(BaseModel):
    """One event sent (or being sent) to one channel: the delivery log."""

    id: int
    created_at: datetime
    event: str
    event_id: str
    channel_id: int
    channel_title: str
    extract_id: int | None
    status: str
    attempts: int
    status_code: int | None
    error: str | None
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None
    delivered_at: datetime | None


# -- the daily digest ----------------------------------------------------------------------


class DigestSet(BaseModel):
    """Opt in to the daily digest, or out."""

    model_config = ConfigDict(extra="forbid")

    subscribed: bool = Field(description="true: send me the daily digest; false: stop it.")


class DigestOut(BaseModel):
    """The signed-in person's daily digest: whether they get it, and whether one can be sent
    (`why_not` says what is missing: an email address, an email channel)."""

    email: str
    subscribed: bool
    channel_id: int | None
    channel_title: str | None
    hour_utc: int
    why_not: str | None
