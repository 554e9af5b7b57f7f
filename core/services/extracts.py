"""Extracts: create one per account, read, replace (PUT), patch, pause, delete."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, selectinload

from core import errors, filters, schedules, schemas
from core.clock import utcnow
from core.connectors.base import validate_options
from core.db import Database, after_commit, database_of, disk_full, locked
from core.errors import Problem
from core.models import Account, DataTable, Extract, Run, Schedule, Template
from core.services.common import (
    extract_answer,
    extract_out,
    field_specs,
    gone_fields,
    load,
    refresh_status,
    schedule_dict,
)
from core.services.runs import cancel_queued_backfill, queue_backfill
from core.vocabulary import ExtractStatus, RunStatus
from core.warehouse import SYSTEM_NAMES, table_name_for


@dataclass
class _Config:
    """An extract's checked configuration: what create, PUT and PATCH all store."""

    fields: list[str]
    filters: list[dict[str, Any]]
    options: dict[str, Any]
    schedules: list[dict[str, Any]]
    sync_historical_data: date | None


def _check_fields(template: Template, chosen: list[str], where: str) -> tuple[list[str],
                                                                            list[Problem]]:
    specs = field_specs(template)
    chosen = list(dict.fromkeys(chosen))
    problems = []
    if not chosen:
        problems.append(Problem(where, "select at least one field; the template's defaults "
                                       f"are {', '.join(template.default_fields)}"))
    gone = set(gone_fields(template))
    unknown = [f for f in chosen if f not in specs]
    if unknown:
        offered = [n for n in specs if n not in gone]
        problems.append(Problem(where, f"unknown field(s) {', '.join(unknown)}; template "
                                       f"{template.title!r} offers {', '.join(offered)}"))
    if gone & set(chosen):
        problems.append(Problem(where, f"field(s) {', '.join(f for f in chosen if f in gone)} "
                                       "are gone from the source; deselect them"))
    missing = [n for n, s in specs.items() if s.required and n not in chosen]
    if missing:
        problems.append(Problem(where, f"required field(s) {', '.join(missing)} must stay "
                                       "selected"))
    return chosen, problems


def _check_config(template: Template, *, fields: list[str], raw_filters: list[Any],
                  options: dict[str, Any], raw_schedules: list[Any] | None,
                  sync_historical_data: date | None, schedules_limit: int, now: datetime,
                  where: dict[str, str], title: str | None = None
                  ) -> tuple[_Config, list[Problem]]:
    chosen, problems = _check_fields(template, fields, where["fields"])
    if title is not None and not title.strip():
        problems.append(Problem("title", "must not be empty; leave it out for the default"))
    specs = field_specs(template)
    checked_filters = []
    for i, raw in enumerate(raw_filters):
        item, filter_problems = filters.check(dict(raw), specs, f"{where['filters']}[{i}]")
        problems += filter_problems
        if item is not None:
            checked_filters.append(filters.to_json(item))
    clean_options, option_problems = validate_options(template.settings_schema, options,
                                                      where["options"])
    problems += option_problems

    given = [dict(s) for s in raw_schedules] if raw_schedules else [dict(
        schedules.DEFAULT_SCHEDULE)]
    if len(given) > schedules_limit:
        problems.append(Problem("schedules", f"{len(given)} schedules given; an extract may "
                                             f"have at most {schedules_limit}"))
    checked_schedules = []
    for i, raw in enumerate(given):
        schedule, schedule_problems = schedules.check(
            raw, f"schedules[{i}]", depth_limit_days=template.depth_limit_days,
            default_lookback_days=template.default_lookback_days)
        problems += schedule_problems
        checked_schedules.append(schedule)

    if sync_historical_data is not None:
        today = now.astimezone(ZoneInfo(checked_schedules[0]["timezone"])).date()
        depth = template.depth_limit_days
        if template.date_field is None:
            problems.append(Problem("sync_historical_data", f"template {template.title!r} has "
                                    "no date field, so there is no history to load; leave "
                                    "it empty"))
        elif sync_historical_data > today:
            problems.append(Problem("sync_historical_data", f"{sync_historical_data} is in the "
                                    f"future; use {today} or earlier"))
        elif depth is not None and sync_historical_data < today - timedelta(days=depth):
            problems.append(Problem("sync_historical_data", f"{sync_historical_data} is older "
                                    f"than the template's depth limit of {depth} days; use "
                                    f"{today - timedelta(days=depth)} or later"))
    return _Config(chosen, checked_filters, clean_options, checked_schedules,
                   sync_historical_data), problems


def _data_table_for(session: Session, title: str, template: Template
                    ) -> tuple[DataTable | None, list[Problem]]:
    title = title.strip()
    if not title:
        return None, [Problem("data_table_title", "must not be empty; name the data table "
                                                  "that receives the rows")]
    table = session.scalar(select(DataTable).where(DataTable.title == title))
    if table is not None and table.template_id != template.id:
        return None, [Problem("data_table_title", f"data table {title!r} already holds rows "
                              f"of template {table.template.title!r}; pick a new title, or "
                              "that template")]
    if table is None and table_name_for(title) in SYSTEM_NAMES:
        return None, [Problem("data_table_title", f"{title!r} is a reserved name")]
    return table, []


