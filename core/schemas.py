"""Pydantic models of the public contract (Improvado's extract field names), for API and UI."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from core.errors import Invalid, Problem
from core.vocabulary import ActorKind, ExtractStatus, Role, RunStatus, RunTrigger

T = TypeVar("T")

# Ids are 32-bit integers on every database; a larger number can name nothing.
DbId = Annotated[int, Field(ge=1, le=2**31 - 1)]
TITLE_CHARACTERS = 200
ADDITIONAL_PARAMS_BYTES = 64 * 1024
# A title (of an extract, a data table, a connection): shown in lists and page headers.
Title = Annotated[str, Field(max_length=TITLE_CHARACTERS)]


def _small_json(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """`additional_params` are kept and returned by every read: at most 64 KB of JSON."""
    if value is None:
        return None
    size = len(json.dumps(value, default=str).encode())
    if size > ADDITIONAL_PARAMS_BYTES:
        raise PydanticCustomError(
            "too_large", f"must be at most {ADDITIONAL_PARAMS_BYTES:,} bytes as JSON, "
            f"not {size:,}")
    return value


AdditionalParams = Annotated[dict[str, Any], AfterValidator(_small_json)]


class FilterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field: str
    operator: str
    value: Any = None


class TemplateSettingsIn(BaseModel):
    """`fields` and `filters`, plus the template's own settings as further keys."""

    model_config = ConfigDict(extra="allow")

    fields: list[str]
    filters: list[FilterIn] = Field(default_factory=list)

    def own_settings(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class ScheduleIn(BaseModel):
    """A schedule as given; ranges and names are checked by core.schedules."""

    model_config = ConfigDict(extra="forbid")

    frequency: str = "daily"
    every_hours: int | None = None
    minute: int | None = 0
    hour: int | None = 0
    weekday: int | str | None = None
    day_of_month: int | None = None
    cron: str | None = None
    timezone: str = "UTC"
    lookback: int | str = "default"


class ExtractCreate(BaseModel):
    """The body of POST /api/v3/extracts."""

    model_config = ConfigDict(extra="forbid")

    data_table_title: Title
    template_id: DbId
    template_settings: TemplateSettingsIn
    accounts: list[DbId]
    title: Title | None = None
    schedules: list[ScheduleIn] | None = None
    sync_historical_data: date | None = None
    additional_params: AdditionalParams = Field(default_factory=dict)


class _ExtractChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _lift_template_settings(cls, data: Any) -> Any:
        # Accept the create shape too: fields/filters inside template_settings.
        if isinstance(data, dict) and isinstance(data.get("template_settings"), dict):
            data = dict(data)
            settings = dict(data["template_settings"])
            for key in ("fields", "filters"):
                if key in settings and key not in data:
                    data[key] = settings.pop(key)
            data["template_settings"] = settings
        return data


class ExtractUpdate(_ExtractChange):
    """The body of PUT: replaces everything; an omitted optional key goes back to default."""

    fields: list[str]
    filters: list[FilterIn] = Field(default_factory=list)
    template_settings: dict[str, Any] = Field(default_factory=dict)
    schedules: list[ScheduleIn] | None = None
    additional_params: AdditionalParams = Field(default_factory=dict)
    sync_historical_data: date | None = None
    title: Title | None = None


class ExtractPatch(_ExtractChange):
    """The body of PATCH: only the keys given change; null clears sync_historical_data."""

    fields: list[str] | None = None
    filters: list[FilterIn] | None = None
    template_settings: dict[str, Any] | None = None
    schedules: list[ScheduleIn] | None = None
    additional_params: AdditionalParams | None = None
    sync_historical_data: date | None = None
    title: Title | None = None


class ScheduleOut(BaseModel):
    id: int
    frequency: str
    every_hours: int | None
    minute: int
    hour: int | None
    weekday: int | None
    day_of_month: int | None
    cron: str | None
    timezone: str
    lookback: int | str
    next_run_at: datetime | None


class ExtractOut(BaseModel):
    """An extract as read: Improvado's fields first, then this product's extras."""

    id: int
    title: str
    connection_id: int
    account_id: int
    account_name: str
    created_at: datetime
    last_sync: datetime | None
    status: ExtractStatus
    error_text: str | None
    schedules_limit: int
    sync_historical_data: date | None
    template_id: int
    data_table_id: int
    data_table_title: str
    fields: list[str]
    filters: list[dict[str, Any]]
    additional_params: dict[str, Any]
    schedules: list[ScheduleOut]
    next_run_at: datetime | None
    template_settings: dict[str, Any]
    datasource_name: str
    template_title: str
    updated_at: datetime
    schema_changed: str | None = Field(
        default=None, description="Set while the source's schema no longer fits the extract "
        "(a selected field missing or retyped): what changed and what to do.")


class RunOut(BaseModel):
    """One run: its window, outcome and (when asked for) its log."""

    id: int
    extract_id: int
    status: RunStatus
    trigger: RunTrigger
    date_from: date | None
    date_to: date | None
    queued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    rows: int | None
    duration_seconds: float | None
    attempts: int
    max_attempts: int
    error: str | None
    log: list[dict[str, Any]] = Field(default_factory=list)
    already_queued: bool = Field(
        default=False, description="In the answer to a run request: the window was already "
        "queued, so the request joined that run instead of loading it twice.")


class FieldOut(BaseModel):
    name: str
    type: str
    kind: str
    required: bool
    title: str
    gone: bool = Field(default=False, description="The source no longer has this field; kept "
                       "while extracts select it.")


class TemplateOut(BaseModel):
    id: int
    datasource: str
    connection_id: int | None
    name: str
    title: str
    description: str
    fields: list[FieldOut]
    date_field: str | None
    default_fields: list[str]
    default_lookback_days: int
    depth_limit_days: int | None
    settings_schema: dict[str, Any]
    gone_at: datetime | None = Field(default=None, description="When a refresh no longer "
                                     "found the template at its source (kept while used).")


class AccountOut(BaseModel):
    id: int
    connection_id: int
    external_id: str
    name: str


class ConnectionOut(BaseModel):
    """A connection as read; secret values are never included, only their names."""

    id: int
    datasource: str
    title: str
    config: dict[str, Any]
    secret_fields: list[str]
    secrets_set: list[str] = Field(default_factory=list, description="The secret settings "
                                   "that hold a value (the values are never returned).")
    max_concurrent_runs: int
    created_at: datetime
    accounts: list[AccountOut]


class ConnectionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    datasource: str
    title: Title
    config: dict[str, Any] = Field(default_factory=dict)
    max_concurrent_runs: int = 2


class ConnectionPatch(BaseModel):
    """An edit of a connection: only what is given changes. In `config`, a key set to null
    goes back to its default; a secret given empty or null keeps its stored value."""

    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    config: dict[str, Any] | None = None
    max_concurrent_runs: int | None = None


class FieldTypeChange(BaseModel):
    name: str
    old: str
    new: str


class TemplateChange(BaseModel):
    """What a refresh did to one template."""

    template_id: int | None
    name: str
    title: str
    change: str = Field(description="added, changed, unchanged, gone (kept: extracts or data "
                        "tables use it) or removed")
    fields_added: list[str] = Field(default_factory=list)
    fields_removed: list[str] = Field(default_factory=list)
    fields_gone: list[str] = Field(default_factory=list, description="Removed at the source "
                                   "but kept, marked gone, because extracts select them.")
    fields_retyped: list[FieldTypeChange] = Field(default_factory=list)
    extract_ids: list[int] = Field(default_factory=list,
                                   description="The extracts the change concerns.")


class RefreshOut(BaseModel):
    """What a refresh of a connection's accounts and templates changed."""

    connection_id: int
    accounts_added: list[str]
    accounts_missing: list[str] = Field(description="Accounts the source no longer lists "
                                        "(kept, with their extracts).")
    templates: list[TemplateChange]
    summary: str


class ConnectionDeleted(BaseModel):
    id: int
    deleted_extract_ids: list[int]


class DataTableOut(BaseModel):
    id: int
    title: str
    table_name: str
    template_id: int
    template_title: str
    created_at: datetime
    extract_ids: list[int]
    columns: dict[str, str]
    row_count: int


class DatasourceOut(BaseModel):
    name: str
    title: str
    config_schema: dict[str, Any]


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    page: int
    page_size: int


class CheckResult(BaseModel):
    ok: bool
    message: str


# Pydantic's error types in words a person acts on. One translator serves the API (422 answers)
# and the service (Invalid raised by `parse`), so a field's message reads the same everywhere.
_FRIENDLY = {
    "missing": "is required",
    "extra_forbidden": "is not a known field",
    "int_parsing": "must be a whole number",
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_parsing": "must be a number",
    "bool_parsing": "must be true or false",
    "string_type": "must be text",
    "list_type": "must be a list",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "date_parsing": "must be an ISO date such as 2025-01-31",
    "date_from_datetime_parsing": "must be an ISO date such as 2025-01-31",
    "date_from_datetime_inexact": "must be an ISO date such as 2025-01-31",
    "date_type": "must be an ISO date such as 2025-01-31",
    "json_invalid": "is not valid JSON",
}
# Where FastAPI found the value: not part of the field's name.
_WHERE = {"body", "query", "path", "header", "cookie"}


def _field(loc: Sequence[int | str]) -> str:
    parts = list(loc)
    if len(parts) > 1 and parts[0] in _WHERE:
        parts = parts[1:]
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part.startswith("function-") or part in {"int", "str"}:
            continue  # pydantic's names of validators and union members, not fields
        else:
            text += f".{part}" if text else part
    return text


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def validation_problems(raw: Sequence[Mapping[str, Any]]) -> list[Problem]:
    """Pydantic's (or FastAPI's) validation errors as Problems that name the field and say
    what would be right, one per field."""
    seen: dict[str, Problem] = {}
    for error in raw:
        kind = error.get("type", "")
        where = "body" if kind == "json_invalid" else _field(error.get("loc", ()))
        message = _FRIENDLY.get(kind, error.get("msg", "is not valid"))
        if kind == "string_too_long":
            message = f"must be at most {error.get('ctx', {}).get('max_length')} characters"
        if kind not in ("missing", "extra_forbidden", "json_invalid", "too_large",
                        "string_too_long") and "input" in error:
            message += f", not {_short(error['input'])}"
        seen.setdefault(where, Problem(where, message))
    return list(seen.values())


def parse(model: type[T], data: Any) -> T:
    """Parse `data` (a model already, or a mapping) into `model`, or raise Invalid."""
    if isinstance(data, model):
        return data
    if not isinstance(data, Mapping):
        raise Invalid("the body must be a JSON object")
    try:
        return model.model_validate(dict(data))  # type: ignore[attr-defined]
    except ValidationError as exc:
        raise Invalid(validation_problems(exc.errors())) from None


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
