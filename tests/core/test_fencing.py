"""The fence of a run's load: it commits only while the run is still this claim's and not
cancelled; a worker that lost its run writes nothing. Inline here; real worker processes
(SIGTERM, SIGSTOP) in test_fencing_processes.py."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select, text, update

from core import errors, runner, service
from core.db import Database, open_database
from core.models import Run
from core.warehouse import loading
from tests.conftest import NOW, make_extract, make_settings

pytestmark = pytest.mark.both_databases

WEEK = (date(2026, 11, 1), date(2026, 11, 7))  # old enough that Sample Ads does not drift


def queue_week(db: Database, extract_id: int) -> int:
    with db.session() as s:
        [run] = service.run_extract(session=s, extract_id=extract_id, date_from=WEEK[0],
                                    date_to=WEEK[1], now=NOW)
    return run.id


def window_rows(db: Database, extract_id: int) -> tuple[int, int, set[int]]:
    """Every row of the extract's window: the count, the distinct keys, the runs that wrote."""
    with db.session() as s:
        extract = service.get_extract(session=s, extract_id=extract_id)
        table = service.get_data_table(session=s, data_table_id=extract.data_table_id)
    with db.warehouse.engine.connect() as conn:
        rows = conn.execute(text(
            f'SELECT date, campaign_id, __run_id FROM "{table.table_name}" '
            "WHERE __extract_id = :e"), {"e": extract_id}).all()
    return len(rows), len({(str(d)[:10], c) for d, c, _ in rows}), {int(r) for *_, r in rows}


def before_the_commit(monkeypatch: pytest.MonkeyPatch, action: Callable[[], None]) -> None:
    """Do `action` once the load's DELETE and INSERT are done, just before it commits."""
    real = loading._commit

    def late(guard: loading.CommitGuard | None, rows: int,
             commit: Callable[[], None]) -> None:
        action()
        real(guard, rows, commit)

    monkeypatch.setattr(loading, "_commit", late)


def run_of(db: Database, run_id: int) -> Run:
    with db.session() as s:
        run = s.get(Run, run_id)
        assert run is not None
        s.expunge(run)
        return run


def test_a_load_whose_claim_was_taken_meanwhile_is_rolled_back(
        db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    with db.session() as s:
        extract = make_extract(s)
    first = runner.execute_run(db=db, run_id=queue_week(db, extract.id))
    assert first.status == "succeeded"
    before = window_rows(db, extract.id)
    run_id = queue_week(db, extract.id)

    def taken_over() -> None:  # as a release or a recovery would, then another claim
        with db.session() as s:
            s.execute(update(Run).where(Run.id == run_id).values(claim_token="someone else"))

    before_the_commit(monkeypatch, taken_over)
    with pytest.raises(errors.ClaimLost, match=f"lost run {run_id}"):
        runner.execute_run(db=db, run_id=run_id, worker_id="w1")

    assert window_rows(db, extract.id) == before  # the old rows, each once; none of run 2
    assert before[2] == {first.id} and before[0] == before[1] > 0
    run = run_of(db, run_id)
    assert run.status == "running" and run.rows is None  # whoever holds it now records it
    assert f"worker w1 lost run {run_id}" in run.log[-1]["message"]


def test_a_cancel_accepted_before_the_commit_keeps_the_old_rows(
        db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    with db.session() as s:
        extract = make_extract(s)
    first = runner.execute_run(db=db, run_id=queue_week(db, extract.id))
    before = window_rows(db, extract.id)
    run_id = queue_week(db, extract.id)
    answers = []

    def cancel() -> None:  # arrives while the new rows wait for their commit
        with db.session() as s:
            answers.append(service.cancel_run(session=s, run_id=run_id, now=NOW))

    before_the_commit(monkeypatch, cancel)
    out = runner.execute_run(db=db, run_id=run_id, worker_id="w1")

    assert answers[0].status == "running"  # accepted: "stopping before the next chunk"
    assert out.status == "cancelled"
    assert out.error == "cancelled: cancelled by request; the window's data was left as it was"
    assert window_rows(db, extract.id) == before and before[2] == {first.id}
    with db.session() as s:
        assert s.scalar(select(Run.claim_token).where(Run.id == run_id)) is None


def test_a_cancel_after_the_commit_answers_that_the_run_already_finished(
        db: Database) -> None:
    with db.session() as s:
        extract = make_extract(s)
    run_id = queue_week(db, extract.id)
    assert runner.execute_run(db=db, run_id=run_id).status == "succeeded"

    with db.session() as s, pytest.raises(errors.Conflict) as info:
        service.cancel_run(session=s, run_id=run_id, now=NOW)
    assert str(info.value) == (f"run {run_id} is already succeeded; only queued or running "
                               "runs can be cancelled")
    assert run_of(db, run_id).claim_token is None


def test_every_claim_gets_a_fresh_token_and_a_finished_run_none(db: Database) -> None:
    from core.worker import run_queue

    with db.session() as s:
        extract = make_extract(s)
    run_id = queue_week(db, extract.id)
    assert run_queue.claim_next(db, "w1", NOW) == run_id
    first = run_of(db, run_id).claim_token
    assert run_queue.release_runs(db, "w1", [run_id], NOW) == [run_id]
    assert run_of(db, run_id).claim_token is None
    assert run_queue.claim_next(db, "w2", NOW) == run_id
    second = run_of(db, run_id).claim_token
    assert first and second and first != second
    assert runner.execute_run(db=db, run_id=run_id, worker_id="w2").status == "succeeded"
    assert run_of(db, run_id).claim_token is None


@pytest.mark.parametrize("scheme", ["sqlite", "duckdb"])
def test_one_file_for_metadata_and_warehouse_is_refused_with_a_clear_message(
        tmp_path: Path, scheme: str) -> None:
    url = f"{scheme}:///{tmp_path / 'var' / '..' / 'var' / 'extracts.db'}"
    settings = make_settings(tmp_path, warehouse_url=url)
    with pytest.raises(errors.Invalid) as info:
        open_database(settings)
    assert str(info.value) == (
        f"EXTRACTS_WAREHOUSE_URL={url!r} names the metadata database's file; use a "
        "file of its own, e.g. the default sqlite:///{VAR_DIR}/warehouse.db")
