"""Data tables in the warehouse: create and evolve columns, replace a window, read back.

Here: the Warehouse (table DDL and evolution, reading rows back) and the names of fields'
types and system columns. The load path is in two modules:

    loading.py  replacing a window per database: SQLite an ADBC stage file and a swap,
                PostgreSQL binary COPY, DuckDB INSERT from a stream of Arrow batches,
                anything else via SQLAlchemy
    arrow.py    chunks' columns cast to their fields' Arrow types (pyarrow.compute)
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd
import pyarrow as pa
from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Date,
    DateTime,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    Table,
    func,
    inspect,
    select,
    text,
)

from core import errors
from core.connectors.base import FieldSpec
from core.field_types import SQL_TYPES
from core.warehouse import arrow, loading

SYSTEM_COLUMNS: tuple[FieldSpec, ...] = (
    FieldSpec("account_id", "string", "dimension"),
    FieldSpec("account_name", "string", "dimension"),
    FieldSpec("__insert_date", "datetime", "dimension"),
    FieldSpec("__extract_id", "integer", "dimension"),
    FieldSpec("__run_id", "integer", "dimension"),
)
SYSTEM_NAMES = frozenset(c.name for c in SYSTEM_COLUMNS)
# Execution option: a transaction on a connection that carries it takes the write lock up
# front (SQLite: BEGIN IMMEDIATE; see core.db.make_engine), so it waits for another writer.
WRITE_LOCK = "extracts_write_lock"


def table_name_for(title: str) -> str:
    """A safe SQL table name derived from a data table's title."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    name = re.sub(r"[^a-z0-9]+", "_", ascii_title.lower()).strip("_")[:50] or "data"
    return name if name[0].isalpha() else f"t_{name}"


def _duckdb_type_name(type_: str) -> str:
    """The field type a DuckDB column type holds."""
    type_ = type_.upper()
    if type_ == "BOOLEAN":
        return "boolean"
    if type_.startswith("TIMESTAMP"):
        return "datetime"
    if type_ == "DATE":
        return "date"
    if type_ in {"BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT", "UBIGINT", "UINTEGER"}:
        return "integer"
    if type_ in {"DOUBLE", "FLOAT", "REAL"} or type_.startswith("DECIMAL"):
        return "number"
    return "string"


def _type_name(sql_type: Any) -> str:
    """The field type a reflected column holds."""
    if isinstance(sql_type, Boolean):
        return "boolean"
    if isinstance(sql_type, DateTime):
        return "datetime"
    if isinstance(sql_type, Date):
        return "date"
    if isinstance(sql_type, Integer):
        return "integer"
    if isinstance(sql_type, Float) or sql_type.__class__.__name__ in {"NUMERIC", "REAL", "DOUBLE"}:
        return "number"
    return "string"


@dataclass(frozen=True)
class Window:
    """Which of an extract's rows a load replaces: a date window, or all (no date field)."""

    extract_id: int
    date_field: str | None
    date_from: date | None
    date_to: date | None


