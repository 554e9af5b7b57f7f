"""Real Celery executor processes for tests: a queue of the test's own on the real RabbitMQ,
`celery -A ... worker` processes and `python -m core.worker` dispatchers, all on the test's
PostgreSQL databases; every process killed and the queue deleted afterwards."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from core.db import Database
from core.worker import celery_executor
from tests import needs

ROOT = Path(__file__).resolve().parents[2]
BROKER_URL = os.environ.get("EXTRACTS_TEST_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")


def wait_for(what: Callable[[], Any], timeout: float = 60.0, every: float = 0.1,
             why: str = "") -> Any:
    """`what()` once it is truthy; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = what()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s {why}".strip())


@pytest.fixture
def queue() -> Iterator[str]:
    """A RabbitMQ queue (and exchange) name of this test's own, deleted afterwards."""
    import kombu

    name = f"extracts_test_{secrets.token_hex(4)}"
    try:
        with kombu.Connection(BROKER_URL, connect_timeout=5) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:
        needs.missing(f"RabbitMQ at {BROKER_URL} is unreachable: {type(exc).__name__}: {exc}",
                      remedy="start RabbitMQ, or set EXTRACTS_TEST_BROKER_URL")
    yield name
    with kombu.Connection(BROKER_URL, connect_timeout=5) as conn:
        for kind in ("queue", "exchange"):
            channel = conn.channel()
            try:
                getattr(channel, f"{kind}_delete")(name)
            except Exception:
                pass
            finally:
                channel.close()


@dataclass
class Cluster:
    """The processes of one test, on its databases and its queue."""

    db: Database
    queue: str
    logs: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    processes: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        settings = self.db.settings
        env = {k: v for k, v in os.environ.items() if not k.startswith("EXTRACTS_")}
        env.update(EXTRACTS_VAR_DIR=str(settings.var_dir),
                   EXTRACTS_DATABASE_URL=settings.database_url,
                   EXTRACTS_WAREHOUSE_URL=settings.warehouse_url,
                   EXTRACTS_SECRET_KEY=settings.secret_key, EXTRACTS_EXECUTOR="celery",
                   EXTRACTS_BROKER_URL=BROKER_URL, EXTRACTS_CELERY_QUEUE=self.queue,
                   EXTRACTS_SEED_DEMO="false", PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
        env.update(self.extra_env)
        return env

    def _start(self, label: str, command: list[str]) -> subprocess.Popen[bytes]:
        with (self.logs / f"{label}.log").open("ab") as out:
            # A session of its own: killing its group kills the worker with its pool.
            process = subprocess.Popen(command, cwd=ROOT, env=self.env(), stdout=out,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        self.processes.append((label, process))
        return process

    def celery_worker(self, name: str, concurrency: int = 2,
                      app: str = "tests.core.celery_test_app") -> subprocess.Popen[bytes]:
        """A Celery worker as the README starts one; returns once it is registered. Its
        name carries the queue's: tests running at once never share a node name."""
        process = self._start(name, [
            sys.executable, "-m", "celery", "-A", app, "worker", "--pool=prefork",
            f"--concurrency={concurrency}", "-n", f"{name}.{self.queue}@%h", "--without-gossip",
            "--without-mingle", "--without-heartbeat", "--loglevel=INFO"])
        wait_for(lambda: self.registered(name) or process.poll() is not None, timeout=90,
                 why=f"for Celery worker {name} to register")
        assert process.poll() is None, self.log(name)
        return process

    def registered(self, name: str) -> bool:
        from core.models import CeleryWorker

        with self.db.session() as session:
            return any(w.name.startswith(f"{name}.{self.queue}@") for w in
                       session.query(CeleryWorker).all())

    def dispatcher(self, label: str = "dispatcher") -> subprocess.Popen[bytes]:
        """`python -m core.worker` with EXECUTOR=celery."""
        return self._start(label, [sys.executable, "-m", "core.worker"])

    def live_workers(self) -> int:
        from core.clock import utcnow

        with self.db.session() as session:
            return celery_executor.live_workers(session, utcnow()).workers

    def log(self, label: str) -> str:
        return (self.logs / f"{label}.log").read_text(errors="replace")

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        """SIGKILL the process and everything it started (a machine that dies)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)

    def stop_all(self) -> None:
        for _, process in self.processes:
            if process.poll() is None:
                self.kill(process)
            else:
                # A pool process whose parent died may outlive it.
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture
def cluster(pg_db: Database, queue: str, tmp_path: Path) -> Iterator[Cluster]:
    logs = tmp_path / "logs"
    logs.mkdir()
    made = Cluster(pg_db, queue, logs)
    yield made
    made.stop_all()
