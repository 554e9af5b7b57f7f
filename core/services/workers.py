"""Workers as the dashboard sees them: which one fires the schedules (it holds the lease),
and where runs execute (the executor, and with Celery how many of its workers are live)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from core.clock import utcnow
from core.db import database_of
from core.models import SCHEDULER_LEASE, Lease
from core.worker import celery_executor


@dataclass(frozen=True)
class ExecutorState:
    """Where runs execute: `local` or `celery`; with Celery, its live workers and slots."""

    executor: str
    workers: int | None = None
    slots: int | None = None


def executor_state(*, session: Session, now: datetime | None = None) -> ExecutorState:
    """The executor, and with Celery how many of its workers are live now (one query)."""
    executor = database_of(session).settings.executor
    if executor != "celery":
        return ExecutorState(executor)
    live = celery_executor.live_workers(session, now or utcnow())
    return ExecutorState(executor, live.workers, live.slots)


def schedule_firer(*, session: Session, now: datetime | None = None) -> str | None:
    """The worker that holds the lease to fire schedules now, or None if no worker does."""
    lease = session.get(Lease, SCHEDULER_LEASE)
    if lease is None or lease.expires_at <= (now or utcnow()):
        return None
    return lease.holder
