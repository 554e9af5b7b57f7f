"""Executors: how a claimed run gets to a thread that executes it.

An executor only carries a claimed run to `carry_out`; nothing above it knows where that
runs. `LocalExecutor` (a thread pool) is the default; a Celery executor plugs in here by
sending `carry_out` as a task (acks late, redelivery fenced by the run's claim).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import datetime
from typing import Any

from core import errors, runner
from core.clock import utcnow
from core.config import Settings
from core.db import Database
from core.models import Run
from core.vocabulary import RunStatus
from core.worker import recovery, run_queue

log = logging.getLogger(__name__)


def retry_delay(settings: Settings) -> Callable[[int], float]:
    """Seconds to wait after failed attempt n: RETRY_BASE_DELAY * 2**(n-1)."""
    def delay(attempt: int) -> float:
        return float(settings.retry_base_delay * 2 ** (attempt - 1))
    return delay


def carry_out(db: Database, run_id: int, worker_id: str,
              clock: Callable[[], datetime] = utcnow) -> str | None:
    """Execute a claimed run, then apply what follows from its outcome; return its status.

    This is what an executor runs in its thread (or, later, a Celery task).
    """
    try:
        result = runner.execute_run(db=db, run_id=run_id, worker_id=worker_id, clock=clock,
                                    retry_delay=retry_delay(db.settings))
    except errors.ExtractsError as exc:  # deleted meanwhile, or taken over by recovery
        log.warning("run %s not executed: %s", run_id, exc)
        return None
    if result.status == RunStatus.FAILED:
        recovery.auto_pause(db, result.extract_id, clock())
    elif result.status == RunStatus.CANCELLED:
        _explain_timeout(db, run_id)
    log.info("run %s of extract %s %s%s", run_id, result.extract_id, result.status,
             f": {result.error}" if result.error else "")
    return result.status


def _explain_timeout(db: Database, run_id: int) -> None:
    with db.session() as session:
        run = session.get(Run, run_id)
        if run is None:
            return
        reasons = [str(line["message"]).split(";")[0] for line in run.log
                   if str(line.get("message", "")).startswith(run_queue.TIMED_OUT)]
        if reasons:
            run.error = f"cancelled: {reasons[-1]}; the window's data was left as it was"


class LocalExecutor:
    """Carries claimed runs to a pool of threads. The seam where a Celery executor would go:
    nothing above it knows how a claimed run gets executed."""

    def __init__(self, max_workers: int) -> None:
        self.max_workers = max_workers
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="run")
        self._futures: dict[int, Future[Any]] = {}
        self._lock = threading.Lock()

    def submit(self, run_id: int, work: Callable[[], Any],
               done: Callable[[], None] | None = None) -> None:
        """Start `work` (the run's `carry_out`) on a free thread; call `done` when it ends."""
        future = self._pool.submit(work)
        with self._lock:
            self._futures[run_id] = future

        def forget(_: Future[Any]) -> None:
            with self._lock:
                self._futures.pop(run_id, None)
            if done is not None:
                done()

        future.add_done_callback(forget)

    def in_flight(self) -> list[int]:
        """The runs this executor is executing now."""
        with self._lock:
            return list(self._futures)

    def free_slots(self) -> int:
        """How many more runs it can take at once."""
        return self.max_workers - len(self.in_flight())

    def shutdown(self, timeout: float) -> list[int]:
        """Wait up to `timeout` seconds for the runs in flight; return those still going."""
        with self._lock:
            futures = list(self._futures.values())
        wait(futures, timeout=timeout)
        self._pool.shutdown(wait=False, cancel_futures=True)
        return self.in_flight()
