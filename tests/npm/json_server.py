"""json-server (npm), a real REST server for the http_json tests: installed by `npm ci` from
this folder's lockfile, once per lockfile, into a cache folder; then one server per test.

Installing needs the npm registry: under CI=true a failure fails the tests, on a laptop they
are skipped saying why (tests/needs.py).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests import needs, servers

HERE = Path(__file__).resolve().parent
CACHE = Path(os.environ.get("EXTRACTS_TEST_NPM_CACHE",
                            Path.home() / ".cache" / "extracts-tests" / "npm"))


def installed() -> Path:
    """The json-server executable, installed from the lockfile if it is not yet."""
    lock = (HERE / "package-lock.json").read_bytes()
    folder = CACHE / hashlib.sha256(lock).hexdigest()[:16]
    program = folder / "node_modules" / ".bin" / "json-server"
    if program.exists():
        return program
    if shutil.which("npm") is None:
        needs.missing("npm is not installed, so json-server cannot be",
                      remedy="apt-get install npm")
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)  # another test process may be installing it
        if not program.exists():
            for name in ("package.json", "package-lock.json"):
                shutil.copy(HERE / name, folder / name)
            try:
                done = subprocess.run(
                    ["npm", "ci", "--prefix", str(folder), "--ignore-scripts", "--no-audit",
                     "--no-fund"], capture_output=True, text=True, timeout=600)
            except subprocess.TimeoutExpired:
                needs.missing("npm ci of json-server took over 600 s",
                              remedy="check access to the npm registry")
            if done.returncode != 0 or not program.exists():
                needs.missing(f"npm ci of json-server failed: {done.stderr[-500:]}",
                              remedy="check access to the npm registry")
    return program


@contextmanager
def serving(data: dict[str, Any], folder: Path) -> Iterator[str]:
    """json-server over `data` (resource name -> records) on a free loopback port; its URL."""
    program = installed()
    db = folder / "db.json"
    db.write_text(json.dumps(data))
    port = servers.free_port()
    url = f"http://127.0.0.1:{port}"
    first = next(iter(data))
    process = servers.start([str(program), "--host", "127.0.0.1", "--port", str(port),
                             "--quiet", str(db)],
                            env=dict(os.environ), ready_url=f"{url}/{first}?_limit=1",
                            log=folder / "json-server.log", timeout=30)
    try:
        yield url
    finally:
        servers.stop(process)