def _new_data_table(session: Session, title: str, template: Template, now: datetime
                    ) -> DataTable:
    base = name = table_name_for(title)
    taken = set(session.scalars(select(DataTable.table_name).where(
        DataTable.table_name.like(f"{base}%"))))
    suffix = 2
    while name in taken:
        name = f"{base}_{suffix}"
        suffix += 1
    table = DataTable(title=title.strip(), table_name=name, template=template, created_at=now)
    session.add(table)
    return table


def _set_schedules(extract: Extract, checked: list[dict[str, Any]]) -> None:
    """Make the extract's schedules `checked`, keeping the ids of those in the same position."""
    kept = extract.schedules[:len(checked)]
    del extract.schedules[len(checked):]
    for position, data in enumerate(checked):
        if position < len(kept):
            for key, value in data.items():
                setattr(kept[position], key, value)
        else:
            extract.schedules.append(Schedule(position=position, **data))


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
    config, problems = _check_config(
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
    accounts = _check_accounts(session, body.accounts, template, problems)
    table, table_problems = _data_table_for(session, body.data_table_title, template)
    problems += table_problems
    if problems:
        raise errors.Invalid(problems)

    table = table or _new_data_table(session, body.data_table_title, template, now)
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
        _set_schedules(extract, config.schedules)
        session.add(extract)
        session.flush()
        if config.sync_historical_data is not None:
            queue_backfill(session, extract, config.sync_historical_data, now)
        created.append(extract)
    session.flush()
    return [extract_out(e, now) for e in created]


def _check_accounts(session: Session, ids: list[int], template: Template,
                    problems: list[Problem]) -> list[Account]:
    if not ids:
        problems.append(Problem("accounts", "select at least one account"))
        return []
    ids = list(dict.fromkeys(ids))
    found = {a.id: a for a in session.scalars(select(Account).where(Account.id.in_(ids)))}
    unknown = [str(i) for i in ids if i not in found]
    if unknown:
        known = [str(i) for i in session.scalars(select(Account.id).order_by(Account.id)
                                                 .limit(21))]
        hint = ", ".join(known[:20]) + (", ..." if len(known) > 20 else "") or "none"
        problems.append(Problem("accounts", f"unknown account id(s) {', '.join(unknown)}; "
                                            f"known account ids: {hint}"))
    accounts = [found[i] for i in ids if i in found]
    connections = sorted({a.connection_id for a in accounts})
    if len(connections) > 1:
        problems.append(Problem("accounts", "all accounts must belong to one connection; "
                                "these come from connections "
                                f"{', '.join(map(str, connections))}"))
    for account in accounts[:1]:
        datasource = account.connection.datasource
        if datasource != template.datasource or template.connection_id not in (
                None, account.connection_id):
            problems.append(Problem("accounts", f"account {account.id} is a {datasource} "
                                    f"account but template {template.title!r} belongs to "
                                    f"{template.datasource}"))
    return accounts


# get_extract's one statement, built once: the extract's columns, what its answer shows of its
# account, data table and template, and its schedules (one row each; none: one row of nulls).
_TEMPLATE_COLUMNS = ("datasource", "title", "gone_at", "fields")
_SCHEDULE_COLUMNS = tuple(c.key for c in Schedule.__table__.c)
_ONE_EXTRACT = (
    select(*Extract.__table__.c, Account.name.label("account_name"),
           DataTable.title.label("data_table_title"),
           *(getattr(Template, n).label(f"template_{n}") for n in _TEMPLATE_COLUMNS),
           *(c.label(f"schedule_{c.key}") for c in Schedule.__table__.c))
    .join(Account, Account.id == Extract.account_id)
    .join(DataTable, DataTable.id == Extract.data_table_id)
    .join(Template, Template.id == Extract.template_id)
    .outerjoin(Schedule, Schedule.extract_id == Extract.id)
    .where(Extract.id == bindparam("extract_id"))
    .order_by(Schedule.position))


def get_extract(*, session: Session, extract_id: int, now: datetime | None = None
                ) -> schemas.ExtractOut:
    """One extract as the API shows it (its next run as seen at `now`)."""
    # Read as plain rows in one statement: the ORM's loading of an extract and its four
    # relations cost more than the rest of a GET request.
    rows = session.connection().execute(_ONE_EXTRACT, {"extract_id": extract_id}).all()
    if not rows:
        raise errors.NotFound(f"extract {extract_id} does not exist")
    first = rows[0]._mapping
    template = SimpleNamespace(**{n: first[f"template_{n}"] for n in _TEMPLATE_COLUMNS})
    schedules = [SimpleNamespace(**{n: row._mapping[f"schedule_{n}"] for n in _SCHEDULE_COLUMNS})
                 for row in rows if row._mapping["schedule_id"] is not None]
    return extract_answer(rows[0], account_name=first["account_name"],
                          data_table_title=first["data_table_title"], template=template,
                          schedules=schedules, now=now or utcnow())


def list_extracts(*, session: Session, connection_id: int | None = None,
                  datasource_name: str | None = None, data_table_id: int | None = None,
                  status: str | None = None, search: str | None = None, page: int = 1,
                  page_size: int = 100, now: datetime | None = None
                  ) -> schemas.Page[schemas.ExtractOut]:
    """Extracts filtered by connection, datasource, data table, status and title; paged."""
    problems = []
    statuses = list(ExtractStatus)
    if status is not None and status not in statuses:
        problems.append(Problem("status", f"must be one of {', '.join(statuses)}, "
                                          f"not {status!r}"))
    if page < 1:
        problems.append(Problem("page", f"must be 1 or more, not {page}"))
    if not 1 <= page_size <= 1000:
        problems.append(Problem("page_size", f"must be 1-1000, not {page_size}"))
    if problems:
        raise errors.Invalid(problems)
    query = select(Extract)
    if connection_id is not None:
        query = query.where(Extract.connection_id == connection_id)
    if datasource_name is not None:
        query = query.join(Template, Template.id == Extract.template_id).where(
            Template.datasource == datasource_name)
    if data_table_id is not None:
        query = query.where(Extract.data_table_id == data_table_id)
    if status is not None:
        query = query.where(Extract.status == status)
    if search:
        # A title search is plain text: % and _ typed by a person match themselves.
        needle = search.strip().replace("\\", "\\\\").replace("%", "\\%").replace(
            "_", "\\_")
        query = query.where(Extract.title.ilike(f"%{needle}%", escape="\\"))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.options(selectinload(Extract.schedules), selectinload(Extract.account),
                      selectinload(Extract.template), selectinload(Extract.data_table))
        .order_by(Extract.id).limit(page_size).offset((page - 1) * page_size))
    now = now or utcnow()
    return schemas.Page[schemas.ExtractOut](
        items=[extract_out(e, now) for e in rows], total=total, page=page, page_size=page_size)


