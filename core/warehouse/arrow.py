"""Chunks as Arrow: each column converted, vectorised, to the Arrow type of its field, and
an Arrow table as each database's bulk path takes it (SQLite rows, PostgreSQL CSV)."""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

TYPES: dict[str, pa.DataType] = {
    "string": pa.string(), "integer": pa.int64(), "number": pa.float64(),
    "date": pa.date32(), "datetime": pa.timestamp("us"), "boolean": pa.bool_(),
}


def column(series: pd.Series, type_: str) -> pa.Array:
    """One column converted, vectorised, to the Arrow type of its field; nulls stay null.

    Datetimes are stored in UTC without a zone; text that is not a date becomes null, as
    does a number that is not one.
    """
    target = TYPES[type_]
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


def table(frame: pd.DataFrame, names: Sequence[str], types: Mapping[str, str],
          constants: dict[str, Any]) -> pa.Table:
    """A chunk as an Arrow table of `names`, in order; `constants` fill whole columns."""
    rows = len(frame)
    zeros = pa.array(np.zeros(rows, dtype=np.int32))
    columns = [pc.take(column(pd.Series([constants[name]], dtype=object), types[name]), zeros)
               if name in constants else column(frame[name], types[name])
               for name in names]
    return pa.Table.from_arrays(columns, names=list(names))


def sqlite_rows(batch: pa.Table) -> Iterable[tuple[Any, ...]]:
    """Rows of values the sqlite3 driver binds as they are: dates and datetimes as ISO text
    (SQLAlchemy's SQLite types store them so), booleans as 0/1."""
    columns = []
    for values in batch.columns:
        if pa.types.is_date(values.type) or pa.types.is_timestamp(values.type):
            values = pc.cast(values, pa.string())
        columns.append(values.to_pylist())
    return zip(*columns, strict=True)


def csv_bytes(batch: pa.Table) -> bytes:
    """A chunk as CSV for PostgreSQL's COPY: an unquoted empty field is NULL, text is
    quoted (so an empty string stays one), dates and datetimes in ISO form."""
    sink = io.BytesIO()
    pa_csv.write_csv(batch, sink, pa_csv.WriteOptions(include_header=False))
    return sink.getvalue()
