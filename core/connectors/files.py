"""Files: a folder or glob of CSV, Parquet or JSON Lines files, read with pyarrow datasets.

The template's fields come from the schema pyarrow infers from the files (a timestamp that is
always midnight counts as a date; `column_types` corrects the rest). Only the needed columns are
read; the window and the filters that fit the column's stored type become a dataset filter, so
Parquet statistics skip files and row groups outside them. Rows come in chunks of record
batches, so memory does not grow with the files.
"""

from __future__ import annotations

import glob
import io
from collections.abc import Generator, Iterator, Mapping
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.json as pajson

from core.connectors import shaping
from core.connectors.base import (
    FIELD_TYPES,
    AccountSpec,
    ConnectionInfo,
    FetchRequest,
    FetchResult,
    Filter,
    SourceError,
    TemplateSpec,
)
from core.errors import Problem

CHUNK_ROWS = 50_000
SAMPLE_ROWS = 2_000
SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "json",
            ".ndjson": "json", ".json": "json"}
FORMATS = {"csv": "csv", "parquet": "parquet", "jsonl": "json"}
TEMPLATE_NAME = "files"


def _arrow_field_type(type_: pa.DataType) -> str:
    if pa.types.is_boolean(type_):
        return "boolean"
    if pa.types.is_integer(type_):
        return "integer"
    if pa.types.is_floating(type_) or pa.types.is_decimal(type_):
        return "number"
    if pa.types.is_date(type_):
        return "date"
    if pa.types.is_timestamp(type_):
        return "datetime"
    return "string"


def _column_types(text: str) -> dict[str, str]:
    """`"amount=number, day=date"` as a mapping; ValueError naming the bad part."""
    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, type_ = (s.strip() for s in part.partition("="))
        if not sep or not name or type_ not in FIELD_TYPES:
            raise ValueError(f"{part!r} is not name=type with a type among "
                             f"{', '.join(FIELD_TYPES)}")
        out[name] = type_
    return out


def _has_glob(path: str) -> bool:
    return any(c in path for c in "*?[")


def _root(path: str) -> Path:
    """The folder a path or glob starts from (subfolders of it are accounts)."""
    if not _has_glob(path):
        return Path(path)
    parts = Path(path).parts
    stop = next(i for i, p in enumerate(parts) if _has_glob(p))
    return Path(*parts[:stop]) if stop else Path(".")


