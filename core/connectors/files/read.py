"""Reading the files as a plan says: batches per format with bounded memory, types conformed."""

from __future__ import annotations

import io
from collections.abc import Generator, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.json as pajson

from core.connectors.base import SourceError
from core.warehouse import arrow

if TYPE_CHECKING:
    from core.connectors.files.plan import Plan

CHUNK_ROWS = 50_000


def chunks(dataset: ds.Dataset, plan: Plan, config: Mapping[str, Any]) -> Iterator[pa.Table]:
    """The plan's rows as Arrow tables: corrected types cast, derived days added, the window
    kept where it could not be pushed down (all with pyarrow.compute)."""
    chunk_rows = int(config.get("chunk_rows") or CHUNK_ROWS)
    try:
        for batch in batches(dataset, plan, chunk_rows):
            if not batch.num_rows:
                continue
            table = pa.Table.from_batches([batch])
            for name, type_ in plan.convert.items():
                table = table.set_column(table.schema.get_field_index(name), name,
                                         arrow.cast(table.column(name), type_))
            for name, base in plan.derived.items():
                table = table.append_column(name, arrow.cast(table.column(base), "date"))
            if plan.window_after is not None:
                column, start, stop = plan.window_after
                days = arrow.cast(table.column(column), "date")
                inside = pc.and_(pc.greater_equal(days, pa.scalar(start, pa.date32())),
                                 pc.less(days, pa.scalar(stop, pa.date32())))
                table = table.filter(pc.fill_null(inside, False))
            yield table
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError, ValueError) as exc:
        raise SourceError(f"cannot read the files at {config['path']}: {exc}") from None


def batches(dataset: ds.Dataset, plan: Plan, chunk_rows: int) -> Iterator[pa.RecordBatch]:
    """The needed columns of the rows that pass the plan's filter, batch by batch."""
    if isinstance(dataset.format, ds.ParquetFileFormat):
        # No read-ahead, no parallel decoding, no pre-buffered column chunks: measured, each
        # makes peak memory grow with the size of the files; without them it stays near one
        # chunk plus one row group (bench/bench_connectors.py). Statistics still skip groups.
        scanner = dataset.scanner(columns=plan.columns, filter=plan.filter,
                                  batch_size=chunk_rows, **frugal(dataset))
        yield from scanner.to_batches()
        return
    # CSV and JSON Lines: arrow's text readers read ahead without bound (their peak memory
    # grows with the file), so read each file in chunks of rows and filter each chunk here.
    wanted = list(dict.fromkeys([*plan.columns, *plan.filter_columns]))
    for path in dataset.files:
        if isinstance(dataset.format, ds.CsvFileFormat):
            tables = csv_tables(path, dataset.schema, wanted, chunk_rows)
        else:
            tables = json_tables(path, dataset.schema)
        for table in tables:
            if plan.filter is not None:
                table = table.filter(plan.filter)
            while any(pa.types.is_struct(f.type) for f in table.schema):
                table = table.flatten()
            yield from table.select(list(plan.columns)).to_batches(chunk_rows)


def frugal(dataset: ds.Dataset) -> dict[str, Any]:
    """Scanner options that keep memory near one batch (and one Parquet row group)."""
    options: dict[str, Any] = {"batch_readahead": 1, "fragment_readahead": 1,
                               "use_threads": False}
    if isinstance(dataset.format, ds.ParquetFileFormat):
        options["fragment_scan_options"] = ds.ParquetFragmentScanOptions(pre_buffer=False)
    return options


def json_tables(path: str, schema: pa.Schema) -> Generator[pa.Table, None, None]:
    """A JSON Lines file, about 4 MB of whole lines at a time, typed as the dataset's schema."""
    options = pajson.ParseOptions(explicit_schema=schema)
    with open(path, "rb") as handle:
        while lines := handle.readlines(4 << 20):
            yield pajson.read_json(io.BytesIO(b"".join(lines)), parse_options=options,
                                   read_options=pajson.ReadOptions(use_threads=False))


def csv_tables(path: str, schema: pa.Schema, columns: list[str], chunk_rows: int
               ) -> Generator[pa.Table, None, None]:
    """A CSV file's `columns`, `chunk_rows` rows at a time, typed as the dataset's schema."""
    wanted = pa.schema([schema.field(name) for name in columns])
    dtypes: dict[str, str] = {}
    for field in wanted:
        if pa.types.is_integer(field.type):
            dtypes[field.name] = "Int64"
        elif pa.types.is_floating(field.type) or pa.types.is_decimal(field.type):
            dtypes[field.name] = "float64"
        elif pa.types.is_boolean(field.type):
            dtypes[field.name] = "boolean"
        else:
            dtypes[field.name] = "string"
    with pd.read_csv(path, usecols=columns, dtype=dtypes,
                     chunksize=chunk_rows) as reader:
        for frame in reader:
            for field in wanted:
                if pa.types.is_date(field.type):
                    frame[field.name] = pd.to_datetime(frame[field.name], errors="coerce"
                                                       ).dt.date
                elif pa.types.is_timestamp(field.type):
                    frame[field.name] = pd.to_datetime(frame[field.name], errors="coerce",
                                                       utc=field.type.tz is not None)
            yield pa.Table.from_pandas(frame, schema=wanted, preserve_index=False, safe=False)
