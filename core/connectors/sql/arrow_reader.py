"""Rows of a fetch straight into Arrow, per database: PostgreSQL through ADBC (libpq's
binary protocol decoded in C, values bound), MariaDB/MySQL through ConnectorX (Rust), SQLite
through SQLAlchemy (its values are Python objects already).

Measured (200,000 rows of ten columns, bench/bench_pipeline.py's source): ADBC and
ConnectorX read PostgreSQL in 0.26 s and 0.20-0.29 s, SQLAlchemy's tuples took 0.64 s before
any DataFrame was built; MariaDB: ConnectorX 0.23 s, PyMySQL tuples into Arrow 2.1 s.
Neither streams a query with bound values, so the values are quoted client-side: by psycopg
with the server's own rules for PostgreSQL, by SQLAlchemy's MySQL literals for MariaDB.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pandas as pd
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from core.connectors import sandbox
from core.connectors.sql import driver_errors, engine
from core.warehouse import arrow


def batches(config: Mapping[str, Any], select: sa.Select[Any], types: Mapping[str, str],
            chunk_rows: int, *, custom: bool = False) -> Iterator[pa.RecordBatch | pa.Table]:
    """The rows of `select` in Arrow chunks of at most `chunk_rows` rows, read in a read-only
    session. A `custom` query (SQL an admin wrote) on MySQL or MariaDB goes through the
    SQLAlchemy driver, whose session is made read-only; ConnectorX's cannot be."""
    url = engine.url_of(config)
    sandbox.check_database(url)
    backend = url.get_backend_name()
    if backend == "postgresql":
        reader = _postgres(url, select)
    elif backend in ("mysql", "mariadb") and not custom:
        _reachable(config)
        reader = _mysql(url, select, chunk_rows)
    else:
        yield from _sqlalchemy(config, select, types, chunk_rows)
        return
    for batch in reader:
        for start in range(0, batch.num_rows, chunk_rows):
            yield batch.slice(start, chunk_rows)


def _postgres(url: URL, select: sa.Select[Any]) -> Iterator[pa.RecordBatch]:
    import adbc_driver_postgresql.dbapi as adbc_postgresql
    import psycopg

    compiled = select.compile(dialect=postgresql.dialect(),
                              compile_kwargs={"render_postcompile": True})
    uri = url.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        # ADBC streams a result through COPY only for a statement without parameters; with
        # bound values it reads the whole result into memory first (measured: +400 MB for a
        # million rows). So the values are quoted by psycopg's client-side binding, with the
        # rules of this very server (its encoding, standard_conforming_strings).
        with psycopg.connect(uri) as quoting:
            statement = psycopg.ClientCursor(quoting).mogrify(str(compiled), compiled.params)
        with adbc_postgresql.connect(uri) as conn, conn.cursor() as cursor:
            cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
            cursor.execute(statement)
            yield from cursor.fetch_record_batch()
    except psycopg.OperationalError as exc:
        raise driver_errors.source_error(exc, url, retry_unreachable=True) from None
    except adbc_postgresql.Error as exc:
        raise driver_errors.source_error(exc, url, retry_unreachable=True) from None


def _reachable(config: Mapping[str, Any]) -> None:
    """Connect once with the SQLAlchemy driver: ConnectorX's pool retries a refused connection
    or a wrong password for 30 s before it says so; this says it at once, in words."""
    url = engine.url_of(config)
    source = engine.engine_of(config)
    try:
        with source.connect():
            pass
    except DBAPIError as exc:
        raise driver_errors.source_error(exc, url, retry_unreachable=True) from None
    finally:
        source.dispose()


def _mysql(url: URL, select: sa.Select[Any], chunk_rows: int) -> Iterator[pa.RecordBatch]:
    import connectorx

    # qmark: no parameter markers to escape, so a % in a value stays one.
    sql = str(select.compile(dialect=mysql.dialect(paramstyle="qmark"),
                             compile_kwargs={"literal_binds": True}))
    uri = url.set(drivername="mysql").render_as_string(hide_password=False)
    try:
        reader = connectorx.read_sql(uri, sql, return_type="arrow_stream",
                                     batch_size=chunk_rows)
        yield from reader
    except (RuntimeError, OSError) as exc:  # ConnectorX says its driver's words in one
        raise driver_errors.source_error(exc, url, retry_unreachable=True) from None


def _sqlalchemy(config: Mapping[str, Any], select: sa.Select[Any], types: Mapping[str, str],
                chunk_rows: int) -> Iterator[pa.Table]:
    url = engine.url_of(config)
    source = engine.engine_of(config)
    try:
        with source.connect() as conn:
            result = conn.execution_options(stream_results=True,
                                            yield_per=chunk_rows).execute(select)
            keys = list(result.keys())
            for rows in result.partitions():
                # SQLite types by value, not by column: pandas takes a column of any mix.
                frame = pd.DataFrame.from_records([tuple(r) for r in rows], columns=keys)
                yield arrow.from_frame(frame, keys, {k: types.get(k, "string") for k in keys})
    except DBAPIError as exc:
        raise driver_errors.source_error(exc, url, retry_unreachable=True) from None
    finally:
        source.dispose()
