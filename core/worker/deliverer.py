"""The deliverer: the worker's thread that empties the alerts outbox.

It runs apart from the run queue (its own thread, its own sessions), so a slow or dead
receiver never slows a run: runs only write outbox rows in their own transactions. It wakes
when a transaction that queued alerts commits in this process, else once a second; every
CHECK_EVERY, on the worker that holds the scheduler lease, it also raises staleness alerts and
reminders (`events.check_alerts`) and, from DIGEST_HOUR on, queues the day's digest emails
(`digest.queue_digests`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import event
from sqlalchemy.orm import Session

from core import db as database
from core.clock import utcnow
from core.db import Database
from core.services.alerts import delivery, digest, events

log = logging.getLogger(__name__)

CHECK_EVERY = timedelta(minutes=1)
IDLE_SECONDS = 1.0
# While runs execute in this process the deliverer takes at most this share of the time
# (it shares the interpreter with them): after a batch it rests SHARE_REST times as long.
BUSY_BATCH = 50
SHARE_REST = 4.0


class Deliverer:
    """Sends due alert deliveries on its own thread; `step(now)` is one pass (tests)."""

    def __init__(self, db: Database, *, clock: Callable[[], datetime] = utcnow,
                 checks: Callable[[], bool] = lambda: True,
                 busy: Callable[[], bool] = lambda: False) -> None:
        self.db = db
        self.clock = clock
        self.checks = checks  # whether this worker raises staleness alerts and reminders
        self.busy = busy  # whether runs execute in this process now
        self._next_check = datetime.min.replace(tzinfo=UTC)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def step(self, now: datetime) -> int:
        """Check alerts if due, then send what is due; return the deliveries attempted."""
        if self.checks() and now >= self._next_check:
            self._next_check = now + CHECK_EVERY
            events.check_alerts(self.db, now)
            digest.queue_digests(self.db, now)
        sent = 0
        while not self._stopping.is_set():
            busy = self.busy()
            batch = BUSY_BATCH if busy else delivery.BATCH
            started = time.monotonic()
            attempted = delivery.deliver_due(self.db, now, limit=batch)
            sent += attempted
            if attempted < batch:
                break
            if busy:  # runs go first: rest before the next batch
                self._stopping.wait(SHARE_REST * (time.monotonic() - started))
            now = max(now, self.clock())
        return sent

    def _on_commit(self, session: Session) -> None:
        if session.info.pop("alerts_queued", False):
            self._wake.set()

    def start(self) -> Deliverer:
        if self._thread is None:
            event.listen(self.db.sessions, "after_commit", self._on_commit)
            self._thread = threading.Thread(target=self._loop, name="alert-deliverer",
                                            daemon=True)
            self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self.step(self.clock())
            except Exception as exc:
                fault = database.disk_full(exc) or database.locked(exc)
                if fault:
                    log.error("alert deliverer: step failed: %s; trying again", fault)
                else:
                    log.exception("alert deliverer: step failed; trying again")
            self._wake.wait(IDLE_SECONDS)
            self._wake.clear()

    def stop(self, timeout: float = 15.0) -> None:
        """Stop after the attempt in flight (an attempt times out within 10 s)."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            event.remove(self.db.sessions, "after_commit", self._on_commit)
            self._thread.join(timeout)
            self._thread = None

