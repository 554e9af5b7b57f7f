"""Executors: how a claimed run gets to a thread that executes it.

An executor only carries a claimed run to `carry_out`; nothing above it knows where that
runs. `LocalExecutor` (a thread per run) is the default; `celery_executor.CeleryExecutor`
(EXECUTOR=celery) sends each run as a Celery task whose worker calls `carry_out` (acks
late, redelivery fenced by the run's claim).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
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
              clock: Callable[[], datetime] = utcnow,
              stop: threading.Event | None = None) -> str | None:
    """Execute a claimed run, then apply what follows from its outcome; return its status.

    This is what an executor runs in its thread (or a Celery task). Once `stop` is
    set the run stops before its next chunk and its load is rolled back.
    """
    try:
        result = runner.execute_run(db=db, run_id=run_id, worker_id=worker_id, clock=clock,
                                    retry_delay=retry_delay(db.settings), stop=stop)
    except (errors.ClaimLost, errors.WorkerStopping) as exc:
        log.warning("run %s: %s", run_id, exc)  # whoever took the run over records it
        return None
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
    """Carries claimed runs to threads, one per run, at most `max_workers` at once. Nothing
    above it knows how a claimed run gets executed.

    The threads are daemon threads, not a ThreadPoolExecutor's (which the interpreter joins
    at exit): a run that cannot stop in time, inside one long database call, never holds
    the process's exit; its database rolls the transaction back when the connection closes.
    """

    def __init__(self, max_workers: int) -> None:
        self.max_workers = max_workers
        self._runs: dict[int, tuple[threading.Thread, threading.Event]] = {}
        self._lock = threading.Lock()

    def submit(self, run_id: int, work: Callable[[threading.Event], Any],
               done: Callable[[], None] | None = None) -> None:
        """Start `work(stop)` (the run's `carry_out`) on a new thread; call `done` when it
        ends. `stop` is set when the run must stop before its next chunk."""
        stop = threading.Event()

        def body() -> None:
            try:
                work(stop)
            except Exception:
                log.exception("run %s: its thread failed", run_id)
            finally:
                with self._lock:
                    self._runs.pop(run_id, None)
                if done is not None:
                    done()

        thread = threading.Thread(target=body, name=f"run-{run_id}", daemon=True)
        with self._lock:
            self._runs[run_id] = (thread, stop)
        thread.start()

    def in_flight(self) -> list[int]:
        """The runs this executor is executing now."""
        with self._lock:
            return list(self._runs)

    def free_slots(self) -> int:
        """How many more runs it can take at once."""
        return self.max_workers - len(self.in_flight())

    def shutdown(self, timeout: float) -> list[int]:
        """Wait up to `timeout` seconds for the runs in flight; return those still going."""
        self._join(timeout)
        return self.in_flight()

    def stop_runs(self, timeout: float) -> list[int]:
        """Tell every run in flight to stop before its next chunk; wait up to `timeout`
        seconds for their threads to roll back and end; return those still going."""
        with self._lock:
            for _, stop in self._runs.values():
                stop.set()
        self._join(timeout)
        return self.in_flight()

    def _join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._lock:
            threads = [thread for thread, _ in self._runs.values()]
        for thread in threads:
            thread.join(max(deadline - time.monotonic(), 0.0))
