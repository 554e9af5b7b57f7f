"""The warehouse on each database it supports: SQLite, PostgreSQL (COPY) and DuckDB (Arrow).

The same guarantees everywhere: a window is replaced in one transaction, a re-run holds its
rows once, another extract's rows are never touched, a failure leaves the table as it was,
and every type reads back as it went in.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from sqlalchemy import text

from core import errors
from core.connectors.base import FieldSpec
from core.db import make_engine
from core.warehouse import Warehouse, Window

TABLE = "campaign_stats"
FIELDS = [FieldSpec("date", "date", "dimension"), FieldSpec("campaign_id", "string", "dimension"),
          FieldSpec("clicks", "integer", "metric"), FieldSpec("spend", "number", "metric")]


@pytest.fixture(params=["sqlite", "postgresql", "duckdb"])
def warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Warehouse]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    elif request.param == "duckdb":
        url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    else:
        url = request.getfixturevalue("pg_url")
    wh = Warehouse(make_engine(url))
    yield wh
    wh.engine.dispose()


def frame(days: list[str], campaign: str = "c1", clicks: int = 1) -> pd.DataFrame:
    return pd.DataFrame({"date": [date.fromisoformat(d) for d in days],
                         "campaign_id": campaign, "clicks": clicks, "spend": 1.5})


def system(extract_id: int, run_id: int) -> dict[str, Any]:
    return {"account_id": "sa-1", "account_name": "Account sa-1",
            "__insert_date": datetime(2026, 11, 28, 10, 0), "__extract_id": extract_id,
            "__run_id": run_id}


def load(warehouse: Warehouse, extract_id: int, run_id: int, chunks: Any,
         window: tuple[str, str] | None = ("2026-11-01", "2026-11-07"),
         fields: list[FieldSpec] = FIELDS) -> int:
    date_field = "date" if window else None
    warehouse.ensure_table(TABLE, fields, date_field, "Campaign stats")
    bounds = (date.fromisoformat(window[0]), date.fromisoformat(window[1])) if window else (
        None, None)
    return warehouse.replace_window(
        table_name=TABLE, window=Window(extract_id, date_field, *bounds), fields=fields,
        chunks=iter(chunks), system_values=system(extract_id, run_id))


def keys(warehouse: Warehouse) -> list[tuple[int, int, str, str]]:
    """(extract, run, date, campaign) of every row, sorted."""
    with warehouse.engine.connect() as conn:
        return sorted((int(e), int(r), str(d)[:10], c) for e, r, d, c in conn.execute(text(
            f"SELECT __extract_id, __run_id, date, campaign_id FROM {TABLE}")))


def everything(warehouse: Warehouse) -> list[tuple[Any, ...]]:
    with warehouse.engine.connect() as conn:
        return sorted(tuple(str(v) for v in row) for row in conn.execute(
            text(f"SELECT * FROM {TABLE}")))


def test_a_window_is_replaced_once_and_neighbours_are_kept(warehouse: Warehouse) -> None:
    days = ["2026-10-31", "2026-11-01", "2026-11-07", "2026-11-08"]
    load(warehouse, 1, 1, [frame(days)], window=("2026-10-31", "2026-11-08"))
    load(warehouse, 2, 2, [frame(days)], window=("2026-10-31", "2026-11-08"))
    chunks = [frame(["2026-11-01"], "c2"), frame(["2026-11-03"], "c2")]

    assert load(warehouse, 1, 3, chunks) == 2
    assert load(warehouse, 1, 4, chunks) == 2  # the same window again: no duplicates

    assert keys(warehouse) == [
        (1, 1, "2026-10-31", "c1"), (1, 1, "2026-11-08", "c1"),  # outside the window: kept
        (1, 4, "2026-11-01", "c2"), (1, 4, "2026-11-03", "c2"),  # inside: replaced, once
        *[(2, 2, d, "c1") for d in days],  # another extract's rows: untouched
    ]


def test_without_a_date_field_all_of_the_extracts_rows_are_replaced(warehouse: Warehouse
                                                                    ) -> None:
    lifetime = pd.DataFrame({"campaign_id": ["c1", "c2", "c3"], "clicks": 1, "spend": 2.0})
    load(warehouse, 1, 1, [lifetime], window=None, fields=FIELDS[1:])
    load(warehouse, 2, 2, [lifetime], window=None, fields=FIELDS[1:])

    load(warehouse, 1, 3, [lifetime.head(1)], window=None, fields=FIELDS[1:])

    assert warehouse.count_rows(TABLE, extract_id=1) == 1
    assert warehouse.count_rows(TABLE, extract_id=2) == 3


def _good_then(error: Exception) -> Iterator[pd.DataFrame]:
    yield frame(["2026-11-02"], "new")
    raise error


@pytest.mark.parametrize("error", [RuntimeError("source broke"), errors.Cancelled("stop")])
def test_an_error_after_the_first_chunk_leaves_the_table_exactly_as_it_was(
        warehouse: Warehouse, error: Exception) -> None:
    load(warehouse, 1, 1, [frame(["2026-11-01", "2026-11-02"])])
    load(warehouse, 2, 2, [frame(["2026-11-01"])])
    before = everything(warehouse)

    with pytest.raises(type(error)):
        load(warehouse, 1, 3, _good_then(error))

    assert everything(warehouse) == before
    assert load(warehouse, 1, 4, [frame(["2026-11-03"])]) == 1  # and the table still loads


def test_values_of_every_type_are_stored_and_read_back(warehouse: Warehouse) -> None:
    fields = [FieldSpec("date", "date", "dimension"), FieldSpec("name", "string", "dimension"),
              FieldSpec("clicks", "integer", "metric"), FieldSpec("spend", "number", "metric"),
              FieldSpec("is_active", "boolean", "dimension"),
              FieldSpec("seen_at", "datetime", "dimension")]
    chunk = pd.DataFrame({
        "date": ["2026-11-01", date(2026, 11, 2)],
        "name": pd.Series(['a "quoted", text\nline', ""], dtype=object),
        "clicks": [7, None],
        "spend": [2, 3.25],
        "is_active": [True, None],
        "seen_at": [pd.Timestamp("2026-11-01T08:30:00+01:00"), None],
    })
    odd = pd.DataFrame({"date": ["2026-11-03"], "name": pd.Series([123], dtype=object),
                        "clicks": ["12"], "spend": [None], "is_active": [False],
                        "seen_at": ["2026-11-03 01:02:03.000004"]})

    load(warehouse, 1, 1, [chunk, odd], fields=fields)

    rows = warehouse.read_rows(TABLE, order_by="date").sort_values("date")
    assert [str(d)[:10] for d in rows["date"]] == ["2026-11-01", "2026-11-02", "2026-11-03"]
    assert rows["name"].tolist() == ['a "quoted", text\nline', "", "123"]  # "" is not null
    assert [None if pd.isna(v) else int(v) for v in rows["clicks"]] == [7, None, 12]
    assert [None if pd.isna(v) else float(v) for v in rows["spend"]] == [2.0, 3.25, None]
    assert [None if pd.isna(v) else bool(v) for v in rows["is_active"]] == [True, None, False]
    assert [None if pd.isna(v) else str(pd.Timestamp(v)) for v in rows["seen_at"]] == [
        "2026-11-01 07:30:00", None, "2026-11-03 01:02:03.000004"]
    assert set(rows["account_id"]) == {"sa-1"}
    assert {str(pd.Timestamp(v)) for v in rows["__insert_date"]} == {"2026-11-28 10:00:00"}


def test_a_new_field_adds_a_column_after_loads(warehouse: Warehouse) -> None:
    load(warehouse, 1, 1, [frame(["2026-11-01"])])
    wider = [*FIELDS, FieldSpec("is_active", "boolean", "dimension")]

    load(warehouse, 1, 2, [frame(["2026-11-09"]).assign(is_active=True)],
         window=("2026-11-08", "2026-11-14"), fields=wider)

    assert warehouse.columns(TABLE)["is_active"] == "boolean"
    assert warehouse.count_rows(TABLE) == 2


# DuckDB is left out: it prunes the delete with its zone maps and has no index to use.
@pytest.mark.parametrize("warehouse", ["sqlite", "postgresql"], indirect=True)
def test_the_window_delete_uses_the_extract_and_date_index(warehouse: Warehouse) -> None:
    dialect = warehouse.engine.dialect.name
    load(warehouse, 1, 1, [frame(["2026-11-01"])])
    where = "__extract_id = 1 AND date BETWEEN '2026-11-01' AND '2026-11-07'"
    with warehouse.engine.connect() as conn:
        if dialect == "sqlite":
            plan = str(conn.exec_driver_sql(
                f"EXPLAIN QUERY PLAN DELETE FROM {TABLE} WHERE {where}").all())
        else:  # a tiny table: forbid the sequential scan so the planner shows its choice
            conn.exec_driver_sql("SET enable_seqscan = off")
            plan = str(conn.exec_driver_sql(f"EXPLAIN DELETE FROM {TABLE} WHERE {where}").all())

    assert f"ix_{TABLE}_extract_date" in plan, plan


def test_a_duckdb_file_another_process_holds_is_refused_with_a_clear_message(
        tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import duckdb, sys, time
        conn = duckdb.connect({str(path)!r})
        conn.execute("CREATE TABLE t (x INTEGER)")
        print("open", flush=True)
        sys.stdin.read()
    """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        warehouse = Warehouse(make_engine(f"duckdb:///{path}"))

        with pytest.raises(errors.Conflict) as raised:
            warehouse.columns(TABLE)

        assert str(path) in str(raised.value)
        assert "open in another process" in str(raised.value)
        assert f"PID {holder.pid}" in str(raised.value)
    finally:
        holder.communicate("", timeout=10)


