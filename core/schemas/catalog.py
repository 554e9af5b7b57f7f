"""Datasources, connections and their accounts, templates and data tables; a connection's
test, refresh and delete."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from core.schemas.common import Title


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


class CheckResult(BaseModel):
    ok: bool
    message: str


# Pydantic's error types in words a person acts on. One translator serves the API (422 answers)
# and the service (Invalid raised by `parse`), so a field's message reads the same everywhere.
