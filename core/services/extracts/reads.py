"""Extracts read: one as the API shows it, a filtered page of them, their titles."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session, selectinload

from core import errors, schemas
from core.clock import utcnow
from core.errors import Problem
from core.models import Account, DataTable, Extract, Schedule, Template
from core.services.common import extract_answer, extract_out
from core.vocabulary import ExtractStatus

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
