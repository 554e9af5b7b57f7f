"""Data tables in the warehouse: create and evolve columns, replace a window, read back."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import (
    BigInteger,
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
    Text,
    func,
    inspect,
    select,
)
from sqlalchemy.types import TypeEngine

from core import errors
from core.connectors.base import FieldSpec

SQL_TYPES: dict[str, type[TypeEngine[Any]]] = {
    "string": Text, "integer": BigInteger, "number": Float, "date": Date,
    "datetime": DateTime, "boolean": Boolean,
}
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
        inspector = inspect(self.engine)
        if not inspector.has_table(table_name):
            return {}
        return {c["name"]: _type_name(c["type"]) for c in inspector.get_columns(table_name)}

    def ensure_table(self, table_name: str, fields: Sequence[FieldSpec],
                     date_field: str | None, title: str = "") -> None:
        """Create the table, or add the columns it lacks; refuse a type that no longer fits."""
        existing = self.columns(table_name)
        wanted = [*SYSTEM_COLUMNS, *fields]
        if not existing:
            table = Table(table_name, MetaData(),
                          *(Column(f.name, SQL_TYPES[f.type]()) for f in wanted))
            keys = [table.c["__extract_id"]] + ([table.c[date_field]] if date_field else [])
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

        The chunks are staged first; the delete of the old rows and the insert of the new
        ones then happen in ONE transaction. Any error (or `before_chunk` raising, e.g. on
        cancel) leaves the table exactly as it was. Returns the number of rows loaded.
        """
        names = [*system_values, *(f.name for f in fields)]
        types = {**{c.name: c.type for c in SYSTEM_COLUMNS}, **{f.name: f.type for f in fields}}

        def rows_of(frame: pd.DataFrame) -> list[tuple[Any, ...]]:
            columns = [_db_values(np.full(len(frame), value, dtype=object)
                                  if name in system_values else frame[name],
                                  types[name], self._iso_dates)
                       for name, value in ((n, system_values.get(n)) for n in names)]
            return list(zip(*columns, strict=True))

        if self.engine.dialect.name == "sqlite":
            return self._replace_sqlite(table_name, window, names, chunks, rows_of, before_chunk)
        return self._replace_generic(table_name, window, names, chunks, rows_of, before_chunk)

    @property
    def _iso_dates(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def _delete_clause(self, window: Window, quote: Callable[[str], str]
                       ) -> tuple[str, tuple[Any, ...]]:
        where = f"{quote('__extract_id')} = ?"
        params: tuple[Any, ...] = (window.extract_id,)
        if window.date_field is not None:
            assert window.date_from is not None and window.date_to is not None
            where += f" AND {quote(window.date_field)} BETWEEN ? AND ?"
            params += (window.date_from.isoformat(), window.date_to.isoformat())
        return where, params

    def _replace_sqlite(self, table_name: str, window: Window, names: list[str],
                        chunks: Iterable[pd.DataFrame],
                        rows_of: Callable[[pd.DataFrame], list[tuple[Any, ...]]],
                        before_chunk: Callable[[], None] | None) -> int:
        quote = self.engine.dialect.identifier_preparer.quote
        stage = quote(f"stage_{table_name}")
        column_list = ", ".join(quote(n) for n in names)
        marks = ", ".join("?" for _ in names)
        where, params = self._delete_clause(window, quote)
        total = 0
        with self.engine.connect() as conn:
            raw: Any = conn.connection.driver_connection
            cursor = raw.cursor()
            # A TEMP table lives in the connection's own file: staging takes no lock on the
            # warehouse, so other loads go on while this one fetches.
            cursor.execute(f"DROP TABLE IF EXISTS temp.{stage}")
            cursor.execute(f"CREATE TEMP TABLE {stage} AS SELECT {column_list} "
                           f"FROM main.{quote(table_name)} WHERE 0")
            try:
                cursor.execute("BEGIN")
                for frame in chunks:
                    if before_chunk is not None:
                        before_chunk()
                    cursor.executemany(f"INSERT INTO temp.{stage} VALUES ({marks})",
                                       rows_of(frame))
                    total += len(frame)
                if before_chunk is not None:
                    before_chunk()
                cursor.execute("COMMIT")
                cursor.execute("BEGIN IMMEDIATE")
                cursor.execute(f"DELETE FROM main.{quote(table_name)} WHERE {where}", params)
                cursor.execute(f"INSERT INTO main.{quote(table_name)} ({column_list}) "
                               f"SELECT {column_list} FROM temp.{stage}")
                cursor.execute("COMMIT")
            finally:
                if raw.in_transaction:
                    cursor.execute("ROLLBACK")
                cursor.execute(f"DROP TABLE IF EXISTS temp.{stage}")
        return total

    def _replace_generic(self, table_name: str, window: Window, names: list[str],
                         chunks: Iterable[pd.DataFrame],
                         rows_of: Callable[[pd.DataFrame], list[tuple[Any, ...]]],
                         before_chunk: Callable[[], None] | None) -> int:
        table = Table(table_name, MetaData(), autoload_with=self.engine)
        condition = table.c["__extract_id"] == window.extract_id
        if window.date_field is not None:
            condition &= table.c[window.date_field].between(window.date_from, window.date_to)
        total = 0
        with self.engine.begin() as conn:
            conn.execute(table.delete().where(condition))
            for frame in chunks:
                if before_chunk is not None:
                    before_chunk()
                rows = [dict(zip(names, row, strict=True)) for row in rows_of(frame)]
                if rows:
                    conn.execute(table.insert(), rows)
                total += len(frame)
            if before_chunk is not None:
                before_chunk()
        return total

    def delete_rows(self, table_name: str, extract_id: int) -> int:
        """Delete every row an extract wrote; return how many."""
        if not self.columns(table_name):
            return 0
        table = Table(table_name, MetaData(), autoload_with=self.engine)
        with self.engine.begin() as conn:
            result = conn.execute(table.delete().where(table.c["__extract_id"] == extract_id))
        return result.rowcount

    # -- reading ---------------------------------------------------------------------------

    def count_rows(self, table_name: str, extract_id: int | None = None) -> int:
        """Rows in a data table, optionally only those of one extract."""
        if not self.columns(table_name):
            return 0
        table = Table(table_name, MetaData(), autoload_with=self.engine)
        query = select(func.count()).select_from(table)
        if extract_id is not None:
            query = query.where(table.c["__extract_id"] == extract_id)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def earliest_date(self, table_name: str, extract_id: int, date_field: str) -> date | None:
        """The earliest date of data an extract has loaded, or None."""
        if date_field not in self.columns(table_name):
            return None
        table = Table(table_name, MetaData(), autoload_with=self.engine)
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
        if not self.columns(table_name):
            return pd.DataFrame()
        table = Table(table_name, MetaData(), autoload_with=self.engine)
        query = select(table)
        if extract_id is not None:
            query = query.where(table.c["__extract_id"] == extract_id)
        if order_by is not None:
            query = query.order_by(table.c[order_by].desc())
        query = query.limit(limit).offset(offset)
        with self.engine.connect() as conn:
            return pd.read_sql(query, conn)


def _db_values(column: Any, type_: str, iso_dates: bool) -> list[Any]:
    """A column converted, column-wise, to values the database driver takes; nulls as None."""
    series = column if isinstance(column, pd.Series) else pd.Series(column)
    if type_ in ("date", "datetime"):
        stamps = pd.to_datetime(series, errors="coerce", utc=type_ == "datetime")
        if type_ == "datetime":
            stamps = stamps.dt.tz_convert(None)
        if iso_dates:
            fmt = "%Y-%m-%d" if type_ == "date" else "%Y-%m-%d %H:%M:%S.%f"
            text = stamps.dt.strftime(fmt)
            return text.astype(object).where(stamps.notna(), None).tolist()
        values = stamps.dt.date if type_ == "date" else stamps.dt.to_pydatetime()
        return pd.Series(values, dtype=object).where(stamps.notna(), None).tolist()
    if type_ == "boolean":
        return series.astype(object).where(series.notna(), None).map(
            lambda v: v if v is None else bool(v)).tolist()
    if series.dtype.kind in "iuf" and not series.isna().any():
        return (series.astype(float) if type_ == "number" else series).tolist()
    if type_ == "integer":
        series = pd.to_numeric(series, errors="coerce").astype("Int64")
    if type_ == "string":
        return series.astype(object).where(series.notna(), None).map(
            lambda v: v if v is None or isinstance(v, str) else str(v)).tolist()
    return series.astype(object).where(series.notna(), None).tolist()