class Files:
    """CSV, Parquet or JSON Lines files in a folder or matching a glob."""

    name = "files"
    title = "Files (CSV, Parquet, JSON Lines)"
    templates_per_connection = True
    config_schema: ClassVar[Mapping[str, Any]] = {
        "properties": {
            "path": {"type": "string", "title": "Folder or glob",
                     "description": "A folder (read recursively) or a glob such as "
                                    "/data/ads/**/*.parquet."},
            "format": {"type": "string", "title": "Format", "default": "auto",
                       "enum": ["auto", "csv", "parquet", "jsonl"],
                       "description": "auto: by the files' extension."},
            "date_column": {"type": "string", "title": "Date column",
                            "description": "The column that drives windows; empty to pick "
                                           "the likeliest date column."},
            "accounts": {"type": "string", "title": "Accounts", "default": "none",
                         "enum": ["none", "subfolders", "column"],
                         "description": "none: all files are one account; subfolders: each "
                                        "subfolder of the folder is one; column: each value "
                                        "of the account column is one."},
            "account_column": {"type": "string", "title": "Account column"},
            "column_types": {"type": "string", "title": "Column types",
                             "description": "Corrections of inferred types: "
                                            "amount=number, zip=string."},
            "chunk_rows": {"type": "integer", "title": "Rows per chunk", "default": CHUNK_ROWS,
                           "minimum": 100, "maximum": 1_000_000},
        },
        "required": ["path"],
    }

    def validate_config(self, config: Mapping[str, Any]) -> list[Problem]:
        """Settings that go together, and the shape of `column_types`."""
        problems = []
        if config.get("accounts") == "column" and not config.get("account_column"):
            problems.append(Problem("config.account_column",
                                    "is required when accounts is column"))
        try:
            _column_types(str(config.get("column_types") or ""))
        except ValueError as exc:
            problems.append(Problem("config.column_types", str(exc)))
        return problems

    # -- protocol ----------------------------------------------------------------------------

    def check(self, connection: ConnectionInfo) -> str:
        files = _files(connection.config)
        types, _ = _schema(connection.config, files)
        date_column = shaping.choose_date_column(types, connection.config.get("date_column"))
        if date_column is None:
            return (f"Found {len(files)} file(s) with {len(types)} columns and no date column: "
                    "each run loads everything")
        return f"Found {len(files)} file(s) with {len(types)} columns; windows use {date_column}"

    def discover_accounts(self, connection: ConnectionInfo) -> list[AccountSpec]:
        config = connection.config
        files = _files(config)
        mode = config.get("accounts", "none")
        path = str(config["path"])
        if mode == "subfolders":
            root = _root(path)
            names = sorted({f.relative_to(root).parts[0] for f in files
                            if len(f.relative_to(root).parts) > 1})
            if not names:
                raise SourceError(f"{root} has no subfolders with files: put each account's "
                                  "files in a subfolder, or set accounts to none")
            return [AccountSpec(n, n) for n in names]
        if mode == "column":
            column = str(config["account_column"])
            dataset, _ = _dataset(config, files)
            if column not in dataset.schema.names:
                raise SourceError(f"the files have no account column {column!r}; their "
                                  f"columns: {', '.join(dataset.schema.names)}")
            plan = _Plan()
            plan.columns[column] = _ref(column, dataset.schema)
            values: set[str] = set()
            try:
                for batch in _batches(dataset, plan, CHUNK_ROWS):
                    values.update(str(v) for v in pc.unique(batch.column(0)).to_pylist()
                                  if v is not None)
            except (pa.ArrowInvalid, OSError, ValueError) as exc:
                raise SourceError(f"cannot read the files at {path}: {exc}") from None
            return [AccountSpec(v, v) for v in sorted(values)]
        return [AccountSpec("all", f"All files at {path}"[:200])]

    def templates(self, connection: ConnectionInfo) -> list[TemplateSpec]:
        config = connection.config
        types, _ = _schema(config, _files(config))
        wanted = config.get("date_column") or None
        if wanted and types.get(wanted) not in ("date", "datetime"):
            found = types.get(wanted)
            raise SourceError(f"date column {wanted!r} "
                              + (f"holds {found} values" if found else "is not in the files")
                              + "; pick one of "
                              + (", ".join(n for n, t in types.items()
                                           if t in ("date", "datetime")) or "none")
                              + " or correct its type in column_types")
        date_column = shaping.choose_date_column(types, wanted)
        fields, date_field = shaping.build_fields(types, date_column)
        return [TemplateSpec(
            name=TEMPLATE_NAME, title=f"Files at {config['path']}"[:200],
            description="Rows of the files"
                        + (f"; the window applies to {date_column}." if date_column else "."),
            fields=fields, date_field=date_field,
            default_fields=tuple(f.name for f in fields[:30]),
        )]

    def fetch(self, request: FetchRequest) -> FetchResult:
        config = request.connection.config
        files = _files(config)
        if config.get("accounts") == "subfolders":
            root = _root(str(config["path"]))
            files = [f for f in files if f.relative_to(root).parts[0]
                     == request.account.external_id and len(f.relative_to(root).parts) > 1]
            if not files:
                raise SourceError(f"no files left in subfolder {request.account.external_id!r} "
                                  f"of {root}")
        dataset, corrected = _dataset(config, files)
        plan = _plan(request, dataset.schema, corrected)
        return FetchResult(chunks=_chunks(dataset, plan, request, config),
                           filters_applied=plan.all_filters_pushed)


# -- reading ---------------------------------------------------------------------------------

def _files(config: Mapping[str, Any]) -> list[Path]:
    path = str(config["path"])
    if _has_glob(path):
        found = [Path(p) for p in glob.glob(path, recursive=True)]
    elif Path(path).is_dir():
        found = list(Path(path).rglob("*"))
    elif Path(path).is_file():
        found = [Path(path)]
    else:
        raise SourceError(f"folder or file {path} is missing: check the path (on the machine "
                          "that runs the extracts)")
    files = sorted(f for f in found if f.is_file() and f.suffix.lower() in SUFFIXES
                   and not f.name.startswith((".", "_")))
    wanted = config.get("format", "auto")
    if wanted != "auto":
        files = [f for f in files if SUFFIXES[f.suffix.lower()] == FORMATS[wanted]]
    if not files:
        kind = wanted if wanted != "auto" else "CSV, Parquet or JSON Lines"
        raise SourceError(f"no {kind} files at {path}: check the path and the format")
    formats = {SUFFIXES[f.suffix.lower()] for f in files}
    if len(formats) > 1:
        raise SourceError(f"{path} mixes {' and '.join(sorted(formats))} files: set format, "
                          "or narrow the path with a glob")
    return files