def test_two_extracts_load_one_table_at_the_same_time(warehouse: Warehouse) -> None:
    import threading

    warehouse.ensure_table(TABLE, FIELDS, "date", "Campaign stats")
    days = [f"2026-11-0{d}" for d in range(1, 8)]
    started = threading.Barrier(2)
    failures: list[BaseException] = []

    def slow_chunks(campaign: str) -> Iterator[pd.DataFrame]:
        started.wait()  # both loads are inside their transactions by now
        for day in days:
            yield frame([day] * 500, campaign)

    def run(extract_id: int) -> None:
        try:
            load(warehouse, extract_id, extract_id, slow_chunks(f"c{extract_id}"))
        except BaseException as exc:  # reported by the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    assert failures == []
    assert warehouse.count_rows(TABLE, extract_id=1) == warehouse.count_rows(
        TABLE, extract_id=2) == 7 * 500


def test_columns_are_converted_whole_keeping_local_dates_far_dates_and_decimals() -> None:
    from decimal import Decimal

    from core.warehouse import arrow

    evening_in_new_york = pd.Series(pd.to_datetime(["2026-11-01 23:30"])
                                    .tz_localize("America/New_York"))
    assert arrow.from_series(evening_in_new_york, "date").to_pylist() == [date(2026, 11, 1)]
    assert arrow.from_series(evening_in_new_york, "datetime").to_pylist() == [
        datetime(2026, 11, 2, 4, 30)]  # datetimes are stored in UTC
    assert arrow.from_series(pd.Series(["2999-01-01", None, "not a date"]), "date"
                             ).to_pylist() == [date(2999, 1, 1), None, None]
    assert arrow.from_series(pd.Series([Decimal("1.5"), None], dtype=object), "number"
                             ).to_pylist() == [1.5, None]
    assert arrow.from_series(pd.Series([True, False]), "integer").to_pylist() == [1, 0]
    assert arrow.from_series(pd.Series(["7", "x", None]), "integer").to_pylist() == [
        7, None, None]


