"""Data tables in the warehouse: create and evolve columns, replace a window, read back."""

from __future__ import annotations

import io
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from sqlalchemy import (
    Boolean,
    Column,
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

SYSTEM_COLUMNS: tuple[FieldSpec, ...] = (
    FieldSpec("account_id", "string", "dimension"),
    FieldSpec("account_name", "string", "dimension"),
    FieldSpec("__insert_date", "datetime", "dimension"),
    FieldSpec("__extract_id", "integer", "dimension"),
    FieldSpec("__run_id", "integer", "dimension"),
)
SYSTEM_NAMES = frozenset(c.name for c in SYSTEM_COLUMNS)


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
        if self.engine.dialect.name == "duckdb":
            # duckdb-engine's reflection runs PostgreSQL catalog queries DuckDB lacks.
            with self.engine.connect() as conn:
                found = conn.execute(text(
                    "SELECT column_name, data_type FROM information_schema.columns "
                    "WHERE table_name = :name AND table_schema = current_schema() "
                    "ORDER BY ordinal_position"), {"name": table_name}).all()
            return {name: _duckdb_type_name(type_) for name, type_ in found}
        inspector = inspect(self.engine)
        if not inspector.has_table(table_name):
            return {}
        return {c["name"]: _type_name(c["type"]) for c in inspector.get_columns(table_name)}

    def _table(self, table_name: str) -> Table:
        """The data table as SQLAlchemy sees it, built from its columns (no reflection)."""
        return Table(table_name, MetaData(), *(Column(name, SQL_TYPES[type_]())
                                               for name, type_ in self.columns(table_name).items()))

    def ensure_table(self, table_name: str, fields: Sequence[FieldSpec],
                     date_field: str | None, title: str = "") -> None:
        """Create the table, or add the columns it lacks; refuse a type that no longer fits."""
        existing = self.columns(table_name)
        wanted = [*SYSTEM_COLUMNS, *fields]
        if not existing:
            table = Table(table_name, MetaData(),
                          *(Column(f.name, SQL_TYPES[f.type]()) for f in wanted))
            keys = [table.c["__extract_id"]] + ([table.c[date_field]] if date_field else [])
            # The delete of a window uses this index. DuckDB prunes by its zone maps instead
            # (and cannot add a column to a table that has an index).
            if self.engine.dialect.name != "duckdb":
                Index(f"ix_{table_name}_extract_date", *keys)
            table.create(self.engine, checkfirst=True)
            return
        clashes = [f"column {f.name} holds {existing[f.name]} values but the field is {f.type}"
                   for f in fields if f.name in existing and existing[f.name] != f.type]
        if clashes:
            raise errors.Conflict(f"data table {title or table_name!r}: " + "; ".join(clashes)
                                  + "; load this extract into a new data table instead")
        missing = [f for f in fields if f.name not in existing]
        preparer = self.engine.dialect.identifier_preparer
        with self.engine.begin() as conn:
            for f in missing:
                sql_type = SQL_TYPES[f.type]().compile(dialect=self.engine.dialect)
                conn.exec_driver_sql(
                    f"ALTER TABLE {preparer.quote(table_name)} "
                    f"ADD COLUMN {preparer.quote(f.name)} {sql_type}"
                )

    def drop_table(self, table_name: str) -> None:
        Table(table_name, MetaData()).drop(self.engine, checkfirst=True)

    # -- loading ---------------------------------------------------------------------------

    def replace_window(
        self,
        *,
        table_name: str,
        window: Window,
        fields: Sequence[FieldSpec],
        chunks: Iterable[pd.DataFrame],
        system_values: dict[str, Any],
        before_chunk: Callable[[], None] | None = None,
    ) -> int:
        """Replace the extract's rows in `window` with the rows of `chunks`, all or nothing.

        The delete of the old rows and the insert of the new ones happen in ONE transaction;
        any error (or `before_chunk` raising, e.g. on cancel) leaves the table exactly as it
        was. Each chunk is converted column-wise to Arrow, then written with the fastest
        method of the database: SQLite `executemany` into a TEMP stage, then one swap;
        PostgreSQL `COPY`; DuckDB `INSERT ... SELECT` from the registered Arrow table.
        Returns the number of rows loaded.
        """
        names = [*system_values, *(f.name for f in fields)]
        types = {**{c.name: c.type for c in SYSTEM_COLUMNS}, **{f.name: f.type for f in fields}}
        dialect = self.engine.dialect.name
        if dialect == "sqlite":
            # The system values are the same on every row: the swap writes them as
            # parameters, so only the fields are bound row by row.
            data_names = [f.name for f in fields]
            [constants] = sqlite_rows(arrow_table(pd.DataFrame(index=[0]), list(system_values),
                                                  types, system_values))
            return self._replace_sqlite(
                table_name, window, data_names, dict(zip(system_values, constants, strict=True)),
                (arrow_table(frame, data_names, types, {}) for frame in chunks), before_chunk)
        batches = (arrow_table(frame, names, types, system_values) for frame in chunks)
        if dialect == "postgresql" and self.engine.dialect.driver == "psycopg":
            return self._replace_postgres(table_name, window, names, batches, before_chunk)
        if dialect == "duckdb":
            schema = pa.schema([(name, ARROW_TYPES[types[name]]) for name in names])
            return self._replace_duckdb(table_name, window, schema, batches, before_chunk)
        return self._replace_generic(table_name, window, names, batches, before_chunk)

    def _delete_clause(self, window: Window, mark: str, iso_dates: bool
                       ) -> tuple[str, tuple[Any, ...]]:
        """WHERE clause and parameters of the extract's rows in the window; it matches the
        (extract, date) index that `ensure_table` creates."""
        quote = self.engine.dialect.identifier_preparer.quote
        where = f"{quote('__extract_id')} = {mark}"
        params: tuple[Any, ...] = (window.extract_id,)
        if window.date_field is not None:
            assert window.date_from is not None and window.date_to is not None
            where += f" AND {quote(window.date_field)} BETWEEN {mark} AND {mark}"
            params += ((window.date_from.isoformat(), window.date_to.isoformat()) if iso_dates
                       else (window.date_from, window.date_to))
        return where, params

    def _replace_sqlite(self, table_name: str, window: Window, names: list[str],
                        constants: dict[str, Any], batches: Iterable[pa.Table],
                        before_chunk: Callable[[], None] | None) -> int:
        quote = self.engine.dialect.identifier_preparer.quote
        stage = quote(f"stage_{table_name}")
        stage_columns = ", ".join(quote(n) for n in names)
        column_list = ", ".join(quote(n) for n in [*constants, *names])
        marks = ", ".join("?" for _ in names)
        where, params = self._delete_clause(window, "?", iso_dates=True)
        total = 0
        with self.engine.connect() as conn:
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
                    cursor.executemany(insert, sqlite_rows(batch))
                    total += batch.num_rows
                if before_chunk is not None:
                    before_chunk()
                cursor.execute("COMMIT")
                cursor.execute("BEGIN IMMEDIATE")
                cursor.execute(f"DELETE FROM main.{quote(table_name)} WHERE {where}", params)
                values = ", ".join(["?"] * len(constants) + [quote(n) for n in names])
                cursor.execute(f"INSERT INTO main.{quote(table_name)} ({column_list}) "
                               f"SELECT {values} FROM temp.{stage}", tuple(constants.values()))
                cursor.execute("COMMIT")
            finally:
                if raw.in_transaction:
                    cursor.execute("ROLLBACK")
                cursor.execute(f"DROP TABLE IF EXISTS temp.{stage}")
        return total

    def _replace_postgres(self, table_name: str, window: Window, names: list[str],
                          batches: Iterable[pa.Table],
                          before_chunk: Callable[[], None] | None) -> int:
        quote = self.engine.dialect.identifier_preparer.quote
        column_list = ", ".join(quote(n) for n in names)
        where, params = self._delete_clause(window, "%s", iso_dates=False)
        copy_sql = f"COPY {quote(table_name)} ({column_list}) FROM STDIN (FORMAT csv)"
        total = 0
        # MVCC: the transaction locks only the rows it deletes, so other extracts' loads
        # into the same table go on while this one fetches.
        with self.engine.begin() as conn:
            raw: Any = conn.connection.driver_connection
            with raw.cursor() as cursor:
                cursor.execute(f"DELETE FROM {quote(table_name)} WHERE {where}", params)
                for batch in batches:
                    if before_chunk is not None:
                        before_chunk()
                    if batch.num_rows:
                        with cursor.copy(copy_sql) as copy:
                            copy.write(csv_bytes(batch))
                    total += batch.num_rows
                if before_chunk is not None:
                    before_chunk()
        return total

    def _replace_duckdb(self, table_name: str, window: Window, schema: pa.Schema,
                        batches: Iterable[pa.Table],
                        before_chunk: Callable[[], None] | None) -> int:
        quote = self.engine.dialect.identifier_preparer.quote
        column_list = ", ".join(quote(n) for n in schema.names)
        where, params = self._delete_clause(window, "?", iso_dates=False)
        view = f"load_{table_name}"
        total = 0
        failure: list[BaseException] = []

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
        with self.engine.connect() as conn:
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
                    raw.execute("COMMIT")
                except BaseException:
                    raw.execute("ROLLBACK")
                    raise
            finally:
                raw.unregister(view)
        return total

    def _replace_generic(self, table_name: str, window: Window, names: list[str],
                         batches: Iterable[pa.Table],
                         before_chunk: Callable[[], None] | None) -> int:
        table = self._table(table_name)
        condition = table.c["__extract_id"] == window.extract_id
        if window.date_field is not None:
            condition &= table.c[window.date_field].between(window.date_from, window.date_to)
        total = 0
        with self.engine.begin() as conn:
            conn.execute(table.delete().where(condition))
            for batch in batches:
                if before_chunk is not None:
                    before_chunk()
                if batch.num_rows:
                    conn.execute(table.insert(), batch.to_pylist())
                total += batch.num_rows
            if before_chunk is not None:
                before_chunk()
        return total

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
        """Rows of a data table as a DataFrame, newest `order_by` first."""
        table = self._table(table_name)
        if not table.columns:
            return pd.DataFrame()
        query = select(table)
        if extract_id is not None:
            query = query.where(table.c["__extract_id"] == extract_id)
        if order_by is not None:
            query = query.order_by(table.c[order_by].desc())
        query = query.limit(limit).offset(offset)
        with self.engine.connect() as conn:
            return pd.read_sql(query, conn)


ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(), "integer": pa.int64(), "number": pa.float64(),
    "date": pa.date32(), "datetime": pa.timestamp("us"), "boolean": pa.bool_(),
}


