"""runs_stamp keys the History page's caches: it must change with every run queued, every
change of a run's status and every extract deleted with its runs, and only then."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from core import service
from core.models import Run
from tests.conftest import NOW, make_extract


def _run(session: Session, extract_id: int, status: str) -> Run:
    run = Run(extract_id=extract_id, status=status, trigger="manual", queued_at=NOW, log=[])
    session.add(run)
    session.flush()
    return run


def test_the_stamp_changes_with_every_run_and_status_and_only_then(session: Session) -> None:
    a = make_extract(session).id
    b = make_extract(session, accounts=[2], data_table_title="Other").id
    for _ in range(3):
        _run(session, a, "succeeded")
    first, second = _run(session, a, "queued"), _run(session, b, "queued")
    seen = [service.runs_stamp(session=session)]

    def step() -> None:
        session.flush()
        stamp = service.runs_stamp(session=session)
        assert stamp not in seen, f"{stamp} was seen before"
        seen.append(stamp)

    assert service.runs_stamp(session=session) == seen[0]  # nothing happened
    first.status = "running"
    step()
    # One run finishes as another starts: the counts per status alone would not change.
    first.status, second.status = "succeeded", "running"
    step()
    second.status = "queued"  # a failed attempt, queued for its retry
    second.queued_at = NOW + timedelta(minutes=5)
    step()
    second.status = "cancelled"
    step()
    _run(session, b, "queued")
    step()
    service.delete_extract(session=session, extract_id=a)  # its finished runs go with it
    step()
