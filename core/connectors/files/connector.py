"""The `files` connector: its settings, accounts (none, subfolders, a column), template, fetch."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.compute as pc

from core.connectors import shaping
from core.connectors.base import (
    AccountSpec,
    ConnectionInfo,
    FetchRequest,
    FetchResult,
    SourceError,
    TemplateSpec,
)
from core.connectors.files import plan, read, schema
from core.errors import Problem

TEMPLATE_NAME = "files"


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
            "account_column": {"type": "string", "title": "Account column",
                               "description": "The column whose values are the accounts "
                                              "(accounts: column)."},
            "column_types": {"type": "string", "title": "Column types",
                             "description": "Corrections of inferred types: "
                                            "amount=number, zip=string."},
            "chunk_rows": {"type": "integer", "title": "Rows per chunk",
                           "default": read.CHUNK_ROWS, "minimum": 100, "maximum": 1_000_000,
                           "description": "Rows a run reads and loads at a time."},
        },
        "required": ["path"],
    }

    def validate_config(self, config: Mapping[str, Any]) -> list[Problem]:
        """Settings that go together, and the shape of `column_types`."""
        problems = []
        if config.get("accounts") == "column" and not config.get("account_column"):
            problems.append(Problem("config.account_column",
                                    "is required when accounts is column"))
        problems += shaping.column_types_problems(config)
        return problems

    # -- protocol ----------------------------------------------------------------------------

    def check(self, connection: ConnectionInfo) -> str:
        files = schema.find_files(connection.config)
        types = schema.infer_types(connection.config, files)
        date_column = shaping.choose_date_column(types, connection.config.get("date_column"))
        if date_column is None:
            return (f"Found {len(files)} file(s) with {len(types)} columns and no date column: "
                    "each run loads everything")
        return f"Found {len(files)} file(s) with {len(types)} columns; windows use {date_column}"

    def discover_accounts(self, connection: ConnectionInfo) -> list[AccountSpec]:
        config = connection.config
        files = schema.find_files(config)
        mode = config.get("accounts", "none")
        path = str(config["path"])
        if mode == "subfolders":
            root = schema.root(path)
            names = sorted({f.relative_to(root).parts[0] for f in files
                            if len(f.relative_to(root).parts) > 1})
            if not names:
                raise SourceError(f"{root} has no subfolders with files: put each account's "
                                  "files in a subfolder, or set accounts to none")
            return [AccountSpec(n, n) for n in names]
        if mode == "column":
            column = str(config["account_column"])
            dataset, _ = schema.open_dataset(config, files)
            if column not in dataset.schema.names:
                raise SourceError(f"the files have no account column {column!r}; their "
                                  f"columns: {', '.join(dataset.schema.names)}")
            just_the_column = plan.Plan()
            just_the_column.columns[column] = schema.ref(column, dataset.schema)
            values: set[str] = set()
            try:
                for batch in read.batches(dataset, just_the_column, read.CHUNK_ROWS):
                    values.update(str(v) for v in pc.unique(batch.column(0)).to_pylist()
                                  if v is not None)
            except (pa.ArrowInvalid, OSError, ValueError) as exc:
                raise SourceError(f"cannot read the files at {path}: {exc}") from None
            return [AccountSpec(v, v) for v in sorted(values)]
        return [AccountSpec("all", f"All files at {path}"[:200])]

    def templates(self, connection: ConnectionInfo) -> list[TemplateSpec]:
        config = connection.config
        types = schema.infer_types(config, schema.find_files(config))
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
        files = schema.find_files(config)
        if config.get("accounts") == "subfolders":
            root = schema.root(str(config["path"]))
            files = [f for f in files if f.relative_to(root).parts[0]
                     == request.account.external_id and len(f.relative_to(root).parts) > 1]
            if not files:
                raise SourceError(f"no files left in subfolder {request.account.external_id!r} "
                                  f"of {root}")
        dataset, corrected = schema.open_dataset(config, files)
        fetch_plan = plan.for_fetch(request, dataset.schema, corrected)
        return FetchResult(chunks=read.chunks(dataset, fetch_plan, config),
                           filters_applied=fetch_plan.all_filters_pushed,
                           window_applied=fetch_plan.window_exact)