def arrow_column(series: pd.Series, type_: str) -> pa.Array:
    """One column converted, vectorised, to the Arrow type of its field; nulls stay null.

    Datetimes are stored in UTC without a zone; text that is not a date becomes null, as
    does a number that is not one.
    """
    target = ARROW_TYPES[type_]
    if type_ in ("date", "datetime"):
        stamps = pd.to_datetime(series, errors="coerce", utc=type_ == "datetime")
        if type_ == "datetime":
            return pc.cast(pa.array(stamps.dt.tz_convert(None), from_pandas=True), target,
                           safe=False)
        if getattr(stamps.dt, "tz", None) is not None:
            stamps = stamps.dt.tz_localize(None)  # the date where it happened, not in UTC
        days = stamps.to_numpy().astype("datetime64[D]")  # in its own unit: no overflow
        return pa.array(days, type=target, from_pandas=True)
    if type_ == "string":
        try:
            return pa.array(series, type=target, from_pandas=True)
        except (pa.ArrowTypeError, pa.ArrowInvalid):  # numbers or other objects: as text
            return pa.array(series.astype(str).where(series.notna(), None), type=target,
                            from_pandas=True)
    if type_ == "boolean":
        if series.dtype != bool:
            series = series.astype("boolean")
        return pa.array(series, type=target, from_pandas=True)
    if series.dtype.kind not in "iuf":
        series = pd.to_numeric(series, errors="coerce")
    if type_ == "integer" and series.dtype.kind == "f":
        series = series.astype("Int64")
    return pa.array(series, type=target, from_pandas=True)