class Warehouse:
    """The database that holds the data tables."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- schema ----------------------------------------------------------------------------

    def columns(self, table_name: str) -> dict[str, str]:
        """Column name -> field type of a data table; empty if it does not exist yet."""
        with self.engine.connect() as conn:
            return self._columns(conn, table_name)

    def _columns(self, conn: Connection, table_name: str) -> dict[str, str]:
        if self.engine.dialect.name == "duckdb":
            # duckdb-engine's reflection runs PostgreSQL catalog queries DuckDB lacks.
            found = conn.execute(text(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_name = :name AND table_schema = current_schema() "
                "ORDER BY ordinal_position"), {"name": table_name}).all()
            return {name: _duckdb_type_name(type_) for name, type_ in found}
        inspector = inspect(conn)
        if not inspector.has_table(table_name):
            return {}
        return {c["name"]: _type_name(c["type"]) for c in inspector.get_columns(table_name)}

    @contextmanager
    def _schema_change(self) -> Iterator[Connection]:
        """A transaction that holds the write lock from its start: a schema change racing
        another writer (another run, another process) waits up to the busy timeout."""
        with self.engine.connect() as conn:
            conn.execution_options(**{WRITE_LOCK: True})
            with conn.begin():
                if self.engine.dialect.name == "postgresql":
                    # One schema change at a time, across processes: two CREATE TABLEs of
                    # one name race in the catalog (a unique violation in pg_type). Like
                    # every lock wait, it ends at the busy timeout (core.db.make_engine).
                    conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
                                 {"key": "extracts.schema"})
                yield conn

    def _table(self, table_name: str) -> Table:
        """The data table as SQLAlchemy sees it, built from its columns (no reflection)."""
        return Table(table_name, MetaData(), *(Column(name, SQL_TYPES[type_]())
                                               for name, type_ in self.columns(table_name).items()))

    def ensure_table(self, table_name: str, fields: Sequence[FieldSpec],
                     date_field: str | None, title: str = "") -> None:
        """Create the table, or add the columns it lacks; refuse a type that no longer fits."""
        existing = self.columns(table_name)
        if existing and all(f.name in existing for f in fields):
            self._check_types(existing, fields, title or table_name)
            return  # nothing to change: no write lock needed
        with self._schema_change() as conn:
            # Again under the write lock: another run may have changed the table meanwhile.
            existing = self._columns(conn, table_name)
            if not existing:
                self._create(conn, table_name, [*SYSTEM_COLUMNS, *fields], date_field)
                return
            self._check_types(existing, fields, title or table_name)
            self._add_columns(conn, table_name, [f for f in fields if f.name not in existing])

    @staticmethod
    def _check_types(existing: dict[str, str], fields: Sequence[FieldSpec], title: str) -> None:
        clashes = [f"column {f.name} holds {existing[f.name]} values but the field is {f.type}"
                   for f in fields if f.name in existing and existing[f.name] != f.type]
        if clashes:
            raise errors.Conflict(f"data table {title!r}: " + "; ".join(clashes)
                                  + "; load this extract into a new data table instead")

    def _create(self, conn: Connection, table_name: str, wanted: Sequence[FieldSpec],
                date_field: str | None) -> None:
        table = Table(table_name, MetaData(),
                      *(Column(f.name, SQL_TYPES[f.type]()) for f in wanted))
        keys = [table.c["__extract_id"]] + ([table.c[date_field]] if date_field else [])
        # The delete of a window uses this index. DuckDB prunes by its zone maps instead
        # (and cannot add a column to a table that has an index).
        if self.engine.dialect.name != "duckdb":
            Index(f"ix_{table_name}_extract_date", *keys)
        table.create(conn)

    def _add_columns(self, conn: Connection, table_name: str,
                     missing: Sequence[FieldSpec]) -> None:
        preparer = self.engine.dialect.identifier_preparer
        for f in missing:
            sql_type = SQL_TYPES[f.type]().compile(dialect=self.engine.dialect)
            conn.exec_driver_sql(f"ALTER TABLE {preparer.quote(table_name)} "
                                 f"ADD COLUMN {preparer.quote(f.name)} {sql_type}")

    # -- loading ---------------------------------------------------------------------------

    def replace_window(
        self,
        *,
        table_name: str,
        window: Window,
        fields: Sequence[FieldSpec],
        chunks: Iterable[arrow.Chunk | pd.DataFrame],
        system_values: dict[str, Any],
        before_chunk: Callable[[], None] | None = None,
        commit_guard: loading.CommitGuard | None = None,
    ) -> int:
        """Replace the extract's rows in `window` with the rows of `chunks`, all or nothing.

        The delete of the old rows and the insert of the new ones happen in ONE transaction;
        any error (or `before_chunk` raising, e.g. on cancel) leaves the table exactly as it
        was. `commit_guard` decides the commit (see `loading`): a run commits its load only
        while it still holds its claim, in one metadata transaction with its outcome.
        Chunks are Arrow record batches or tables (a DataFrame is converted at this edge);
        each column is cast to its field's type, then written with the fastest Arrow path
        of the database: SQLite a stage file bound by ADBC, then one swap; PostgreSQL a
        binary `COPY`; DuckDB `INSERT ... SELECT` from a stream of Arrow batches.
        Returns the number of rows loaded.
        """
        data_names = [f.name for f in fields]
        types = {**{c.name: c.type for c in SYSTEM_COLUMNS}, **{f.name: f.type for f in fields}}
        tables = arrow.released(
            arrow.from_frame(chunk, data_names, types) if isinstance(chunk, pd.DataFrame)
            else arrow.conform(chunk, data_names, types) for chunk in chunks)
        dialect = self.engine.dialect.name
        if dialect == "sqlite":
            # The system values are the same on every row: the swap writes them as
            # parameters, so only the fields are staged.
            one_row = pa.Table.from_arrays([pa.array([0])], names=["_"])
            [constants] = arrow.for_sqlite(arrow.with_constants(
                one_row, system_values, types)).drop_columns(["_"]).to_pylist()
            return loading.replace_sqlite(self.engine, table_name, window, data_names,
                                          constants, tables, before_chunk, commit_guard)
        names = [*system_values, *data_names]
        batches = (arrow.with_constants(table, system_values, types) for table in tables)
        if dialect == "postgresql" and self.engine.dialect.driver == "psycopg":
            return loading.replace_postgres(self.engine, table_name, window, names, batches,
                                            before_chunk, commit_guard)
        if dialect == "duckdb":
            schema = pa.schema([(name, arrow.TYPES[types[name]]) for name in names])
            return loading.replace_duckdb(self.engine, table_name, window, schema, batches,
                                          before_chunk, commit_guard)
        return loading.replace_generic(self.engine, self._table(table_name), window, batches,
                                       before_chunk, commit_guard)

    def delete_rows(self, table_name: str, extract_id: int) -> int:
        """Delete every row an extract wrote; return how many."""
        table = self._table(table_name)
        if not table.columns:
            return 0
        with self.engine.begin() as conn:
            result = conn.execute(table.delete().where(table.c["__extract_id"] == extract_id))
        return result.rowcount

    # -- reading ---------------------------------------------------------------------------

    def count_rows(self, table_name: str, extract_id: int | None = None) -> int:
        """Rows in a data table, optionally only those of one extract."""
        table = self._table(table_name)
        if not table.columns:
            return 0
        query = select(func.count()).select_from(table)
        if extract_id is not None:
            query = query.where(table.c["__extract_id"] == extract_id)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def earliest_date(self, table_name: str, extract_id: int, date_field: str) -> date | None:
        """The earliest date of data an extract has loaded, or None."""
        table = self._table(table_name)
        if date_field not in table.columns:
            return None
        query = select(func.min(table.c[date_field])).where(
            table.c["__extract_id"] == extract_id)
        with self.engine.connect() as conn:
            value = conn.execute(query).scalar_one()
        if value is None or isinstance(value, date):
            return value
        return date.fromisoformat(str(value)[:10])

    def read_rows(self, table_name: str, *, extract_id: int | None = None,
                  order_by: str | None = None, limit: int = 100, offset: int = 0
                  ) -> pd.DataFrame:
        """Rows of a data table as a DataFrame, newest `order_by` first.

        Pages never repeat or skip a row: after `order_by`, rows are ordered by every other
        column, a total order of what a reader can see (rows equal in every column are
        interchangeable), so LIMIT/OFFSET pages are the same on every database and request.
        """
        table = self._table(table_name)
        if not table.columns:
            return pd.DataFrame()
        query = select(table)
        if extract_id is not None:
            query = query.where(table.c["__extract_id"] == extract_id)
        first = [table.c[order_by].desc()] if order_by is not None else []
        query = query.order_by(*first, *(c for c in table.columns if c.name != order_by))
        query = query.limit(limit).offset(offset)
        with self.engine.connect() as conn:
            return pd.read_sql(query, conn)

    def iter_rows(self, table_name: str, *, chunk_rows: int = 50_000
                  ) -> Iterator[pd.DataFrame]:
        """Every row of a data table, in chunks, from ONE query (one consistent snapshot, no
        OFFSET paging that a load in between could shift); nothing if it does not exist."""
        table = self._table(table_name)
        if not table.columns:
            return
        with self.engine.connect() as conn:
            streaming = conn.execution_options(stream_results=True, yield_per=chunk_rows)
            yield from pd.read_sql(select(table), streaming, chunksize=chunk_rows)
