"""The files a source program reads: config, catalog, state; private, deleted after the
call."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any


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
