"""Firing schedules into runs: each fire time queues one run, however often it is served.

Each fire time served is recorded in `schedule_fires`, in the transaction that queues its
run, so a fire time queues one run even if two processes serve it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from core import schedules
from core.db import Database
from core.models import SCHEDULER_LEASE, Extract, Run, Schedule, ScheduleFire, Template
from core.services.common import schedule_dict
from core.vocabulary import PRIORITY, ExtractStatus, RunStatus, RunTrigger
from core.worker import guarded, lease

log = logging.getLogger(__name__)

MISFIRE_GRACE = timedelta(hours=1)  # a fire missed by less than this still happens, once


def fire_schedule(db: Database, schedule_id: int, now: datetime, *,
                  grace: timedelta = MISFIRE_GRACE) -> int | None:
    """Serve a schedule's latest fire time that is due: queue its run (once) and return the
    run id; None when nothing is due, the time was already served, or the extract is paused.

    Due means a fire time in (the last one served, now], no older than `grace` and after
    the extract was last edited. The window is [today - lookback + 1, today], today being
    the fire time's date in the schedule's timezone.
    """
    return fire_schedules(db, [schedule_id], now, grace=grace)[schedule_id]


def fire_schedules(db: Database, schedule_ids: list[int], now: datetime, *,
                   grace: timedelta = MISFIRE_GRACE,
                   lease_holder: str | None = None) -> dict[int, int | None]:
    """`fire_schedule` for many schedules in one transaction (hundreds fire at 00:00).

    With `lease_holder`, nothing fires unless that holder's scheduler lease is current in
    this very transaction: a worker whose lease ran out never fires alongside the next one.
    """
    fired: dict[int, int | None] = dict.fromkeys(schedule_ids)
    with db.session() as session:
        if lease_holder is not None and not lease.is_current(
                session, SCHEDULER_LEASE, lease_holder, now):
            log.warning("schedules %s not fired: worker %s no longer holds the scheduler "
                        "lease", schedule_ids, lease_holder)
            return fired
        rows = session.execute(
            select(Schedule, Extract, Template, ScheduleFire.fired_at)
            .join(Extract, Extract.id == Schedule.extract_id)
            .join(Template, Template.id == Extract.template_id)
            .outerjoin(ScheduleFire, ScheduleFire.schedule_id == Schedule.id)
            .where(Schedule.id.in_(schedule_ids))).all()
        due: list[tuple[Schedule, Extract, tuple[Any, Any], datetime]] = []
        for schedule, extract, template, served in rows:
            floor = max(now - grace, extract.updated_at, served or now - grace)
            fire = schedules.last_fire(schedules.trigger_for(schedule_dict(schedule)),
                                       floor, now)
            if fire is None or not _serve(session, schedule.id, fire, served):
                continue  # nothing due, or another process served this fire time
            if extract.is_paused:
                continue
            span: tuple[Any, Any] = (None, None)
            if template.date_field is not None:
                today = fire.astimezone(ZoneInfo(schedule.timezone)).date()
                days = schedules.lookback_days(
                    schedule.lookback, default_lookback_days=template.default_lookback_days,
                    depth_limit_days=template.depth_limit_days)
                span = (today - timedelta(days=days - 1), today)
            due.append((schedule, extract, span, fire))
        # A run of the same window that still waits will do for this fire too.
        waiting = {tuple(row) for row in session.execute(
            select(Run.extract_id, Run.date_from, Run.date_to).where(
                Run.extract_id.in_({extract.id for _, extract, _, _ in due}),
                Run.status == RunStatus.QUEUED, Run.trigger == RunTrigger.SCHEDULE))}
        queued: list[tuple[Schedule, Run, datetime]] = []
        for schedule, extract, span, fire in due:
            if (extract.id, *span) in waiting:
                continue
            waiting.add((extract.id, *span))
            run = Run(extract_id=extract.id, status=RunStatus.QUEUED,
                      trigger=RunTrigger.SCHEDULE, priority=PRIORITY[RunTrigger.SCHEDULE],
                      date_from=span[0], date_to=span[1], queued_at=now,
                      max_attempts=db.settings.retry_attempts, log=[])
            session.add(run)
            extract.status = ExtractStatus.SYNCING  # what refresh_status says with a run queued
            queued.append((schedule, run, fire))
        session.flush()
        for schedule, run, fire in queued:
            fired[schedule.id] = run.id
            log.info("schedule %s of extract %s fired for %s: run %s (%s to %s)", schedule.id,
                     run.extract_id, fire.isoformat(), run.id, run.date_from, run.date_to)
    return fired


def _serve(session: Session, schedule_id: int, fire: datetime, served: datetime | None
           ) -> bool:
    """Record that `fire` of a schedule is served; False if it already was (by anyone)."""
    if served is not None:
        return bool(guarded.rows_updated(session, update(ScheduleFire).where(
            ScheduleFire.schedule_id == schedule_id, ScheduleFire.fired_at < fire)
            .values(fired_at=fire)))
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    result: Any = session.execute(insert(ScheduleFire).values(
        schedule_id=schedule_id, fired_at=fire).on_conflict_do_nothing())
    return bool(result.rowcount)
