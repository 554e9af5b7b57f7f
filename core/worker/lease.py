"""Leases: one process at a time does a once-per-deployment job (firing schedules)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError

from core.db import Database
from core.models import Lease
from core.worker import guarded

SCHEDULER_LEASE = "scheduler"
# Takeover within 30 s of a holder's death: the lease lapses after 25 s, and the others ask
# every 2 s.
TTL = timedelta(seconds=25)
RENEW_EVERY = timedelta(seconds=8)
POLL_EVERY = timedelta(seconds=2)  # how often a process without the lease asks for it


def acquire(db: Database, name: str, holder: str, now: datetime, ttl: timedelta = TTL
            ) -> bool:
    """Take or renew the lease `name` for `holder` until now + ttl; False if another holds it."""
    with db.session() as session:
        if session.get(Lease, name) is None:
            try:
                with session.begin_nested():
                    session.add(Lease(name=name, holder=holder, expires_at=now + ttl))
                return True
            except IntegrityError:
                return False
        return bool(guarded.rows_updated(session, update(Lease).where(
            Lease.name == name, or_(Lease.holder == holder, Lease.expires_at <= now))
            .values(holder=holder, expires_at=now + ttl)))


def release(db: Database, name: str, holder: str) -> None:
    """Give the lease up at once so another process can take over without waiting."""
    with db.session() as session:
        guarded.rows_updated(session, update(Lease).where(
            Lease.name == name, Lease.holder == holder)
            .values(expires_at=datetime(2000, 1, 1, tzinfo=UTC)))
