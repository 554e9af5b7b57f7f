"""The Celery app of the Celery executor (EXTRACTS_EXECUTOR=celery).

Start workers with `celery -A core.celery_app worker` (see the README, "Running on several
machines"): each takes runs from the queue EXTRACTS_CELERY_QUEUE at EXTRACTS_BROKER_URL
and executes them against EXTRACTS_DATABASE_URL and EXTRACTS_WAREHOUSE_URL, at most
EXTRACTS_MAX_WORKERS at once (unless `--concurrency` says otherwise). Messages are
acknowledged late and given back when the worker is lost, each worker prefetches one
message per slot, and a redelivered copy is fenced by the run's claim (see
core/worker/celery_executor.py).

The app reads its settings when first configured, not at import; `make_app(settings)`
builds one for a given configuration (the dispatcher's).
"""

from __future__ import annotations

import logging
import os
import threading
from contextlib import AbstractContextManager
from typing import Any

from celery import Celery, bootsteps
from kombu import Exchange, Queue

from core import errors
from core.config import Settings, get_settings
from core.db import Database, open_database
from core.worker import celery_executor

log = logging.getLogger(__name__)


def celery_config(settings: Settings) -> dict[str, Any]:
    """Celery's configuration for these settings."""
    queue = settings.celery_queue
    return {
        "broker_url": settings.broker_url,
        "broker_connection_retry_on_startup": True,
        "task_queues": [Queue(queue, Exchange(queue, type="direct"), routing_key=queue,
                              queue_arguments={"x-max-priority":
                                               celery_executor.MAX_PRIORITY})],
        "task_default_queue": queue,
        "task_default_exchange": queue,
        "task_default_routing_key": queue,
        "task_create_missing_queues": False,
        # A message is acknowledged once its run ended, and given back to the queue if
        # the worker executing it dies; the run's claim fences a second copy.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "worker_concurrency": settings.max_workers,
        # A run keeps going if the broker connection drops; its copy redelivered elsewhere
        # finds the run's liveness lock held and leaves it.
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        "task_ignore_result": True,
        "worker_hijack_root_logger": False,
        "worker_redirect_stdouts": False,
    }


def make_app(settings: Settings) -> Celery:
    """A Celery app configured from `settings` (publishing and control only)."""
    celery = Celery("extracts", set_as_current=False)
    celery.conf.update(celery_config(settings))
    return celery


app = Celery("extracts")


@app.on_configure.connect
def _configure(sender: Celery, **_: Any) -> None:
    try:
        settings = get_settings()
    except errors.Invalid as exc:  # e.g. EXECUTOR=celery with SQLite: refuse to start
        raise SystemExit(f"cannot start: {exc}") from None
    sender.conf.update(celery_config(settings))


_DATABASES: dict[int, Database] = {}
_DATABASES_LOCK = threading.Lock()


def database() -> Database:
    """This process's database (a forked pool process opens its own)."""
    with _DATABASES_LOCK:
        pid = os.getpid()
        if pid not in _DATABASES:
            _DATABASES[pid] = open_database(get_settings(), seed=False)
        return _DATABASES[pid]


@app.task(name=celery_executor.TASK_NAME, bind=True)
def execute_run(task: Any, run_id: int, token: str) -> str:
    """Execute a dispatched run, unless its claim says another copy does or did."""
    outcome = celery_executor.execute_delivered(database(), run_id, token, task.request.id)
    log.info("run %s: %s", run_id, outcome)
    return outcome


class Registration(bootsteps.StartStopStep):
    """Keeps this Celery worker registered as live, with its slots, while it runs."""

    requires = ("celery.worker.components:Pool",)
    _registration: AbstractContextManager[None] | None = None

    def start(self, worker: Any) -> None:
        self._registration = celery_executor.registered(
            database(), worker.hostname, int(worker.concurrency))
        self._registration.__enter__()
        log.info("celery worker %s registered: %s slots", worker.hostname, worker.concurrency)

    def stop(self, worker: Any) -> None:
        registration = getattr(self, "_registration", None)
        if registration is not None:
            self._registration = None
            registration.__exit__(None, None, None)


app.steps["worker"].add(Registration)
