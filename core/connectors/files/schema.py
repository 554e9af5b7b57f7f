"""The files of a connection: finding them, opening them as a dataset, inferring field types."""

from __future__ import annotations

import glob
from collections.abc import Mapping
from datetime import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from core.connectors import sandbox, shaping
from core.connectors.base import SourceError
from core.connectors.files import read

SAMPLE_ROWS = 2_000
SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "json",
            ".ndjson": "json", ".json": "json"}
FORMATS = {"csv": "csv", "parquet": "parquet", "jsonl": "json"}


def root(path: str) -> Path:
    """The folder a path or glob starts from (subfolders of it are accounts)."""
    if not _has_glob(path):
        return Path(path)
    parts = Path(path).parts
    stop = next(i for i, p in enumerate(parts) if _has_glob(p))
    return Path(*parts[:stop]) if stop else Path(".")


def find_files(config: Mapping[str, Any]) -> list[Path]:
    """The files at the connection's path, of one format; SourceError saying what to fix."""
    path = str(config["path"])
    sandbox.check_path(root(path), path)
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
    for file in files:  # a symlink inside may point anywhere
        sandbox.check_path(file, str(file))
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


def open_dataset(config: Mapping[str, Any], files: list[Path]
                 ) -> tuple[ds.Dataset, dict[str, str]]:
    """The dataset over `files`, and the columns whose field type was corrected by config."""
    try:
        dataset = ds.dataset([str(f) for f in files], format=SUFFIXES[files[0].suffix.lower()])
    except (pa.ArrowInvalid, OSError) as exc:
        raise SourceError(f"cannot read {files[0]}: {exc}") from None
    return dataset, shaping.column_types(str(config.get("column_types") or ""))


def flat_names(arrow_schema: pa.Schema) -> dict[str, pa.DataType]:
    """Column name -> stored type, nested objects flattened as parent.child."""
    out: dict[str, pa.DataType] = {}

    def walk(prefix: str, type_: pa.DataType) -> None:
        if pa.types.is_struct(type_):
            for child in type_:
                walk(f"{prefix}.{child.name}", child.type)
        else:
            out[prefix] = type_

    for field in arrow_schema:
        walk(field.name, field.type)
    return out


def ref(name: str, arrow_schema: pa.Schema) -> pc.Expression:
    """A column (or a parent.child of a nested one) in a dataset expression."""
    if name in arrow_schema.names:
        return pc.field(name)
    return pc.field(*name.split("."))


def infer_types(config: Mapping[str, Any], files: list[Path]) -> dict[str, str]:
    """The field type of each column of the files, from a sample and config's corrections."""
    dataset, corrected = open_dataset(config, files)
    sample = _sample(dataset, config)
    types: dict[str, str] = {}
    for name, type_ in flat_names(dataset.schema).items():
        kind = _field_type(type_)
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
    return types


def _sample(dataset: ds.Dataset, config: Mapping[str, Any]) -> pa.Table:
    """The first rows of the first file, nested columns flattened."""
    try:
        # The first batch only: Scanner.head reads far more than it returns, and arrow's
        # CSV and JSON readers read ahead through the whole file.
        if isinstance(dataset.format, ds.CsvFileFormat):
            tables = read.csv_tables(dataset.files[0], dataset.schema, dataset.schema.names,
                                     SAMPLE_ROWS)
            sample = next(tables, dataset.schema.empty_table())
            tables.close()
        elif isinstance(dataset.format, ds.JsonFileFormat):
            lines = read.json_tables(dataset.files[0], dataset.schema)
            sample = next(lines, dataset.schema.empty_table()).slice(0, SAMPLE_ROWS)
            lines.close()
        else:
            # The first batch of the first file, read as it is decoded: a dataset scanner
            # decodes a whole row group first (a 2,000-row sample of 100,000-row groups
            # took 109 MB of RSS that way, 42 MB this way).
            with pq.ParquetFile(dataset.files[0]) as parquet:
                first = next(parquet.iter_batches(batch_size=SAMPLE_ROWS), None)
            sample = (pa.Table.from_batches([first]) if first is not None
                      else dataset.schema.empty_table())
        sample = sample.flatten()
    except (pa.ArrowInvalid, OSError, ValueError) as exc:
        raise SourceError(f"cannot read the files at {config['path']}: {exc}") from None
    while any(pa.types.is_struct(f.type) for f in sample.schema):
        sample = sample.flatten()
    return sample


def _field_type(type_: pa.DataType) -> str:
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


def _has_glob(path: str) -> bool:
    return any(c in path for c in "*?[")
