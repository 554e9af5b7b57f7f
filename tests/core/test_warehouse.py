"""The warehouse on its own: columns from field types, replacing a window all or nothing."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from core import errors
from core.connectors.base import FieldSpec
from core.db import make_engine
from core.warehouse import Warehouse, Window, table_name_for
from tests import needs

TABLE = "campaign_stats"
FIELDS = [FieldSpec("date", "date", "dimension"), FieldSpec("campaign_id", "string", "dimension"),
          FieldSpec("clicks", "integer", "metric"), FieldSpec("spend", "number", "metric")]


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[Warehouse]:
    wh = Warehouse(make_engine(f"sqlite:///{tmp_path / 'warehouse.db'}"))
    yield wh
    wh.engine.dispose()


def frame(days: list[str], campaign: str = "c1", clicks: int = 1) -> pd.DataFrame:
    return pd.DataFrame({"date": [date.fromisoformat(d) for d in days],
                         "campaign_id": campaign, "clicks": clicks, "spend": 1.5})


def system(extract_id: int, run_id: int, account: str = "sa-1") -> dict[str, Any]:
    return {"account_id": account, "account_name": f"Account {account}",
            "__insert_date": datetime(2026, 11, 28, 10, 0), "__extract_id": extract_id,
            "__run_id": run_id}


def load(warehouse: Warehouse, extract_id: int, run_id: int, chunks: Iterable[pd.DataFrame],
         window: tuple[str, str] | None = ("2026-11-01", "2026-11-07"),
         fields: list[FieldSpec] = FIELDS, **kwargs: Any) -> int:
    date_field = "date" if window else None
    warehouse.ensure_table(TABLE, fields, date_field, "Campaign stats")
    bounds = (date.fromisoformat(window[0]), date.fromisoformat(window[1])) if window else (
        None, None)
    return warehouse.replace_window(
        table_name=TABLE, window=Window(extract_id, date_field, *bounds), fields=fields,
        chunks=iter(chunks), system_values=system(extract_id, run_id), **kwargs)


def everything(warehouse: Warehouse) -> list[tuple[Any, ...]]:
    with warehouse.engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(f"SELECT * FROM {TABLE} ORDER BY rowid")]


def keys(warehouse: Warehouse) -> list[tuple[int, int, str, str]]:
    """(extract, run, date, campaign) of every row, sorted."""
    with warehouse.engine.connect() as conn:
        return sorted(tuple(r) for r in conn.exec_driver_sql(
            f"SELECT __extract_id, __run_id, date, campaign_id FROM {TABLE}"))


# -- columns ---------------------------------------------------------------------------------


def test_a_new_table_has_the_system_columns_and_one_column_per_field(warehouse: Warehouse
                                                                     ) -> None:
    warehouse.ensure_table(TABLE, FIELDS, "date", "Campaign stats")

    assert warehouse.columns(TABLE) == {
        "account_id": "string", "account_name": "string", "__insert_date": "datetime",
        "__extract_id": "integer", "__run_id": "integer",
        "date": "date", "campaign_id": "string", "clicks": "integer", "spend": "number"}


def test_a_newly_selected_field_adds_a_column_and_old_rows_hold_null(warehouse: Warehouse
                                                                     ) -> None:
    load(warehouse, 1, 1, [frame(["2026-11-01"])])
    wider = [*FIELDS, FieldSpec("is_active", "boolean", "dimension")]

    load(warehouse, 1, 2, [frame(["2026-11-09"]).assign(is_active=True)],
         window=("2026-11-08", "2026-11-14"), fields=wider)

    assert warehouse.columns(TABLE)["is_active"] == "boolean"
    rows = warehouse.read_rows(TABLE, order_by="date")
    assert rows["is_active"].tolist() == [True, None]


def test_a_field_whose_type_no_longer_fits_is_refused_naming_every_clash(warehouse: Warehouse
                                                                         ) -> None:
    load(warehouse, 1, 1, [frame(["2026-11-01"])])
    before = everything(warehouse)
    changed = [FieldSpec("date", "date", "dimension"),
               FieldSpec("campaign_id", "integer", "dimension"),
               FieldSpec("clicks", "string", "metric"),
               FieldSpec("spend", "number", "metric")]

    with pytest.raises(errors.Conflict) as raised:
        warehouse.ensure_table(TABLE, changed, "date", "Campaign stats")

    assert str(raised.value) == (
        "data table 'Campaign stats': column campaign_id holds string values but the field is "
        "integer; column clicks holds integer values but the field is string; load this "
        "extract into a new data table instead")
    assert everything(warehouse) == before


# -- replacing a window ----------------------------------------------------------------------


def test_replace_window_swaps_only_the_extracts_rows_inside_the_window(warehouse: Warehouse
                                                                       ) -> None:
    days = ["2026-10-31", "2026-11-01", "2026-11-07", "2026-11-08"]
    load(warehouse, 1, 1, [frame(days)], window=("2026-10-31", "2026-11-08"))
    load(warehouse, 2, 2, [frame(days)], window=("2026-10-31", "2026-11-08"))

    loaded = load(warehouse, 1, 3, [frame(["2026-11-01"], "c2"), frame(["2026-11-03"], "c2")])

    assert loaded == 2
    assert keys(warehouse) == [
        (1, 1, "2026-10-31", "c1"), (1, 1, "2026-11-08", "c1"),  # outside the window: kept
        (1, 3, "2026-11-01", "c2"), (1, 3, "2026-11-03", "c2"),  # inside: replaced
        *[(2, 2, d, "c1") for d in days],  # another extract's rows: untouched
    ]


def test_the_same_window_loaded_twice_holds_its_rows_once(warehouse: Warehouse) -> None:
    chunk = frame(["2026-11-01", "2026-11-02"])
    load(warehouse, 1, 1, [chunk])
    load(warehouse, 1, 2, [chunk])

    assert keys(warehouse) == [(1, 2, "2026-11-01", "c1"), (1, 2, "2026-11-02", "c1")]


def test_a_window_the_source_returns_empty_is_emptied(warehouse: Warehouse) -> None:
    load(warehouse, 1, 1, [frame(["2026-11-01"])])

    assert load(warehouse, 1, 2, []) == 0
    assert warehouse.count_rows(TABLE) == 0


# Replacing all rows without a date field, and an error after the first chunk, are tested on
# SQLite, PostgreSQL and DuckDB alike in test_warehouse_backends.py.


def test_before_chunk_raising_after_the_last_chunk_still_leaves_the_table(warehouse: Warehouse
                                                                          ) -> None:
    load(warehouse, 1, 1, [frame(["2026-11-01"])])
    before = everything(warehouse)
    calls: list[int] = []

    def cancel_on_second_call() -> None:
        calls.append(1)
        if len(calls) == 2:  # the check after the last chunk, before anything is committed
            raise errors.Cancelled("cancelled by request")

    with pytest.raises(errors.Cancelled):
        load(warehouse, 1, 2, [frame(["2026-11-03"])], before_chunk=cancel_on_second_call)

    assert everything(warehouse) == before


def test_values_of_every_type_are_stored_and_read_back(warehouse: Warehouse) -> None:
    fields = [FieldSpec("date", "date", "dimension"), FieldSpec("name", "string", "dimension"),
              FieldSpec("clicks", "integer", "metric"), FieldSpec("spend", "number", "metric"),
              FieldSpec("is_active", "boolean", "dimension"),
              FieldSpec("seen_at", "datetime", "dimension")]
    chunk = pd.DataFrame({
        "date": ["2026-11-01", date(2026, 11, 2)],
        "name": pd.Series([123, None], dtype=object),
        "clicks": [7, None],
        "spend": [2, 3.25],
        "is_active": [True, None],
        "seen_at": [pd.Timestamp("2026-11-01T08:30:00+01:00"), None],
    })

    load(warehouse, 1, 1, [chunk], fields=fields)

    with warehouse.engine.connect() as conn:
        stored = [tuple(r) for r in conn.exec_driver_sql(
            f"SELECT date, name, clicks, spend, is_active, seen_at, account_id, __insert_date "
            f"FROM {TABLE} ORDER BY date")]
    assert stored == [
        ("2026-11-01", "123", 7, 2.0, 1, "2026-11-01 07:30:00.000000", "sa-1",
         "2026-11-28 10:00:00.000000"),
        ("2026-11-02", None, None, 3.25, None, None, "sa-1", "2026-11-28 10:00:00.000000"),
    ]
    rows = warehouse.read_rows(TABLE, order_by="date")
    assert rows["date"].tolist() == [date(2026, 11, 2), date(2026, 11, 1)]
    assert rows["is_active"].tolist() == [None, True]


def test_a_load_still_fetching_holds_no_lock_and_leaves_no_stage_file(
        warehouse: Warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlite3
    import tempfile

    stages = tmp_path / "stages"
    stages.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(stages))
    load(warehouse, 2, 1, [frame(["2026-11-02"], campaign="other")])
    seen: list[list[str]] = []

    def chunks() -> Iterator[pd.DataFrame]:
        yield frame(["2026-11-01"])
        # Mid-load: the rows so far sit in a stage file of the load's own, and another
        # writer gets the warehouse's write lock at once (no waiting: timeout 0).
        seen.append(sorted(p.name for p in stages.rglob("*") if p.is_file()))
        other = sqlite3.connect(warehouse.engine.url.database or "", timeout=0,
                                isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        other.execute(f"UPDATE {TABLE} SET clicks = 9 WHERE __extract_id = 2")
        other.execute("COMMIT")
        other.close()
        yield frame(["2026-11-03"])

    assert load(warehouse, 1, 3, chunks()) == 2

    assert seen == [["stage.db"]]
    assert list(stages.rglob("*")) == []  # the stage is gone after the swap
    assert keys(warehouse) == [(1, 3, "2026-11-01", "c1"), (1, 3, "2026-11-03", "c1"),
                               (2, 1, "2026-11-02", "other")]
    with warehouse.engine.connect() as conn:
        assert conn.exec_driver_sql(
            f"SELECT clicks FROM {TABLE} WHERE __extract_id = 2").scalar_one() == 9


# -- reading ---------------------------------------------------------------------------------


def test_counts_earliest_date_and_delete_rows(warehouse: Warehouse) -> None:
    assert warehouse.count_rows(TABLE) == 0
    assert warehouse.earliest_date(TABLE, 1, "date") is None
    load(warehouse, 1, 1, [frame(["2026-11-03", "2026-11-02"])])
    load(warehouse, 2, 2, [frame(["2026-11-01"])])

    assert warehouse.count_rows(TABLE) == 3
    assert warehouse.earliest_date(TABLE, 1, "date") == date(2026, 11, 2)
    assert warehouse.delete_rows(TABLE, 1) == 2
    assert keys(warehouse) == [(2, 2, "2026-11-01", "c1")]


@pytest.mark.parametrize(("title", "name"), [
    ("Campaign stats", "campaign_stats"),
    ("  Ünïcode Tàble — 2026!  ", "unicode_table_2026"),
    ("2026 report", "t_2026_report"),
    ("!!!", "data"),
    ("x" * 80, "x" * 50),
])
def test_table_names_are_safe_and_derived_from_the_title(title: str, name: str) -> None:
    assert table_name_for(title) == name


@pytest.fixture
def small_volume(tmp_path: Path) -> Iterator[Path]:
    """A 20 MB tmpfs mounted for the test."""
    volume = tmp_path / "volume"
    volume.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(volume)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        needs.missing(f"cannot mount a tmpfs: {mounted.stderr.strip()}",
                      remedy="run the tests as root, or in a container allowed to mount")
    try:
        yield volume
    finally:
        subprocess.run(["umount", "-l", str(volume)], check=True)


def test_a_full_temp_folder_fails_the_load_in_sqlites_words_and_keeps_the_table(
        warehouse: Warehouse, small_volume: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import sqlite3
    import tempfile

    from core.db import disk_full

    load(warehouse, 1, 1, [frame(["2026-11-02"])])
    before = everything(warehouse)
    monkeypatch.setattr(tempfile, "tempdir", str(small_volume))
    with (small_volume / "filler").open("wb") as handle:  # all but 1 MB of it taken
        os.posix_fallocate(handle.fileno(), 0,
                           shutil.disk_usage(small_volume).free - (1 << 20))
    many = pd.DataFrame({"date": date(2026, 11, 3), "campaign_id": [f"c{i}" for i in range(
        100_000)], "clicks": 1, "spend": 1.5})

    with pytest.raises(sqlite3.OperationalError) as raised:
        load(warehouse, 1, 2, [many, many])

    assert str(raised.value).startswith("database or disk is full")
    assert disk_full(raised.value) == str(raised.value)
    assert everything(warehouse) == before
    assert [p.name for p in small_volume.iterdir()] == ["filler"]  # no stage left behind
