"""Workers as the dashboard sees them: which one fires the schedules (it holds the lease)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from core.clock import utcnow
from core.models import SCHEDULER_LEASE, Lease


def schedule_firer(*, session: Session, now: datetime | None = None) -> str | None:
    """The worker that holds the lease to fire schedules now, or None if no worker does."""
    lease = session.get(Lease, SCHEDULER_LEASE)
    if lease is None or lease.expires_at <= (now or utcnow()):
        return None
    return lease.holder
