"""Extracts made and changed: create one per account, replace (PUT), patch, pause."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import errors, schemas
from core.clock import utcnow
from core.db import database_of
from core.models import Extract, Template
from core.services.common import extract_out, load, refresh_status, schedule_dict
from core.services.extracts.config import (
    Config,
    check_accounts,
    check_config,
    data_table_for,
    new_data_table,
    set_schedules,
)
from core.services.runs import cancel_queued_backfill, queue_backfill


def create_extracts(*, session: Session, data: schemas.ExtractCreate | dict[str, Any],
                    now: datetime | None = None) -> list[schemas.ExtractOut]:
    """Create one extract per account, all writing to one data table; check everything first."""
    body = schemas.parse(schemas.ExtractCreate, data)
    now = now or utcnow()
    limit = database_of(session).settings.schedules_limit
    template = session.get(Template, body.template_id)
    if template is None:
        known = ", ".join(str(i) for i in session.scalars(select(Template.id).order_by(
            Template.id)))
        raise errors.Invalid(f"no template {body.template_id}; known template ids: {known}",
                             field="template_id")
    config, problems = check_config(
        template, fields=body.template_settings.fields,
        raw_filters=[f.model_dump() for f in body.template_settings.filters],
        options=body.template_settings.own_settings(),
        raw_schedules=[s.model_dump(exclude_unset=True) for s in body.schedules]
        if body.schedules else None,
        sync_historical_data=body.sync_historical_data, schedules_limit=limit, now=now,
        where={"fields": "template_settings.fields", "filters": "template_settings.filters",
               "options": "template_settings"},
        title=body.title,
    )
    accounts = check_accounts(session, body.accounts, template, problems)
    table, table_problems = data_table_for(session, body.data_table_title, template)
    problems += table_problems
    if problems:
        raise errors.Invalid(problems)

    table = table or new_data_table(session, body.data_table_title, template, now)
    created = []
    for account in accounts:
        title = (body.title or f"{account.name} · {template.title}").strip()
        if body.title and len(accounts) > 1:
            title = f"{body.title.strip()} ({account.name})"
        extract = Extract(
            title=title, connection_id=account.connection_id, account=account,
            template=template, data_table=table, fields=config.fields,
            filters=config.filters, template_options=config.options,
            additional_params=body.additional_params,
            sync_historical_data=config.sync_historical_data, schedules_limit=limit,
            status="active", created_at=now, updated_at=now,
        )
        set_schedules(extract, config.schedules)
        session.add(extract)
        session.flush()
        if config.sync_historical_data is not None:
            queue_backfill(session, extract, config.sync_historical_data, now)
        created.append(extract)
    session.flush()
    return [extract_out(e, now) for e in created]


def _apply(session: Session, extract: Extract, config: Config, *, title: str | None,
           additional_params: dict[str, Any], now: datetime) -> None:
    previous_start = extract.sync_historical_data
    if (config.fields, config.filters) != (list(extract.fields), list(extract.filters)):
        extract.schema_drift = None  # fields changed after a drift: the next run checks again
    extract.fields = config.fields
    extract.filters = config.filters
    extract.template_options = config.options
    extract.additional_params = additional_params
    if title is not None:
        extract.title = title.strip()
    set_schedules(extract, config.schedules)
    extract.sync_historical_data = config.sync_historical_data
    extract.updated_at = now
    session.flush()
    start = config.sync_historical_data
    if start is None and previous_start is not None:
        cancel_queued_backfill(session, extract, None, now)
    elif start is not None and (previous_start is None or start < previous_start):
        queue_backfill(session, extract, start, now)
    elif start is not None and previous_start is not None and start > previous_start:
        cancel_queued_backfill(session, extract, start, now)


def update_extract(*, session: Session, extract_id: int,
                   data: schemas.ExtractUpdate | dict[str, Any], now: datetime | None = None
                   ) -> schemas.ExtractOut:
    """Replace an extract's configuration (PUT): omitted optional keys go back to defaults."""
    body = schemas.parse(schemas.ExtractUpdate, data)
    now = now or utcnow()
    extract = load(session, Extract, extract_id, "extract")
    config, problems = check_config(
        extract.template, fields=body.fields,
        raw_filters=[f.model_dump() for f in body.filters], options=body.template_settings,
        raw_schedules=[s.model_dump(exclude_unset=True) for s in body.schedules]
        if body.schedules else None,
        sync_historical_data=body.sync_historical_data,
        schedules_limit=extract.schedules_limit, now=now,
        where={"fields": "fields", "filters": "filters", "options": "template_settings"},
        title=body.title)
    if problems:
        raise errors.Invalid(problems)
    _apply(session, extract, config, title=body.title,
           additional_params=body.additional_params, now=now)
    return extract_out(extract, now)


def patch_extract(*, session: Session, extract_id: int,
                  data: schemas.ExtractPatch | dict[str, Any], now: datetime | None = None
                  ) -> schemas.ExtractOut:
    """Change only the keys given (PATCH); an explicit null clears sync_historical_data."""
    body = schemas.parse(schemas.ExtractPatch, data)
    now = now or utcnow()
    extract = load(session, Extract, extract_id, "extract")
    given = body.model_fields_set
    config, problems = check_config(
        extract.template,
        fields=body.fields if body.fields is not None else list(extract.fields),
        raw_filters=[f.model_dump() for f in body.filters] if body.filters is not None
        else list(extract.filters),
        options=body.template_settings if body.template_settings is not None
        else dict(extract.template_options),
        raw_schedules=[s.model_dump(exclude_unset=True) for s in body.schedules]
        if body.schedules is not None else [schedule_dict(s) for s in extract.schedules],
        sync_historical_data=body.sync_historical_data if "sync_historical_data" in given
        else extract.sync_historical_data,
        schedules_limit=extract.schedules_limit, now=now,
        where={"fields": "fields", "filters": "filters", "options": "template_settings"},
        title=body.title)
    if problems:
        raise errors.Invalid(problems)
    _apply(session, extract, config, title=body.title,
           additional_params=body.additional_params if body.additional_params is not None
           else dict(extract.additional_params), now=now)
    return extract_out(extract, now)


def pause_extract(*, session: Session, extract_id: int, now: datetime | None = None
                  ) -> schemas.ExtractOut:
    """Stop an extract's schedules from firing (manual runs still work)."""
    return _set_paused(session, extract_id, True, now or utcnow())


def unpause_extract(*, session: Session, extract_id: int, now: datetime | None = None
                    ) -> schemas.ExtractOut:
    """Let an extract's schedules fire again."""
    return _set_paused(session, extract_id, False, now or utcnow())


def _set_paused(session: Session, extract_id: int, paused: bool, now: datetime
                ) -> schemas.ExtractOut:
    extract = load(session, Extract, extract_id, "extract")
    extract.is_paused = paused
    extract.updated_at = now
    if not paused and extract.error_text and extract.error_text.startswith("paused"):
        extract.error_text = None  # the reason it was paused no longer holds
    refresh_status(session, extract)
    return extract_out(extract, now)