def extract_titles(*, session: Session, extract_ids: list[int] | None = None
                   ) -> dict[int, str]:
    """Extract id -> title, by title: of the given extracts (absent when deleted), or of
    every extract (for filters)."""
    query = select(Extract.id, Extract.title).order_by(Extract.title, Extract.id)
    if extract_ids is not None:
        query = query.where(Extract.id.in_(extract_ids))
    return dict(session.execute(query).all())


def _apply(session: Session, extract: Extract, config: _Config, *, title: str | None,
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
    _set_schedules(extract, config.schedules)
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
    config, problems = _check_config(
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
    config, problems = _check_config(
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


def delete_extract(*, session: Session, extract_id: int, delete_rows: bool = False) -> int:
    """Delete an extract with its schedules and runs; its rows stay unless asked. Returns the
    number of rows deleted from the data table."""
    extract = load(session, Extract, extract_id, "extract")
    running = session.scalar(select(Run.id).where(Run.extract_id == extract_id,
                                                  Run.status == RunStatus.RUNNING).limit(1))
    if running is not None:
        raise errors.Conflict(f"extract {extract_id} has run {running} in progress; cancel "
                              "it first, then delete")
    table = extract.data_table
    for run in session.scalars(select(Run).where(Run.extract_id == extract_id)):
        session.delete(run)
    session.delete(extract)
    session.flush()
    if not delete_rows:
        return 0
    database = database_of(session)
    # No run of the extract is left to write more of them: these are the rows to go.
    rows = database.warehouse.count_rows(table.table_name, extract_id)
    # After the commit: a load of another extract holds the warehouse's write lock until
    # its commit, which takes the metadata's; waiting for the warehouse while holding the
    # metadata's lock (as this session does until it commits) leaves each waiting for the
    # other until the busy timeout fails one.
    table_name, title = table.table_name, table.title  # read now: the ORM's expire at commit
    after_commit(session, lambda: _delete_rows(database, table_name, title, extract_id))
    return rows


def _delete_rows(database: Database, table_name: str, title: str, extract_id: int) -> None:
    """Delete a deleted extract's rows, waiting for the loads under way as long as a run
    may take; the error says how to delete them by hand if that fails."""
    deadline = time.monotonic() + database.settings.run_timeout
    while True:
        try:
            database.warehouse.delete_rows(table_name, extract_id)
            return
        except SQLAlchemyError as exc:
            if locked(exc) and time.monotonic() < deadline:
                continue  # each try waited the busy timeout for a load to commit
            raise errors.Conflict(
                f"extract {extract_id} was deleted, but not its rows in data table "
                f"{title!r}: {locked(exc) or disk_full(exc) or exc}; delete them in the "
                f"warehouse with: DELETE FROM \"{table_name}\" WHERE __extract_id = "
                f"{extract_id}") from None
