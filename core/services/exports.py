"""Exports: a data table, or the rows of one run, written as CSV or Parquet to a file under
the var directory by a background thread, chunk by chunk (memory stays flat, no read on the
warehouse lasts longer than one chunk), with progress a page can poll; then downloaded.

An export is a folder `<var>/exports/<token>/` holding `export.json` (what, progress,
outcome) and, once done, the file. The token is random: it names the export in the download
address, so only who started it (or was given the link) can fetch it.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
import secrets
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy.orm import Session

from core import errors
from core.clock import utcnow
from core.config import Settings
from core.db import Database, database_of
from core.models import DataTable, Run
from core.services.common import load
from core.warehouse import arrow, chunks

log = logging.getLogger(__name__)
FORMATS = ("csv", "parquet")
CHUNK_ROWS = 50_000
KEEP = timedelta(days=1)  # finished exports are deleted when a new one starts a day later
_TOKEN = re.compile(r"[0-9a-f]{32}")
_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="export")
_write_lock = threading.Lock()


@dataclass(frozen=True)
class Export:
    """One export: what it holds, how far it is, and where its file is once done."""

    token: str
    title: str
    file_name: str
    format: str
    data_table_id: int
    run_id: int | None
    state: str  # "running", "done" or "failed"
    rows_done: int
    rows_total: int
    created_at: str
    finished_at: str | None = None
    error: str | None = None

    @property
    def progress(self) -> float:
        """Share of the rows written, 0-1."""
        return 1.0 if self.state == "done" or not self.rows_total else \
            min(1.0, self.rows_done / self.rows_total)


def exports_dir(settings: Settings) -> Path:
    return settings.var_dir / "exports"


def _folder(database: Database | Settings, token: str) -> Path:
    if not _TOKEN.fullmatch(token):
        raise errors.NotFound(f"export {token!r} does not exist")
    settings = database.settings if isinstance(database, Database) else database
    return exports_dir(settings) / token


def _save(database: Database, export: Export) -> None:
    folder = _folder(database, export.token)
    with _write_lock:
        partial = folder / "export.json.part"
        partial.write_text(json.dumps(asdict(export)))
        os.replace(partial, folder / "export.json")


def _read(folder: Path) -> Export | None:
    try:
        return Export(**json.loads((folder / "export.json").read_text()))
    except (OSError, ValueError, TypeError):
        return None


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "export"


def start_export(*, session: Session, data_table_id: int | None = None,
                 run_id: int | None = None, format: str = "csv",
                 now: datetime | None = None) -> Export:
    """Start exporting a data table, or the rows one run loaded, as CSV or Parquet; returns
    at once with the export, whose progress `get_export` follows."""
    if format not in FORMATS:
        raise errors.Invalid(f"must be one of {', '.join(FORMATS)}, not {format!r}",
                             field="format")
    if (data_table_id is None) == (run_id is None):
        raise errors.Invalid("give a data table or a run to export", field="data_table_id")
    database = database_of(session)
    now = now or utcnow()
    equal: dict[str, Any] = {}
    if run_id is not None:
        run = load(session, Run, run_id, "run")
        table = run.extract.data_table
        equal["__run_id"] = run.id
        window = (f"{run.date_from}_{run.date_to}" if run.date_from and run.date_to
                  else "everything")
        title = f"{table.title}, run {run.id} ({window.replace('_', ' to ')})"
        stem = f"{table.table_name}_{window}_run{run.id}"
    else:
        assert data_table_id is not None
        table = load(session, DataTable, data_table_id, "data table")
        title = table.title
        stem = table.table_name
    columns = database.warehouse.columns(table.table_name)
    if not columns:
        raise errors.Conflict(f"data table {table.title!r} has no rows yet; run an extract "
                              "that writes to it first")
    _forget_old(database, now)
    export = Export(token=secrets.token_hex(16), title=title,
                    file_name=f"{_safe(stem)}.{format}", format=format,
                    data_table_id=table.id, run_id=run_id, state="running", rows_done=0,
                    rows_total=0, created_at=now.isoformat())
    _folder(database, export.token).mkdir(parents=True)
    _save(database, export)
    _pool.submit(_write, database, export, table.table_name, columns, equal)
    return export


def _write(database: Database, export: Export, table_name: str, columns: dict[str, str],
           equal: dict[str, Any]) -> None:
    """The background part: count, then write chunk by chunk, saving progress after each."""
    folder = _folder(database, export.token)
    partial = folder / (export.file_name + ".part")
    engine = database.warehouse.engine
    names = list(columns)
    try:
        export = replace(export, rows_total=chunks.count(engine, table_name, equal))
        _save(database, export)
        schema = pa.schema([(n, arrow.TYPES[columns[n]]) for n in names])
        if export.format == "csv":
            with partial.open("w", newline="", encoding="utf-8") as text_out:
                rows = csv.writer(text_out)
                rows.writerow(names)
                for found in chunks.read_row_chunks(engine, table_name, names, equal,
                                                    CHUNK_ROWS):
                    rows.writerows(found)
                    export = replace(export, rows_done=export.rows_done + len(found))
                    _save(database, export)
        else:
            with partial.open("wb") as out:
                writer = pq.ParquetWriter(out, schema)
                for frame in chunks.read_chunks(engine, table_name, names, equal,
                                                CHUNK_ROWS):
                    writer.write_table(arrow.from_frame(frame, names, columns))
                    export = replace(export, rows_done=export.rows_done + len(frame))
                    _save(database, export)
                writer.close()
        os.replace(partial, folder / export.file_name)
        export = replace(export, state="done", rows_total=max(export.rows_total,
                                                              export.rows_done),
                         finished_at=utcnow().isoformat())
    except Exception as exc:  # the export fails in words; the page shows why
        log.exception("export %s failed", export.token)
        partial.unlink(missing_ok=True)
        export = replace(export, state="failed", finished_at=utcnow().isoformat(),
                         error=f"{type(exc).__name__}: {exc}"[:500])
    _save(database, export)


def _forget_old(database: Database, now: datetime) -> None:
    """Delete finished exports started more than KEEP before `now` (and their files)."""
    root = exports_dir(database.settings)
    if not root.exists():
        return
    for folder in root.iterdir():
        export = _read(folder)
        if export is None or export.state == "running":
            continue
        if datetime.fromisoformat(export.created_at) < now - KEEP:
            shutil.rmtree(folder, ignore_errors=True)


def get_export(*, session: Session, token: str) -> Export:
    """One export as it stands."""
    export = _read(_folder(database_of(session), token))
    if export is None:
        raise errors.NotFound(f"export {token!r} does not exist")
    return export


def list_exports(*, session: Session, data_table_id: int | None = None,
                 run_id: int | None = None) -> list[Export]:
    """Exports of a data table (whole, not of single runs) or of one run, newest first."""
    root = exports_dir(database_of(session).settings)
    found = [e for e in (_read(f) for f in root.iterdir()) if e is not None] \
        if root.exists() else []
    if run_id is not None:
        found = [e for e in found if e.run_id == run_id]
    elif data_table_id is not None:
        found = [e for e in found if e.data_table_id == data_table_id and e.run_id is None]
    return sorted(found, key=lambda e: e.created_at, reverse=True)


def export_file(*, settings: Settings, token: str) -> tuple[Path, str]:
    """The finished file of an export and the name to download it under."""
    folder = _folder(settings, token)
    export = _read(folder)
    if export is None or export.state != "done":
        raise errors.NotFound(f"export {token!r} is not ready")
    return folder / export.file_name, export.file_name
