"""Helpers the service modules share: the clock, loading by id, the read models."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import errors, schedules, schemas
from core.connectors.base import FieldSpec, TemplateSpec
from core.models import Base, Extract, Run, Template
from core.vocabulary import (
    ACTIVE_RUN_STATUSES,
    FINISHED_RUN_STATUSES,
    ExtractStatus,
    RunStatus,
    RunTrigger,
)

M = TypeVar("M", bound=Base)


def load(session: Session, model: type[M], id_: int, what: str) -> M:
    """The row of `model` with `id_`, or NotFound naming it."""
    row = session.get(model, id_)
    if row is None:
        raise errors.NotFound(f"{what} {id_} does not exist")
    return row


def field_specs(template: Template) -> dict[str, FieldSpec]:
    return {f["name"]: FieldSpec(f["name"], f["type"], f["kind"], f.get("required", False),
                                 f.get("title", "")) for f in template.fields}


def template_spec(template: Template) -> TemplateSpec:
    return TemplateSpec(
        name=template.name, title=template.title, description=template.description,
        fields=tuple(field_specs(template).values()), date_field=template.date_field,
        default_fields=tuple(template.default_fields),
        default_lookback_days=template.default_lookback_days,
        depth_limit_days=template.depth_limit_days,
        settings_schema=template.settings_schema,
    )


def schedule_dict(schedule: Any) -> dict[str, Any]:
    return {
        "frequency": schedule.frequency, "every_hours": schedule.every_hours,
        "minute": schedule.minute, "hour": schedule.hour, "weekday": schedule.weekday,
        "day_of_month": schedule.day_of_month, "cron": schedule.cron,
        "timezone": schedule.timezone, "lookback": schedule.lookback,
    }


def schedule_out(schedule: Any, now: datetime, paused: bool) -> schemas.ScheduleOut:
    data = schedule_dict(schedule)
    lookback = data["lookback"]
    return schemas.ScheduleOut(
        id=schedule.id, **{**data, "lookback": int(lookback) if lookback.isdigit() else lookback},
        next_run_at=None if paused else schedules.next_fire(data, now),
    )


def gone_fields(template: Any) -> list[str]:
    """The template's fields a refresh no longer found at the source (kept while used)."""
    return [f["name"] for f in template.fields if f.get("gone")]


def schema_changed(extract: Any, template: Any) -> str | None:
    """Why the source's schema no longer fits the extract, or None: what the last run found,
    else a template or selected field that a refresh found gone."""
    if extract.schema_drift:
        return extract.schema_drift
    if template.gone_at is not None:
        return (f"schema changed: the source no longer has {template.title!r}; create the "
                "extract on another template or delete it")
    gone = [n for n in gone_fields(template) if n in extract.fields]
    if gone:
        return (f"schema changed: field(s) {', '.join(gone)} are gone from the source; edit "
                "the extract and deselect them")
    return None


def extract_out(extract: Extract, now: datetime) -> schemas.ExtractOut:
    return extract_answer(extract, account_name=extract.account.name,
                          data_table_title=extract.data_table.title, template=extract.template,
                          schedules=extract.schedules, now=now)


def extract_answer(extract: Any, *, account_name: str, data_table_title: str, template: Any,
                   schedules: Sequence[Any], now: datetime) -> schemas.ExtractOut:
    """An extract as the API shows it. `extract`, `template` and `schedules` are ORM objects
    or anything with their columns as attributes (rows of a statement that read them)."""
    schedule_outs = [schedule_out(s, now, extract.is_paused) for s in schedules]
    upcoming = [s.next_run_at for s in schedule_outs if s.next_run_at is not None]
    return schemas.ExtractOut(
        id=extract.id, title=extract.title, connection_id=extract.connection_id,
        account_id=extract.account_id, account_name=account_name,
        created_at=extract.created_at, last_sync=extract.last_sync,
        status=ExtractStatus(extract.status),
        error_text=extract.error_text, schedules_limit=extract.schedules_limit,
        sync_historical_data=extract.sync_historical_data, template_id=extract.template_id,
        data_table_id=extract.data_table_id, data_table_title=data_table_title,
        fields=list(extract.fields), filters=list(extract.filters),
        additional_params=dict(extract.additional_params), schedules=schedule_outs,
        next_run_at=min(upcoming) if upcoming else None,
        template_settings=dict(extract.template_options),
        datasource_name=template.datasource, template_title=template.title,
        updated_at=extract.updated_at, schema_changed=schema_changed(extract, template),
    )


def run_out(run: Run, *, with_log: bool = False) -> schemas.RunOut:
    return schemas.RunOut(
        id=run.id, extract_id=run.extract_id, status=RunStatus(run.status),
        trigger=RunTrigger(run.trigger),
        date_from=run.date_from, date_to=run.date_to, queued_at=run.queued_at,
        started_at=run.started_at, finished_at=run.finished_at, rows=run.rows,
        duration_seconds=run.duration_seconds, attempts=run.attempts,
        max_attempts=run.max_attempts, error=run.error,
        log=list(run.log) if with_log else [],
    )


def refresh_status(session: Session, extract: Extract) -> None:
    """Set the extract's status from its runs: syncing, paused, error or active."""
    session.flush()
    active = session.scalar(
        select(Run.id).where(Run.extract_id == extract.id,
                             Run.status.in_(ACTIVE_RUN_STATUSES)).limit(1)
    )
    if active is not None:
        extract.status = ExtractStatus.SYNCING
        return
    if extract.is_paused:
        extract.status = ExtractStatus.PAUSED
        return
    last = session.scalar(
        select(Run.status).where(Run.extract_id == extract.id,
                                 Run.status.in_(FINISHED_RUN_STATUSES))
        .order_by(Run.finished_at.desc(), Run.id.desc()).limit(1)
    )
    extract.status = ExtractStatus.ERROR if last == RunStatus.FAILED else ExtractStatus.ACTIVE
