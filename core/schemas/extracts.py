"""Extracts, their schedules and runs: the bodies of create, update and patch, and what reads
answer (Improvado's field names first)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.schemas.common import AdditionalParams, DbId, Title
from core.vocabulary import ExtractStatus, RunStatus, RunTrigger


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
