"""A DuckDB warehouse within its memory limit: the settings reach every connection, a load
bigger than the limit spills to the var folder and still replaces its window all or nothing,
and a limit too small for a load fails it in the setting's words, the table untouched; and
the product's processes allocate Arrow's memory with malloc."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from sqlalchemy import text

from core import errors
from core.connectors.base import FieldSpec
from core.db import duckdb_settings, make_engine, open_database
from core.warehouse import Warehouse, Window
from tests.conftest import make_settings

TABLE = "campaign_stats"
FIELDS = [FieldSpec("date", "date", "dimension"), FieldSpec("campaign_id", "string", "dimension"),
          FieldSpec("clicks", "integer", "metric")]
WINDOW = Window(1, "date", date(2026, 11, 1), date(2026, 11, 7))


def system(run_id: int) -> dict[str, Any]:
    return {"account_id": "sa-1", "account_name": "Account sa-1",
            "__insert_date": datetime(2026, 11, 28, 10, 0), "__extract_id": 1,
            "__run_id": run_id}


def chunks(rows: int, spill: Path | None = None, seen: list[list[str]] | None = None
           ) -> Iterator[pa.Table]:
    """`rows` rows over the window's seven days, 50,000 a chunk (about 40 bytes of text
    each); before each chunk, what the spill folder holds goes into `seen`."""
    for start in range(0, rows, 50_000):
        if seen is not None and spill is not None:
            seen.append(sorted(p.name for p in spill.glob("*")) if spill.exists() else [])
        n = min(50_000, rows - start)
        yield pa.table({
            "date": pa.array([date(2026, 11, 1 + (i % 7)) for i in range(n)]),
            "campaign_id": pa.array([f"campaign {start + i:012d} with a long name"
                                     for i in range(n)]),
            "clicks": pa.array(range(start, start + n))})


def warehouse_at(tmp_path: Path, memory_limit: str) -> tuple[Warehouse, Path]:
    spill = tmp_path / "var" / "duckdb-spill"
    engine = make_engine(f"duckdb:///{tmp_path / 'w.duckdb'}", duckdb_settings={
        "memory_limit": memory_limit, "threads": 1, "temp_directory": str(spill)})
    warehouse = Warehouse(engine)
    warehouse.ensure_table(TABLE, FIELDS, "date", "Campaign stats")
    return warehouse, spill


def runs_in_table(warehouse: Warehouse) -> dict[int, int]:
    with warehouse.engine.connect() as conn:
        return dict(conn.execute(text(
            f"SELECT __run_id, count(*) FROM {TABLE} GROUP BY __run_id")).all())


def test_the_settings_reach_every_connection_of_the_duckdb_warehouse(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, warehouse_url=f"duckdb:///{tmp_path / 'w.duckdb'}",
                             duckdb_memory_limit="96MB", duckdb_threads=3)
    db = open_database(settings, seed=False)
    try:
        with db.warehouse.engine.connect() as conn:
            limit, threads, spill = conn.execute(text(
                "SELECT current_setting('memory_limit'), current_setting('threads'), "
                "current_setting('temp_directory')")).one()
    finally:
        db.dispose()

    assert (limit, threads) == ("91.5 MiB", 3)  # 96 MB as DuckDB counts it, in MiB
    assert Path(spill) == settings.var_dir / "duckdb-spill"
    assert duckdb_settings(settings)["memory_limit"] == "96MB"


def test_a_load_bigger_than_the_limit_spills_and_replaces_its_window_all_or_nothing(
        tmp_path: Path) -> None:
    warehouse, spill = warehouse_at(tmp_path, "16MB")
    try:
        seen: list[list[str]] = []
        assert warehouse.replace_window(table_name=TABLE, window=WINDOW, fields=FIELDS,
                                        chunks=chunks(400_000, spill, seen),
                                        system_values=system(1)) == 400_000
        assert any(seen), "DuckDB never used the spill folder under the var folder"

        def refuse(rows: int, _commit: Callable[[], None]) -> None:
            raise errors.ClaimLost(f"the run was taken over with {rows} rows loaded")

        with pytest.raises(errors.ClaimLost, match="400000 rows"):
            warehouse.replace_window(table_name=TABLE, window=WINDOW, fields=FIELDS,
                                     chunks=chunks(400_000), system_values=system(2),
                                     commit_guard=refuse)
        assert runs_in_table(warehouse) == {1: 400_000}

        assert warehouse.replace_window(table_name=TABLE, window=WINDOW, fields=FIELDS,
                                        chunks=chunks(300_000), system_values=system(3)
                                        ) == 300_000
        assert runs_in_table(warehouse) == {3: 300_000}
    finally:
        warehouse.engine.dispose()


def test_a_limit_too_small_for_a_load_fails_it_naming_the_setting(tmp_path: Path) -> None:
    warehouse, _ = warehouse_at(tmp_path, "4MB")
    try:
        warehouse.replace_window(table_name=TABLE, window=WINDOW, fields=FIELDS,
                                 chunks=chunks(1_000), system_values=system(1))
        with pytest.raises(errors.Invalid) as info:
            warehouse.replace_window(table_name=TABLE, window=WINDOW, fields=FIELDS,
                                     chunks=chunks(400_000), system_values=system(2))
        assert runs_in_table(warehouse) == {1: 1_000}
    finally:
        warehouse.engine.dispose()

    assert "memory limit (3.8 MiB, EXTRACTS_DUCKDB_MEMORY_LIMIT) is too small" in str(info.value)
    assert "the window's data was left as it was" in str(info.value)


def test_a_process_that_imports_core_first_allocates_arrow_memory_with_malloc() -> None:
    # Arrow's mimalloc kept what loads freed on other threads (docs/benchmarks.md,
    # "Pipeline"); Arrow picks its allocator once, when it is loaded, so core sets it first.
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    found = subprocess.run(
        [sys.executable, "-c", "import core, pyarrow; "
                               "print(pyarrow.default_memory_pool().backend_name)"],
        capture_output=True, text=True, env=env, check=True,
        cwd=Path(__file__).resolve().parents[2])

    assert found.stdout.strip() == "system"
