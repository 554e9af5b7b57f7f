"""Coverage and its gaps: which dates of an extract's data are loaded, being loaded or
missing; and queueing backfill runs for exactly the missing ones."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import errors, schemas
from core.clock import utcnow
from core.db import database_of
from core.models import Extract, Run
from core.services.common import load, run_out
from core.services.runs import extract_today, queue_runs, windows
from core.vocabulary import ACTIVE_RUN_STATUSES, RunStatus, RunTrigger


@dataclass(frozen=True)
class Coverage:
    """Which dates of an extract's data are loaded, being loaded, or missing, from its
    historical start (or first loaded date) to its today."""

    extract_id: int
    title: str
    start: date | None
    today: date
    loaded: frozenset[date]
    pending: frozenset[date]
    gaps: tuple[tuple[date, date], ...]

    @property
    def missing_days(self) -> int:
        return sum((end - start).days + 1 for start, end in self.gaps)


def _days_of(spans: Iterable[tuple[date | None, date | None]], low: date | None = None,
             high: date | None = None) -> set[date]:
    out: set[date] = set()
    for start, end in spans:
        if start is None or end is None:
            continue
        if low is not None:
            start = max(start, low)
        if high is not None:
            end = min(end, high)
        out.update(start + timedelta(days=n) for n in range((end - start).days + 1))
    return out


def _runs_of(extract: Extract) -> Any:
    return select(Run.date_from, Run.date_to).where(Run.extract_id == extract.id).distinct()


def _coverage(session: Session, extract: Extract, now: datetime) -> Coverage:
    today = extract_today(extract, now)
    spans = session.execute(_runs_of(extract).where(Run.status == RunStatus.SUCCEEDED)).all()
    loaded = _days_of(spans, high=today)
    pending = _days_of(session.execute(
        _runs_of(extract).where(Run.status.in_(ACTIVE_RUN_STATUSES))).all(), high=today)
    start = extract.sync_historical_data or (min(loaded) if loaded else None)
    depth = extract.template.depth_limit_days
    if start is not None and depth is not None:
        start = max(start, today - timedelta(days=depth))
    gaps: list[tuple[date, date]] = []
    covered = loaded | pending
    day = start
    while day is not None and day <= today:
        if day not in covered:
            if gaps and gaps[-1][1] == day - timedelta(days=1):
                gaps[-1] = (gaps[-1][0], day)
            else:
                gaps.append((day, day))
        day += timedelta(days=1)
    return Coverage(extract.id, extract.title, start, today, frozenset(loaded),
                    frozenset(pending), tuple(gaps))


def coverage(*, session: Session, extract_id: int, now: datetime | None = None
             ) -> Coverage | None:
    """The extract's coverage calendar; None when its template has no date field."""
    extract = load(session, Extract, extract_id, "extract")
    if extract.template.date_field is None:
        return None
    return _coverage(session, extract, now or utcnow())


def fill_gaps(*, session: Session, extract_id: int, now: datetime | None = None
              ) -> list[schemas.RunOut]:
    """Queue backfill runs for exactly the missing dates of the extract's coverage."""
    now = now or utcnow()
    extract = load(session, Extract, extract_id, "extract")
    if extract.template.date_field is None:
        raise errors.Invalid(f"template {extract.template.title!r} has no date field, so a run "
                             "always loads everything; there are no dates to fill")
    found = _coverage(session, extract, now)
    chunk = database_of(session).settings.backfill_chunk_days
    spans: list[tuple[date | None, date | None]] = [
        span for start, end in found.gaps for span in windows(start, end, chunk)]
    if not spans:
        return []
    # Newest first, as a historical backfill: recent dates matter most.
    runs = queue_runs(session, extract, RunTrigger.BACKFILL, list(reversed(spans)), now)
    session.flush()
    return [run_out(r) for r in runs]
