"""Exports: a data table or one run's rows, written in the background chunk by chunk to a file
under the var directory, with progress; no read held open on the warehouse between chunks."""

from __future__ import annotations

import csv
import io
import time
from datetime import date, timedelta

import pyarrow.parquet as pq
import pytest

from core import errors, runner, service
from core.db import Database
from core.services import exports
from core.warehouse import chunks
from tests.conftest import NOW, make_extract

pytestmark = pytest.mark.both_databases


def finished(db: Database, token: str, deadline: float = 60) -> service.Export:
    """The export once it is no longer running (a condition, with a deadline)."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        with db.session() as s:
            export = service.get_export(session=s, token=token)
        if export.state != "running":
            return export
        time.sleep(0.05)
    raise AssertionError(f"export {token} still running after {deadline} s")


def loaded(db: Database) -> tuple[int, list[int]]:
    """An extract with two runs (two windows) loaded; its data table id and the run ids."""
    with db.session() as s:
        extract = make_extract(s)
        windows = [(date(2026, 11, 1), date(2026, 11, 7)), (date(2026, 11, 8),
                                                            date(2026, 11, 10))]
        run_ids = [service.run_extract(session=s, extract_id=extract.id, date_from=a,
                                       date_to=b, now=NOW)[0].id for a, b in windows]
    for run_id in run_ids:
        runner.execute_run(db=db, run_id=run_id)
    return extract.data_table_id, run_ids


def test_a_data_table_exports_as_csv_in_chunks(db: Database,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(exports, "CHUNK_ROWS", 37)
    monkeypatch.setattr(chunks, "PG_BLOCKS_PER_CHUNK", 1)
    table_id, _ = loaded(db)
    with db.session() as s:
        table = service.get_data_table(session=s, data_table_id=table_id)
        started = service.start_export(session=s, data_table_id=table_id, format="csv")
    assert started.state == "running"

    done = finished(db, started.token)

    assert done.state == "done", done.error
    assert done.rows_done == done.rows_total == table.row_count > 37
    path, name = service.export_file(settings=db.settings, token=done.token)
    assert name == f"{table.table_name}.csv" and path.parent.parent == db.settings.var_dir / \
        "exports"
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    assert len(rows) == table.row_count
    assert set(rows[0]) == set(table.columns)
    with db.session() as s:
        assert [e.token for e in service.list_exports(session=s, data_table_id=table_id)] == [
            done.token]


def test_one_run_exports_as_parquet_with_only_its_rows(db: Database) -> None:
    table_id, run_ids = loaded(db)
    with db.session() as s:
        runs = {r.id: r for r in service.list_runs(session=s)}
        started = service.start_export(session=s, run_id=run_ids[1], format="parquet")

    done = finished(db, started.token)

    assert done.state == "done", done.error
    path, name = service.export_file(settings=db.settings, token=done.token)
    assert name.endswith(f"_2026-11-08_2026-11-10_run{run_ids[1]}.parquet")
    table = pq.read_table(path)
    assert table.num_rows == runs[run_ids[1]].rows == done.rows_total
    assert set(table.column("__run_id").to_pylist()) == {run_ids[1]}
    with db.session() as s:
        assert service.list_exports(session=s, data_table_id=table_id) == []  # a run's only
        assert len(service.list_exports(session=s, run_id=run_ids[1])) == 1


def test_no_read_stays_open_between_chunks(db: Database) -> None:
    table_id, _ = loaded(db)
    engine = db.warehouse.engine
    with db.session() as s:
        table = service.get_data_table(session=s, data_table_id=table_id)
    reader = chunks.read_chunks(engine, table.table_name, ["__run_id"], {}, chunk_rows=10)
    first = next(reader)
    assert len(first) > 0
    # Between two chunks the export holds no connection, so no snapshot or lock: a load
    # (a DELETE + INSERT in one transaction) goes through at once.
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    assert db.warehouse.delete_rows(table.table_name, 999) == 0
    assert sum(len(f) for f in reader) + len(first) == table.row_count


def test_bad_requests_say_what_is_wrong(db: Database) -> None:
    with db.session() as s:
        extract = make_extract(s)
        with pytest.raises(errors.Invalid, match="must be one of csv, parquet, not 'xlsx'"):
            service.start_export(session=s, data_table_id=extract.data_table_id,
                                 format="xlsx")
        with pytest.raises(errors.Conflict, match="has no rows yet"):
            service.start_export(session=s, data_table_id=extract.data_table_id)
        with pytest.raises(errors.NotFound):
            service.get_export(session=s, token="../../etc")
    with pytest.raises(errors.NotFound):
        service.export_file(settings=db.settings, token="0" * 32)


def test_finished_exports_are_deleted_a_day_later(db: Database) -> None:
    table_id, _ = loaded(db)
    with db.session() as s:
        old = service.start_export(session=s, data_table_id=table_id, now=NOW)
    finished(db, old.token)
    with db.session() as s:
        service.start_export(session=s, data_table_id=table_id,
                             now=NOW + timedelta(days=1, minutes=1))
        tokens = [e.token for e in service.list_exports(session=s, data_table_id=table_id)]
    assert old.token not in tokens and len(tokens) == 1