def test_arrow_columns_are_cast_to_their_fields_types_as_a_source_gives_them() -> None:
    from decimal import Decimal

    from core.warehouse import arrow

    def cast(values: pa.Array, type_: str) -> list[Any]:
        return arrow.cast(values, type_).to_pylist()

    evening_in_new_york = pa.array([datetime(2026, 11, 2, 4, 30)],
                                   pa.timestamp("us", tz="UTC")).cast(
        pa.timestamp("us", tz="America/New_York"))
    assert cast(evening_in_new_york, "date") == [date(2026, 11, 1)]  # where it happened
    assert cast(evening_in_new_york, "datetime") == [datetime(2026, 11, 2, 4, 30)]  # UTC
    assert arrow.cast(evening_in_new_york, "datetime").type == pa.timestamp("us")
    assert cast(pa.array(["2999-01-01", None, "not a date"]), "date") == [
        date(2999, 1, 1), None, None]
    assert cast(pa.array(["2026-11-01T08:30:00+01:00", None]), "datetime") == [
        datetime(2026, 11, 1, 7, 30), None]
    assert cast(pa.array([Decimal("1.50"), None], pa.decimal128(12, 2)), "number") == [
        1.5, None]
    assert cast(pa.array([True, False]), "integer") == [1, 0]
    assert cast(pa.array(["7", "x", None]), "integer") == [7, None, None]
    assert cast(pa.array([7, None]), "string") == ["7", None]
    assert cast(pa.array(["yes", "False", "maybe", None]), "boolean") == [
        True, False, None, None]
    assert cast(pa.array(["a", "b", "a"]).dictionary_encode(), "string") == ["a", "b", "a"]
    assert cast(pa.nulls(2), "date") == [None, None]