def _format(files: list[Path]) -> str:
    return SUFFIXES[files[0].suffix.lower()]


def _dataset(config: Mapping[str, Any], files: list[Path]) -> tuple[ds.Dataset, dict[str, str]]:
    """The dataset over `files`, and the columns whose field type was corrected by config."""
    try:
        dataset = ds.dataset([str(f) for f in files], format=_format(files))
    except (pa.ArrowInvalid, OSError) as exc:
        raise SourceError(f"cannot read {files[0]}: {exc}") from None
    return dataset, _column_types(str(config.get("column_types") or ""))


def _flat_names(schema: pa.Schema) -> dict[str, pa.DataType]:
    """Column name -> stored type, nested objects flattened as parent.child."""
    out: dict[str, pa.DataType] = {}

    def walk(prefix: str, type_: pa.DataType) -> None:
        if pa.types.is_struct(type_):
            for child in type_:
                walk(f"{prefix}.{child.name}", child.type)
        else:
            out[prefix] = type_

    for field in schema:
        walk(field.name, field.type)
    return out


def _ref(name: str, schema: pa.Schema) -> pc.Expression:
    if name in schema.names:
        return pc.field(name)
    return pc.field(*name.split("."))


def _schema(config: Mapping[str, Any], files: list[Path]) -> tuple[dict[str, str],
                                                                 dict[str, pa.DataType]]:
    """Field types (from a sample and config) and stored types of the files' columns."""
    dataset, corrected = _dataset(config, files)
    stored = _flat_names(dataset.schema)
    try:
        # The first batch only: Scanner.head reads far more than it returns, and arrow's
        # CSV and JSON readers read ahead through the whole file.
        if isinstance(dataset.format, ds.CsvFileFormat):
            tables = _csv_tables(dataset.files[0], dataset.schema, dataset.schema.names,
                                 SAMPLE_ROWS)
            sample = next(tables, dataset.schema.empty_table())
            tables.close()
        elif isinstance(dataset.format, ds.JsonFileFormat):
            lines = _json_tables(dataset.files[0], dataset.schema)
            sample = next(lines, dataset.schema.empty_table()).slice(0, SAMPLE_ROWS)
            lines.close()
        else:
            batches = dataset.scanner(batch_size=SAMPLE_ROWS, **_frugal(dataset)).to_batches()
            first = next(iter(batches), None)
            sample = (pa.Table.from_batches([first]) if first is not None
                      else dataset.schema.empty_table())
        sample = sample.flatten()
    except (pa.ArrowInvalid, OSError, ValueError) as exc:
        raise SourceError(f"cannot read the files at {config['path']}: {exc}") from None
    while any(pa.types.is_struct(f.type) for f in sample.schema):
        sample = sample.flatten()
    types: dict[str, str] = {}
    for name, type_ in stored.items():
        kind = _arrow_field_type(type_)
        if kind == "datetime" and name in sample.column_names:
            # JSON readers parse "2025-01-31" as a timestamp: always midnight means a date.
            values = [v for v in sample.column(name).to_pylist() if v is not None]
            if values and all(v.time() == time() for v in values):
                kind = "date"
        types[name] = corrected.get(name, kind)
    unknown = sorted(set(corrected) - set(types))
    if unknown:
        raise SourceError(f"column_types names column(s) {', '.join(unknown)} the files do not "
                          f"have; their columns: {', '.join(types)}")
    return types, stored


class _Plan:
    """What to read (columns), what to skip (a dataset filter) and what to derive."""

    def __init__(self) -> None:
        self.columns: dict[str, pc.Expression] = {}
        self.filter: pc.Expression | None = None
        self.derived: dict[str, str] = {}
        self.convert: dict[str, str] = {}
        # A window on a column whose type config corrected: applied after conversion.
        self.window_after: tuple[str, date, date] | None = None
        self.all_filters_pushed = True
        self.filter_columns: set[str] = set()

    def keep(self, expression: pc.Expression, column: str) -> None:
        self.filter = expression if self.filter is None else self.filter & expression
        self.filter_columns.add(column)


