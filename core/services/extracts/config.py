"""An extract's configuration checked before anything is written: fields, filters, template
options, schedules and the backfill start; its accounts; the data table that receives it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import filters, schedules
from core.connectors.base import validate_options
from core.errors import Problem
from core.models import Account, DataTable, Extract, Schedule, Template
from core.services.common import field_specs, gone_fields
from core.warehouse import SYSTEM_NAMES, table_name_for


@dataclass
class Config:
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


def check_config(template: Template, *, fields: list[str], raw_filters: list[Any],
                  options: dict[str, Any], raw_schedules: list[Any] | None,
                  sync_historical_data: date | None, schedules_limit: int, now: datetime,
                  where: dict[str, str], title: str | None = None
                  ) -> tuple[Config, list[Problem]]:
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
    return Config(chosen, checked_filters, clean_options, checked_schedules,
                   sync_historical_data), problems


def data_table_for(session: Session, title: str, template: Template
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


def new_data_table(session: Session, title: str, template: Template, now: datetime
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


def set_schedules(extract: Extract, checked: list[dict[str, Any]]) -> None:
    """Make the extract's schedules `checked`, keeping the ids of those in the same position."""
    kept = extract.schedules[:len(checked)]
    del extract.schedules[len(checked):]
    for position, data in enumerate(checked):
        if position < len(kept):
            for key, value in data.items():
                setattr(kept[position], key, value)
        else:
            extract.schedules.append(Schedule(position=position, **data))


def check_accounts(session: Session, ids: list[int], template: Template,
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