def arrow_table(frame: pd.DataFrame, names: Sequence[str], types: Mapping[str, str],
                constants: dict[str, Any]) -> pa.Table:
    """A chunk as an Arrow table of `names`, in order; `constants` fill whole columns."""
    rows = len(frame)
    zeros = pa.array(np.zeros(rows, dtype=np.int32))
    columns = [pc.take(arrow_column(pd.Series([constants[name]], dtype=object), types[name]),
                       zeros)
               if name in constants else arrow_column(frame[name], types[name])
               for name in names]
    return pa.Table.from_arrays(columns, names=list(names))


def sqlite_rows(batch: pa.Table) -> Iterable[tuple[Any, ...]]:
    """Rows of values the sqlite3 driver binds as they are: dates and datetimes as ISO text
    (SQLAlchemy's SQLite types store them so), booleans as 0/1."""
    columns = []
    for column in batch.columns:
        if pa.types.is_date(column.type) or pa.types.is_timestamp(column.type):
            column = pc.cast(column, pa.string())
        columns.append(column.to_pylist())
    return zip(*columns, strict=True)


def csv_bytes(batch: pa.Table) -> bytes:
    """A chunk as CSV for PostgreSQL's COPY: an unquoted empty field is NULL, text is
    quoted (so an empty string stays one), dates and datetimes in ISO form."""
    sink = io.BytesIO()
    pa_csv.write_csv(batch, sink, pa_csv.WriteOptions(include_header=False))
    return sink.getvalue()