def _scalar(value: Any, stored: pa.DataType) -> pa.Scalar:
    if isinstance(value, date) and not isinstance(value, datetime) \
            and pa.types.is_timestamp(stored):
        value = datetime.combine(value, time())
    return pa.scalar(value, type=stored)


def _fits(field_type: str, stored: pa.DataType) -> bool:
    """Whether a filter value of `field_type` compares safely with a stored column."""
    return {
        "string": pa.types.is_string(stored) or pa.types.is_large_string(stored),
        "integer": pa.types.is_integer(stored),
        "number": pa.types.is_integer(stored) or pa.types.is_floating(stored),
        "boolean": pa.types.is_boolean(stored),
        "date": pa.types.is_date(stored),
        "datetime": pa.types.is_timestamp(stored),
    }[field_type]


def _window(column: pc.Expression, stored: pa.DataType, start: date, stop: date
            ) -> pc.Expression | None:
    """start <= column < stop (stop exclusive), in the column's stored type."""
    if pa.types.is_date(stored) or pa.types.is_timestamp(stored):
        return (column >= _scalar(start, stored)) & (column < _scalar(stop, stored))
    if pa.types.is_string(stored) or pa.types.is_large_string(stored):
        # ISO text sorts as time does: "2025-01-31" and "2025-01-31T10:00" < "2025-02-01".
        return (column >= start.isoformat()) & (column < stop.isoformat())
    return None


def _plan(request: FetchRequest, schema: pa.Schema, corrected: Mapping[str, str]) -> _Plan:
    plan = _Plan()
    stored = _flat_names(schema)
    types = {f.name: f.type for f in request.template.fields}
    config = request.connection.config

    def need(name: str) -> None:
        base = shaping.derived_base(name, types)
        if base is not None:
            plan.derived[name] = base
            name = base
        if name not in stored:
            raise SourceError(f"the files have no column {name!r} any more: their columns are "
                              f"{', '.join(stored)}; refresh the connection's templates")
        plan.columns[name] = _ref(name, schema)
        if name in corrected:
            plan.convert[name] = corrected[name]

    for name in request.fields:
        need(name)
    if config.get("accounts") == "column":
        column = str(config["account_column"])
        if column not in stored:
            raise SourceError(f"the files have no account column {column!r}")
        value: Any = request.account.external_id
        if pa.types.is_integer(stored[column]):
            value = int(value)
        plan.keep(_ref(column, schema) == _scalar(value, stored[column]), column)
    date_field = request.template.date_field
    if date_field and request.date_from and request.date_to:
        column = shaping.derived_base(date_field, types) or date_field
        stop = request.date_to + timedelta(days=1)
        window = None if column in corrected else _window(_ref(column, schema), stored[column],
                                                          request.date_from, stop)
        if window is not None:
            plan.keep(window, column)
        else:
            need(column)
            plan.window_after = (column, request.date_from, stop)
    for item in shaping.typed_filters(request):
        pushed = None
        if item.field in stored and item.field not in corrected \
                and _fits(types[item.field], stored[item.field]):
            pushed = _condition(_ref(item.field, schema), stored[item.field], item)
        if pushed is None:
            plan.all_filters_pushed = False
            need(item.field)
        else:
            plan.keep(pushed, item.field)
    return plan


def _condition(column: pc.Expression, stored: pa.DataType, item: Filter) -> pc.Expression:
    value = item.value

    def s(v: Any) -> pa.Scalar:
        return _scalar(v, stored)

    def values() -> pa.Array:
        return pa.array([s(v).as_py() for v in value], type=stored)

    conditions: dict[str, Any] = {
        "eq": lambda: column == s(value),
        "ne": lambda: (column != s(value)) & column.is_valid(),
        "in": lambda: column.isin(values()),
        "not_in": lambda: ~column.isin(values()) & column.is_valid(),
        "is_null": lambda: column.is_null(),
        "is_not_null": lambda: column.is_valid(),
        "gt": lambda: column > s(value),
        "gte": lambda: column >= s(value),
        "lt": lambda: column < s(value),
        "lte": lambda: column <= s(value),
        "between": lambda: (column >= s(value[0])) & (column <= s(value[1])),
        "contains": lambda: pc.match_substring(column, value),
        "not_contains": lambda: ~pc.match_substring(column, value) & column.is_valid(),
        "starts_with": lambda: pc.starts_with(column, value),
        "ends_with": lambda: pc.ends_with(column, value),
    }
    result: pc.Expression = conditions[item.operator]()
    return result


