"""Replacing a window, per database: each deletes the extract's rows in the window and
inserts the new ones in ONE transaction, with the fastest bulk path the database has.

`before_chunk` is called before each chunk and once more before the commit; if it raises
(e.g. on cancel), the table is left exactly as it was.

`commit_guard`, if given, decides the commit: it is called with the rows loaded and a
function that commits the warehouse transaction, once the DELETE and INSERT are done. It
calls that function inside its own (metadata) transaction after checking the run is still
this worker's, or raises without calling it: then the load is rolled back.
"""

from __future__ import annotations

import sqlite3
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import adbc_driver_sqlite.dbapi as adbc_sqlite
import pgpq
import pyarrow as pa
from sqlalchemy import Engine, Table

from core import errors
from core.warehouse import arrow

if TYPE_CHECKING:
    from core.warehouse import Window

CommitGuard = Callable[[int, Callable[[], None]], None]


def _commit(guard: CommitGuard | None, rows: int, commit: Callable[[], None]) -> None:
    """Commit the load, through the guard when there is one."""
    if guard is None:
        commit()
    else:
        guard(rows, commit)


def delete_clause(engine: Engine, window: Window, mark: str, iso_dates: bool
                  ) -> tuple[str, tuple[Any, ...]]:
    """WHERE clause and parameters of the extract's rows in the window; it matches the
    (extract, date) index that `Warehouse.ensure_table` creates."""
    quote = engine.dialect.identifier_preparer.quote
    where = f"{quote('__extract_id')} = {mark}"
    params: tuple[Any, ...] = (window.extract_id,)
    if window.date_field is not None:
        assert window.date_from is not None and window.date_to is not None
        where += f" AND {quote(window.date_field)} BETWEEN {mark} AND {mark}"
        params += ((window.date_from.isoformat(), window.date_to.isoformat()) if iso_dates
                   else (window.date_from, window.date_to))
    return where, params


def replace_sqlite(engine: Engine, table_name: str, window: Window, names: list[str],
                   constants: dict[str, Any], batches: Iterable[pa.Table],
                   before_chunk: Callable[[], None] | None,
                   commit_guard: CommitGuard | None = None) -> int:
    """SQLite: the chunks bound by ADBC into a stage file of the load's own, then one swap;
    `constants` are written as parameters of the swap, so only `names` are staged."""
    quote = engine.dialect.identifier_preparer.quote
    column_list = ", ".join(quote(n) for n in [*constants, *names])
    where, params = delete_clause(engine, window, "?", iso_dates=True)
    total = 0
    # SQLite has one writer. The chunks are staged in a file of this load's own, so staging
    # takes no lock on the warehouse: other runs go on loading while this one fetches (a
    # fetch may take minutes). Only the swap below holds the write lock, and it copies the
    # stage in C. ADBC binds the Arrow columns in C (no Python value per cell); its SQLite
    # is a second copy of the library, so it never opens the warehouse file itself (two
    # copies in one process would drop each other's POSIX locks): it writes the stage,
    # closes it, and only then does the warehouse's own connection attach it.
    with tempfile.TemporaryDirectory(prefix="extracts-stage-") as folder:
        stage_path = Path(folder) / "stage.db"
        total = _stage_sqlite(stage_path, names, batches, before_chunk)
        if before_chunk is not None:
            before_chunk()
        with engine.connect() as conn:
            raw: Any = conn.connection.driver_connection
            cursor = raw.cursor()
            cursor.execute("ATTACH DATABASE ? AS stage", (str(stage_path),))
            try:
                cursor.execute("BEGIN IMMEDIATE")
                cursor.execute(f"DELETE FROM main.{quote(table_name)} WHERE {where}", params)
                if total:
                    values = ", ".join(["?"] * len(constants) + [quote(n) for n in names])
                    cursor.execute(f"INSERT INTO main.{quote(table_name)} ({column_list}) "
                                   f"SELECT {values} FROM stage.rows", tuple(constants.values()))
                _commit(commit_guard, total, lambda: cursor.execute("COMMIT"))
            finally:
                if raw.in_transaction:
                    cursor.execute("ROLLBACK")
                cursor.execute("DETACH DATABASE stage")
    return total


def _stage_sqlite(path: Path, names: list[str], batches: Iterable[pa.Table],
                  before_chunk: Callable[[], None] | None) -> int:
    """Write the chunks into the table `rows` of a new SQLite file; return the rows."""
    total = 0
    try:
        with adbc_sqlite.connect(str(path), autocommit=True) as stage, \
                stage.cursor() as cursor:
            # A scratch file: no journal, no syncing; it is deleted after the swap.
            cursor.execute("PRAGMA journal_mode=OFF")
            cursor.execute("PRAGMA synchronous=OFF")
            cursor.execute("BEGIN")
            for batch in batches:
                if before_chunk is not None:
                    before_chunk()
                if batch.num_rows:
                    cursor.adbc_ingest("rows", arrow.for_sqlite(batch.select(names)),
                                       mode="append" if total else "create")
                total += batch.num_rows
            cursor.execute("COMMIT")
    except adbc_sqlite.Error as exc:
        # SQLite's own words, as sqlite3 says them, so a full disk is named as one.
        for words in ("database or disk is full", "disk i/o error"):
            if words in str(exc).lower():
                raise sqlite3.OperationalError(
                    f"{words} (the load's stage in {path.parent})") from exc
        raise
    return total