def test_an_extract_runs_end_to_end_into_a_duckdb_warehouse(tmp_path: Path,
                                                             migrated_template: Path) -> None:
    import shutil

    from core import runner, service
    from core.db import open_database
    from tests.conftest import NOW, make_extract, make_settings

    settings = make_settings(tmp_path, warehouse_url=f"duckdb:///{tmp_path / 'w.duckdb'}")
    settings.var_dir.mkdir(parents=True)
    shutil.copy(migrated_template, settings.var_dir / "extracts.db")
    db = open_database(settings, seed=True)
    try:
        with db.session() as s:
            extract = make_extract(s)
        runs = []
        for _ in range(2):  # the same window twice: its rows once
            with db.session() as s:
                [run] = service.run_extract(session=s, extract_id=extract.id,
                                            date_from=date(2026, 11, 1),
                                            date_to=date(2026, 11, 7), now=NOW)
            runs.append(runner.execute_run(db=db, run_id=run.id))
        with db.session() as s:
            preview = service.preview_rows(session=s, extract_id=extract.id, limit=1000)
    finally:
        db.dispose()

    assert [r.status for r in runs] == ["succeeded", "succeeded"], runs[-1].error
    assert len(preview) == 7 * 20 and set(preview["__run_id"]) == {runs[-1].id}


def test_pages_of_rows_never_repeat_or_skip_one(warehouse: Warehouse) -> None:
    # 60 rows over 3 days: each date ties 20 rows, so ordering by the date alone leaves
    # each page's rows to the database's whim (PostgreSQL and DuckDB do reorder them).
    load(warehouse, 1, 1, [pd.concat(
        [frame(["2026-11-01", "2026-11-02", "2026-11-03"], campaign=f"c{n:02}", clicks=n)
         for n in range(20)])])

    pages = [warehouse.read_rows(TABLE, order_by="date", limit=7, offset=offset)
             for offset in range(0, 63, 7)]
    seen = [(str(r["date"])[:10], r["campaign_id"]) for page in pages
            for r in page.to_dict("records")]

    assert len(seen) == 60 and len(set(seen)) == 60
    assert [d for d, _ in seen] == sorted((d for d, _ in seen), reverse=True)


def test_every_row_streams_from_one_query_in_chunks(warehouse: Warehouse) -> None:
    load(warehouse, 1, 1, [frame(["2026-11-01", "2026-11-02", "2026-11-03"], campaign=c)
                           for c in ("a", "b", "c", "d", "e")])

    chunks = list(warehouse.iter_rows(TABLE, chunk_rows=4))

    assert [len(c) for c in chunks] == [4, 4, 4, 3]
    assert sorted((str(d)[:10], c) for chunk in chunks
                  for d, c in zip(chunk["date"], chunk["campaign_id"], strict=True)) == sorted(
        (d, c) for d in ("2026-11-01", "2026-11-02", "2026-11-03") for c in "abcde")
    assert list(warehouse.iter_rows("no_such_table")) == []


def test_a_commit_guard_that_refuses_leaves_the_table_as_it_was(warehouse: Warehouse) -> None:
    load(warehouse, 1, 10, [frame(["2026-11-01", "2026-11-02"])])
    calls: list[int] = []

    def refuse(rows: int, _commit: Callable[[], None]) -> None:
        calls.append(rows)
        raise RuntimeError("the run was taken over")

    def accept(rows: int, commit: Callable[[], None]) -> None:
        calls.append(rows)
        commit()

    warehouse.ensure_table(TABLE, FIELDS, "date", "Campaign stats")
    window = Window(1, "date", date(2026, 11, 1), date(2026, 11, 7))
    with pytest.raises(RuntimeError, match="taken over"):
        warehouse.replace_window(table_name=TABLE, window=window, fields=FIELDS,
                                 chunks=iter([frame(["2026-11-01", "2026-11-03"], "c2")]),
                                 system_values=system(1, 11), commit_guard=refuse)
    assert keys(warehouse) == [(1, 10, "2026-11-01", "c1"), (1, 10, "2026-11-02", "c1")]

    warehouse.replace_window(table_name=TABLE, window=window, fields=FIELDS,
                             chunks=iter([frame(["2026-11-03"], "c3")]),
                             system_values=system(1, 12), commit_guard=accept)
    assert keys(warehouse) == [(1, 12, "2026-11-03", "c3")]
    assert calls == [2, 1]
