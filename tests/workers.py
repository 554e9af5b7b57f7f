"""Real `python -m core.worker` processes for tests, on a test's databases."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from core.db import Database
from tests.servers import ROOT


def worker_env(db: Database, **settings: str) -> dict[str, str]:
    """This process's environment with the product pointed at `db`, plus `settings`
    (EXTRACTS_... variables)."""
    return {**os.environ, "EXTRACTS_VAR_DIR": str(db.settings.var_dir),
            "EXTRACTS_DATABASE_URL": db.settings.database_url,
            "EXTRACTS_WAREHOUSE_URL": db.settings.warehouse_url,
            "EXTRACTS_SECRET_KEY": db.settings.secret_key, "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1", **settings}


def start(env: dict[str, str], started: list[subprocess.Popen[str]]) -> subprocess.Popen[str]:
    """Start a worker (its output piped, stderr into stdout) and note it in `started`."""
    process = subprocess.Popen([sys.executable, "-m", "core.worker"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    started.append(process)
    return process


def stop_all(started: list[subprocess.Popen[str]]) -> None:
    """Kill every worker still running (a stopped one is let go on first) and reap it."""
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGCONT)
            process.kill()
        process.communicate(timeout=10)


@contextmanager
def spawner(env: dict[str, str]) -> Iterator[Callable[[], subprocess.Popen[str]]]:
    """A function that starts workers with `env`; all are killed at the end."""
    started: list[subprocess.Popen[str]] = []
    try:
        yield lambda: start(env, started)
    finally:
        stop_all(started)
