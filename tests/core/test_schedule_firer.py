"""Which worker fires the schedules, as the dashboard's sidebar asks it: the holder of the
scheduler lease, until the lease lapses."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from core import service
from core.models import SCHEDULER_LEASE, Lease
from tests.conftest import NOW


def test_the_schedule_firer_is_the_holder_of_a_live_lease(session: Session) -> None:
    assert service.schedule_firer(session=session, now=NOW) is None

    session.add(Lease(name=SCHEDULER_LEASE, holder="host-1:4242",
                      expires_at=NOW + timedelta(seconds=30)))
    session.flush()

    assert service.schedule_firer(session=session, now=NOW) == "host-1:4242"
    assert service.schedule_firer(session=session, now=NOW + timedelta(seconds=30)) is None
