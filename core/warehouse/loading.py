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

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from sqlalchemy import Engine, Table

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
    """SQLite: `executemany` into a TEMP stage, then one swap; `constants` are written as
    parameters of the swap, so only `names` are bound row by row."""
    quote = engine.dialect.identifier_preparer.quote
    stage = quote(f"stage_{table_name}")
    stage_columns = ", ".join(quote(n) for n in names)
    column_list = ", ".join(quote(n) for n in [*constants, *names])
    marks = ", ".join("?" for _ in names)
    where, params = delete_clause(engine, window, "?", iso_dates=True)
    total = 0
    with engine.connect() as conn:
        raw: Any = conn.connection.driver_connection
        cursor = raw.cursor()
        # SQLite has one writer. The chunks are staged in a TEMP table, which lives in
        # the connection's own file: staging takes no lock on the warehouse, so other
        # runs go on loading while this one fetches (a fetch may take minutes). Only the
        # swap below holds the write lock. It costs no throughput: copying the stage in
        # C is about as fast as binding the rows straight into the indexed table.
        cursor.execute(f"DROP TABLE IF EXISTS temp.{stage}")
        cursor.execute(f"CREATE TEMP TABLE {stage} AS SELECT {stage_columns} "
                       f"FROM main.{quote(table_name)} WHERE 0")
        insert = f"INSERT INTO temp.{stage} VALUES ({marks})"
        try:
            cursor.execute("BEGIN")
            for batch in batches:
                if before_chunk is not None:
                    before_chunk()
                cursor.executemany(insert, arrow.sqlite_rows(batch))
                total += batch.num_rows
            if before_chunk is not None:
                before_chunk()
            cursor.execute("COMMIT")
            cursor.execute("BEGIN IMMEDIATE")
            cursor.execute(f"DELETE FROM main.{quote(table_name)} WHERE {where}", params)
            values = ", ".join(["?"] * len(constants) + [quote(n) for n in names])
            cursor.execute(f"INSERT INTO main.{quote(table_name)} ({column_list}) "
                           f"SELECT {values} FROM temp.{stage}", tuple(constants.values()))
            _commit(commit_guard, total, lambda: cursor.execute("COMMIT"))
        finally:
            if raw.in_transaction:
                cursor.execute("ROLLBACK")
            cursor.execute(f"DROP TABLE IF EXISTS temp.{stage}")
    return total


def replace_postgres(engine: Engine, table_name: str, window: Window, names: list[str],
                     batches: Iterable[pa.Table],
                     before_chunk: Callable[[], None] | None,
                     commit_guard: CommitGuard | None = None) -> int:
    """PostgreSQL (psycopg): DELETE, then `COPY` each chunk as CSV."""
    quote = engine.dialect.identifier_preparer.quote
    column_list = ", ".join(quote(n) for n in names)
    where, params = delete_clause(engine, window, "%s", iso_dates=False)
    copy_sql = f"COPY {quote(table_name)} ({column_list}) FROM STDIN (FORMAT csv)"
    total = 0
    # MVCC: the transaction locks only the rows it deletes, so other extracts' loads
    # into the same table go on while this one fetches.
    with engine.connect() as conn, conn.begin() as transaction:
        raw: Any = conn.connection.driver_connection
        with raw.cursor() as cursor:
            cursor.execute(f"DELETE FROM {quote(table_name)} WHERE {where}", params)
            for batch in batches:
                if before_chunk is not None:
                    before_chunk()
                if batch.num_rows:
                    with cursor.copy(copy_sql) as copy:
                        copy.write(arrow.csv_bytes(batch))
                total += batch.num_rows
            if before_chunk is not None:
                before_chunk()
        _commit(commit_guard, total, transaction.commit)
    return total


def replace_duckdb(engine: Engine, table_name: str, window: Window, schema: pa.Schema,
                   batches: Iterable[pa.Table],
                   before_chunk: Callable[[], None] | None,
                   commit_guard: CommitGuard | None = None) -> int:
    """DuckDB: DELETE, then one `INSERT ... SELECT` from a registered stream of Arrow
    batches."""
    quote = engine.dialect.identifier_preparer.quote
    column_list = ", ".join(quote(n) for n in schema.names)
    where, params = delete_clause(engine, window, "?", iso_dates=False)
    view = f"load_{table_name}"
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
        raw.register(view, reader)
        try:
            # MVCC with optimistic writes: appends of other extracts do not conflict.
            raw.execute("BEGIN TRANSACTION")
            try:
                raw.execute(f"DELETE FROM {quote(table_name)} WHERE {where}", params)
                try:
                    raw.execute(f"INSERT INTO {quote(table_name)} ({column_list}) "
                                f"SELECT {column_list} FROM {quote(view)}")
                except Exception:
                    if failure:
                        raise failure[0] from None
                    raise
                if before_chunk is not None:
                    before_chunk()
                _commit(commit_guard, total, commit)
            except BaseException:
                if not committed:
                    raw.execute("ROLLBACK")
                raise
        finally:
            raw.unregister(view)
    return total


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
