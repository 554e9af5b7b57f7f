"""A database holding extracts in every state a person can meet, for tests that open every
page over it: never run, only failed, succeeded with rows, paused, syncing (a backfill under
way), rows deleted, an extract deleted while its rows stay."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from core import runner, service
from core.db import Database
from core.models import Extract, Run
from tests.conftest import make_extract


@dataclass(frozen=True)
class States:
    never_run: int
    only_failed: int
    succeeded: int
    paused: int
    syncing: int
    rows_deleted: int
    deleted: int  # an extract that no longer exists (its rows stay in "Kept rows")

    def existing(self) -> list[int]:
        return [self.never_run, self.only_failed, self.succeeded, self.paused, self.syncing,
                self.rows_deleted]


def _failed_run(s: object, extract_id: int, now: datetime, days_ago: int) -> None:
    queued = now - timedelta(days=days_ago, minutes=10)
    s.add(Run(extract_id=extract_id, status="failed", trigger="schedule",  # type: ignore[attr-defined]
              queued_at=queued, started_at=queued, finished_at=queued + timedelta(seconds=3),
              duration_seconds=3, attempts=3, max_attempts=3, date_from=queued.date(),
              date_to=queued.date(), error="401 Unauthorized: token expired",
              log=[{"at": queued.isoformat(), "level": "error",
                    "message": "401 Unauthorized: token expired"}]))


def seed_every_state(db: Database) -> States:
    """Extracts in every state, with runs and rows as the worker would leave them."""
    now = datetime.now(UTC).replace(microsecond=0)
    with db.session() as s:
        never_run = make_extract(s, data_table_title="Never run").id
        only_failed = make_extract(s, data_table_title="Failing").id
        succeeded = make_extract(s, accounts=[2], data_table_title="Campaign stats").id
        paused = make_extract(s, data_table_title="Paused stats").id
        syncing = make_extract(s, accounts=[2], data_table_title="Backfilling").id
        rows_deleted = make_extract(s, data_table_title="Emptied").id
        deleted = make_extract(s, data_table_title="Kept rows").id
        for days_ago in (0, 1, 2):
            _failed_run(s, only_failed, now, days_ago)
        s.flush()
        s.get(Extract, only_failed).status = "error"  # type: ignore[union-attr]
        s.get(Extract, only_failed).error_text = "401 Unauthorized: token expired"  # type: ignore[union-attr]
    for extract_id in (succeeded, rows_deleted, deleted, paused):
        with db.session() as s:
            [run] = service.run_extract(session=s, extract_id=extract_id)
        runner.execute_run(db=db, run_id=run.id)
    with db.session() as s:
        service.pause_extract(session=s, extract_id=paused)
        service.patch_extract(session=s, extract_id=syncing, data={
            "sync_historical_data": str(now.date() - timedelta(days=400))})
        extract = s.get(Extract, rows_deleted)
        assert extract is not None
        db.warehouse.delete_rows(extract.data_table.table_name, rows_deleted)
        service.delete_extract(session=s, extract_id=deleted)
    return States(never_run, only_failed, succeeded, paused, syncing, rows_deleted, deleted)