def replace_postgres(engine: Engine, table_name: str, window: Window, names: list[str],
                     batches: Iterable[pa.Table],
                     before_chunk: Callable[[], None] | None,
                     commit_guard: CommitGuard | None = None) -> int:
    """PostgreSQL (psycopg): DELETE, then ONE binary `COPY` of every chunk, encoded from
    Arrow in Rust (pgpq) as each chunk arrives, in the same transaction."""
    quote = engine.dialect.identifier_preparer.quote
    column_list = ", ".join(quote(n) for n in names)
    where, params = delete_clause(engine, window, "%s", iso_dates=False)
    copy_sql = f"COPY {quote(table_name)} ({column_list}) FROM STDIN (FORMAT binary)"
    total = 0
    # MVCC: the transaction locks only the rows it deletes, so other extracts' loads
    # into the same table go on while this one fetches.
    with engine.connect() as conn, conn.begin() as transaction:
        raw: Any = conn.connection.driver_connection
        with raw.cursor() as cursor, ExitStack() as stack:
            cursor.execute(f"DELETE FROM {quote(table_name)} WHERE {where}", params)
            encoder = None
            for batch in batches:
                if before_chunk is not None:
                    before_chunk()
                if not batch.num_rows:
                    continue
                if encoder is None:  # an error inside the COPY aborts it, and the load
                    encoder = pgpq.ArrowToPostgresBinaryEncoder(batch.schema)
                    copy = stack.enter_context(cursor.copy(copy_sql))
                    copy.write(encoder.write_header())
                for part in batch.to_batches():
                    copy.write(encoder.write_batch(part))
                total += batch.num_rows
            if encoder is not None:
                copy.write(encoder.finish())
                stack.close()
            if before_chunk is not None:
                before_chunk()
        _commit(commit_guard, total, transaction.commit)
    return total


# Registering and unregistering Arrow streams from several threads of one process at once
# has been unstable in DuckDB's Python client (duckdb/duckdb#2540; here, once under load:
# "Table Function with name python_arrow_scan does not exist"): they take turns. The loads
# themselves still run at the same time.
_DUCKDB_REGISTRY = threading.Lock()


def replace_duckdb(engine: Engine, table_name: str, window: Window, schema: pa.Schema,
                   batches: Iterable[pa.Table],
                   before_chunk: Callable[[], None] | None,
                   commit_guard: CommitGuard | None = None) -> int:
    """DuckDB: DELETE, then one `INSERT ... SELECT` from a registered stream of Arrow
    batches."""
    quote = engine.dialect.identifier_preparer.quote
    column_list = ", ".join(quote(n) for n in schema.names)
    where, params = delete_clause(engine, window, "?", iso_dates=False)
    view = f"load_{table_name}_{uuid.uuid4().hex}"
    total = 0
    failure: list[BaseException] = []
    committed = False

    def commit() -> None:
        nonlocal committed
        raw.execute("COMMIT")
        committed = True

    def stream() -> Iterator[pa.RecordBatch]:
        nonlocal total
        try:
            for batch in batches:
                if before_chunk is not None:
                    before_chunk()
                total += batch.num_rows
                yield from batch.to_batches()
        except BaseException as exc:  # DuckDB would wrap it; the caller gets it as is
            failure.append(exc)
            raise

    # All chunks go in through ONE INSERT ... SELECT over a stream of Arrow batches: a
    # statement per chunk costs DuckDB about twice the time.
    reader = pa.RecordBatchReader.from_batches(schema, stream())
    with engine.connect() as conn:
        raw: Any = conn.connection.driver_connection
        raw.execute("SET enable_progress_bar = false")  # it would draw on the worker's stdout
        with _DUCKDB_REGISTRY:
            raw.register(view, reader)
        [(limit,)] = raw.execute("SELECT current_setting('memory_limit')").fetchall()
        try:
            # MVCC with optimistic writes: appends of other extracts do not conflict.
            raw.execute("BEGIN TRANSACTION")
            try:
                raw.execute(f"DELETE FROM {quote(table_name)} WHERE {where}", params)
                try:
                    raw.execute(f"INSERT INTO {quote(table_name)} ({column_list}) "
                                f"SELECT {column_list} FROM {quote(view)}")
                except Exception as exc:
                    if failure:
                        raise failure[0] from None
                    if type(exc).__name__ == "OutOfMemoryException":  # duckdb's own class
                        raise _out_of_memory(limit, exc) from None
                    raise
                if before_chunk is not None:
                    before_chunk()
                _commit(commit_guard, total, commit)
            except BaseException:
                if not committed:
                    raw.execute("ROLLBACK")
                raise
        finally:
            with _DUCKDB_REGISTRY:
                raw.unregister(view)
    return total


def _out_of_memory(limit: str, exc: Exception) -> errors.Invalid:
    """DuckDB could not hold a load within its memory limit, in the setting's words."""
    first = str(exc).splitlines()[0]
    return errors.Invalid(
        f"the DuckDB warehouse's memory limit ({limit}, EXTRACTS_DUCKDB_MEMORY_LIMIT) is too "
        f"small for this load ({first}); raise it, e.g. to the default 128MB; the window's "
        "data was left as it was")


def replace_generic(engine: Engine, table: Table, window: Window,
                    batches: Iterable[pa.Table],
                    before_chunk: Callable[[], None] | None,
                    commit_guard: CommitGuard | None = None) -> int:
    """Any other database: DELETE, then an `executemany` INSERT per chunk."""
    condition = table.c["__extract_id"] == window.extract_id
    if window.date_field is not None:
        condition &= table.c[window.date_field].between(window.date_from, window.date_to)
    total = 0
    with engine.connect() as conn, conn.begin() as transaction:
        conn.execute(table.delete().where(condition))
        for batch in batches:
            if before_chunk is not None:
                before_chunk()
            if batch.num_rows:
                conn.execute(table.insert(), batch.to_pylist())
            total += batch.num_rows
        if before_chunk is not None:
            before_chunk()
        _commit(commit_guard, total, transaction.commit)
    return total
