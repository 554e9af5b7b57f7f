"""Reading a data table in chunks where each chunk is its own short query, so that an export
of millions of rows never holds a read open on the warehouse for longer than one chunk.

SQLite walks the rowid (`rowid > last ORDER BY rowid LIMIT n`: an index seek per chunk);
PostgreSQL walks the heap in block ranges (`ctid >= '(b,0)' AND ctid < '(b+k,0)'`: a TID
range scan per chunk); DuckDB (MVCC, readers never block its writer) streams one query.
Chunks are separate snapshots: a load committed between two chunks may show in the later
ones, as with any paged read.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pandas as pd
from sqlalchemy import Engine, text

PG_BLOCKS_PER_CHUNK = 1_000  # 8 MB of heap per query


def _where(engine: Engine, equal: Mapping[str, Any]) -> str:
    quote = engine.dialect.identifier_preparer.quote
    return "".join(f" AND {quote(name)} = :w_{n}" for n, name in enumerate(equal))


def _params(equal: Mapping[str, Any]) -> dict[str, Any]:
    return {f"w_{n}": value for n, value in enumerate(equal.values())}


def count(engine: Engine, table_name: str, equal: Mapping[str, Any]) -> int:
    """Rows of a table whose columns equal `equal` (one short query)."""
    table = engine.dialect.identifier_preparer.quote(table_name)
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table} WHERE 1 = 1"
                                     + _where(engine, equal)), _params(equal)).scalar_one())


def read_chunks(engine: Engine, table_name: str, columns: list[str],
                equal: Mapping[str, Any], chunk_rows: int = 50_000
                ) -> Iterator[pd.DataFrame]:
    """The rows of a table whose columns equal `equal`, `columns` in order, as DataFrames of
    at most `chunk_rows` rows (PostgreSQL: of a block range), each chunk one short query."""
    for rows in read_row_chunks(engine, table_name, columns, equal, chunk_rows):
        yield pd.DataFrame(rows, columns=columns)


def read_row_chunks(engine: Engine, table_name: str, columns: list[str],
                    equal: Mapping[str, Any], chunk_rows: int = 50_000
                    ) -> Iterator[list[tuple[Any, ...]]]:
    """As `read_chunks`, as lists of plain tuples (for writers that need no DataFrame)."""
    preparer = engine.dialect.identifier_preparer
    table = preparer.quote(table_name)
    select_list = ", ".join(preparer.quote(c) for c in columns)
    where = _where(engine, equal)
    params = _params(equal)
    dialect = engine.dialect.name
    if dialect == "sqlite":
        last = -1
        query = (f"SELECT rowid, {select_list} FROM {table} WHERE rowid > :last{where} "
                 "ORDER BY rowid LIMIT :n")
        while True:
            with engine.connect() as conn:
                # The driver's own cursor: twice as fast as SQLAlchemy's rows for millions.
                cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
                try:
                    found = cursor.execute(query, {**params, "last": last,
                                                   "n": chunk_rows}).fetchall()
                finally:
                    cursor.close()
            if not found:
                return
            last = found[-1][0]
            yield [row[1:] for row in found]
    elif dialect == "postgresql":
        with engine.connect() as conn:
            blocks = int(conn.execute(text(
                "SELECT pg_relation_size(CAST(:t AS regclass)) / "
                "current_setting('block_size')::int"), {"t": table}).scalar_one())
        for start in range(0, blocks + 1, PG_BLOCKS_PER_CHUNK):
            with engine.connect() as conn:
                rows = conn.execute(text(
                    f"SELECT {select_list} FROM {table} WHERE ctid >= CAST(:lo AS tid) "
                    f"AND ctid < CAST(:hi AS tid){where}"), {
                        **params, "lo": f"({start},0)",
                        "hi": f"({start + PG_BLOCKS_PER_CHUNK},0)"}).all()
            if rows:
                yield [tuple(row) for row in rows]
    else:
        with engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=chunk_rows).execute(
                text(f"SELECT {select_list} FROM {table} WHERE 1 = 1{where}"), params)
            for part in result.partitions(chunk_rows):
                yield [tuple(row) for row in part]
