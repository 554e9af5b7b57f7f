"""The files a source program reads (config, catalog, state: private, deleted after the
call) and the stream state kept between runs, in the var directory of the database whose
connection it is."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from core.connectors.programs import installer


@contextmanager
def handed(**documents: Mapping[str, Any] | None) -> Iterator[dict[str, Path]]:
    """Each document as a JSON file only this user can read (the config holds secrets),
    removed afterwards; None documents are left out."""
    with tempfile.TemporaryDirectory(prefix="extracts-source-") as folder:
        os.chmod(folder, 0o700)
        paths: dict[str, Path] = {}
        for name, document in documents.items():
            if document is None:
                continue
            path = Path(folder) / f"{name}.json"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                json.dump(document, handle)
            paths[name] = path
        yield paths


def _state_path(connection_id: int, account: str, stream: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in f"{account}-{stream}")
    return installer.state_root() / str(connection_id) / f"{safe}.json"


def saved_state(connection_id: int, account: str, stream: str) -> dict[str, Any] | None:
    """The stream state the last finished read of this stream ended with, if any."""
    path = _state_path(connection_id, account, stream)
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def save_state(connection_id: int, account: str, stream: str, state: Mapping[str, Any]
               ) -> None:
    """Keep the state a read ended with (written whole, then renamed: never half a file)."""
    path = _state_path(connection_id, account, stream)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(state))
    partial.replace(path)
