"""Small reads the dashboard needs that the public contract does not return."""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.db import database_of
from core.models import DataTable, Extract, Lease, Run
from core.services.common import FINISHED_RUN_STATUSES, load
from core.services.runs import extract_today, lookback_of
from core.worker import SCHEDULER_LEASE


def run_window(*, session: Session, extract_id: int, now: datetime | None = None
               ) -> tuple[date, date] | None:
    """The window a run with no dates would load, and the extract's today; None for a
    template without a date field."""
    extract = load(session, Extract, extract_id, "extract")
    if extract.template.date_field is None:
        return None
    today = extract_today(extract, now or utcnow())
    return today - timedelta(days=lookback_of(extract) - 1), today


def last_run_rows(*, session: Session, extract_ids: list[int]) -> dict[int, int | None]:
    """Rows loaded by each extract's latest finished run (absent when it has none)."""
    latest_ids = (select(func.max(Run.id))
                  .where(Run.extract_id.in_(extract_ids),
                         Run.status.in_(FINISHED_RUN_STATUSES))
                  .group_by(Run.extract_id))
    rows = session.execute(select(Run.extract_id, Run.rows).where(Run.id.in_(latest_ids)))
    return {extract_id: count for extract_id, count in rows}


def extract_titles(*, session: Session, extract_ids: list[int]) -> dict[int, str]:
    """Extract id -> title for the given extracts (absent when deleted)."""
    rows = session.execute(select(Extract.id, Extract.title).where(Extract.id.in_(extract_ids)))
    return {extract_id: title for extract_id, title in rows}


def data_table_csv(*, session: Session, data_table_id: int, chunk_rows: int = 50_000) -> str:
    """A whole data table as CSV text (with a header), read in chunks."""
    table = load(session, DataTable, data_table_id, "data table")
    warehouse = database_of(session).warehouse
    out = io.StringIO()
    offset = 0
    while True:
        chunk = warehouse.read_rows(table.table_name, limit=chunk_rows, offset=offset)
        if chunk.empty:
            if offset == 0:
                out.write(",".join(warehouse.columns(table.table_name)) + "\n")
            return out.getvalue()
        chunk.to_csv(out, header=offset == 0, index=False)
        offset += len(chunk)


def schedule_firer(*, session: Session, now: datetime | None = None) -> str | None:
    """The worker that holds the lease to fire schedules now, or None if no worker does."""
    lease = session.get(Lease, SCHEDULER_LEASE)
    if lease is None or lease.expires_at <= (now or utcnow()):
        return None
    return lease.holder