def _conform(series: pd.Series, type_: str) -> pd.Series:
    """A column of a corrected type, converted so filters and the warehouse see that type."""
    if type_ in ("integer", "number"):
        numbers = pd.to_numeric(series, errors="coerce")
        return numbers.astype("Int64") if type_ == "integer" else numbers.astype(float)
    if type_ in ("date", "datetime"):
        stamps = pd.to_datetime(series, errors="coerce")
        return stamps.dt.date if type_ == "date" else stamps
    if type_ == "boolean":
        text = series.astype("string").str.lower()
        return text.map({"true": True, "1": True, "yes": True, "false": False, "0": False,
                         "no": False}).astype("boolean")
    return series.astype("string")


def _frugal(dataset: ds.Dataset) -> dict[str, Any]:
    """Scanner options that keep memory near one batch (and one Parquet row group)."""
    options: dict[str, Any] = {"batch_readahead": 1, "fragment_readahead": 1,
                               "use_threads": False}
    if isinstance(dataset.format, ds.ParquetFileFormat):
        options["fragment_scan_options"] = ds.ParquetFragmentScanOptions(pre_buffer=False)
    return options


def _batches(dataset: ds.Dataset, plan: _Plan, chunk_rows: int) -> Iterator[pa.RecordBatch]:
    """The needed columns of the rows that pass the plan's filter, batch by batch."""
    if isinstance(dataset.format, ds.ParquetFileFormat):
        # No read-ahead, no parallel decoding, no pre-buffered column chunks: measured, each
        # makes peak memory grow with the size of the files; without them it stays near one
        # chunk plus one row group (bench/bench_connectors.py). Statistics still skip groups.
        scanner = dataset.scanner(columns=plan.columns, filter=plan.filter,
                                  batch_size=chunk_rows, **_frugal(dataset))
        yield from scanner.to_batches()
        return
    # CSV and JSON Lines: arrow's text readers read ahead without bound (their peak memory
    # grows with the file), so read each file in chunks of rows and filter each chunk here.
    wanted = list(dict.fromkeys([*plan.columns, *plan.filter_columns]))
    for path in dataset.files:
        if isinstance(dataset.format, ds.CsvFileFormat):
            tables = _csv_tables(path, dataset.schema, wanted, chunk_rows)
        else:
            tables = _json_tables(path, dataset.schema)
        for table in tables:
            if plan.filter is not None:
                table = table.filter(plan.filter)
            while any(pa.types.is_struct(f.type) for f in table.schema):
                table = table.flatten()
            yield from table.select(list(plan.columns)).to_batches(chunk_rows)


def _json_tables(path: str, schema: pa.Schema) -> Generator[pa.Table, None, None]:
    """A JSON Lines file, about 4 MB of whole lines at a time, typed as the dataset's schema."""
    options = pajson.ParseOptions(explicit_schema=schema)
    with open(path, "rb") as handle:
        while lines := handle.readlines(4 << 20):
            yield pajson.read_json(io.BytesIO(b"".join(lines)), parse_options=options,
                                   read_options=pajson.ReadOptions(use_threads=False))


def _csv_tables(path: str, schema: pa.Schema, columns: list[str], chunk_rows: int
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


def _chunks(dataset: ds.Dataset, plan: _Plan, request: FetchRequest,
            config: Mapping[str, Any]) -> Iterator[pd.DataFrame]:
    chunk_rows = int(config.get("chunk_rows") or CHUNK_ROWS)
    try:
        for batch in _batches(dataset, plan, chunk_rows):
            if not batch.num_rows:
                continue
            frame = batch.to_pandas()
            for name, type_ in plan.convert.items():
                frame[name] = _conform(frame[name], type_)
            for name, base in plan.derived.items():
                frame[name] = pd.to_datetime(frame[base], errors="coerce").dt.date
            if plan.window_after is not None:
                column, start, stop = plan.window_after
                days = pd.to_datetime(frame[column], errors="coerce")
                frame = frame[((days >= pd.Timestamp(start))
                               & (days < pd.Timestamp(stop))).to_numpy(dtype=bool)]
            yield frame
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError, ValueError) as exc:
        raise SourceError(f"cannot read the files at {config['path']}: {exc}") from None
