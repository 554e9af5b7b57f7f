"""Leases: one process at a time does a once-per-deployment job (firing schedules).

`acquire` and `release` are the database side. A `Keeper` holds a lease, or keeps asking
for it, on a thread of its own, so nothing else the process does (claims, heartbeats, a
slow sync) delays a renewal. It knows until when its hold is good, by a clock reading
taken before it asked, and `holds(now)` says no from then on, even if the keeper's thread
has not run since: a process never acts on a lease that has run out.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.db import Database
from core.models import Lease
from core.worker import guarded

log = logging.getLogger(__name__)

# Takeover within 30 s of a holder's death: the lease lapses after 25 s, and the others ask
# every 2 s.
TTL = timedelta(seconds=25)
RENEW_EVERY = timedelta(seconds=8)
POLL_EVERY = timedelta(seconds=2)  # how often a process without the lease asks for it


def acquire(db: Database, name: str, holder: str, now: datetime, ttl: timedelta = TTL
            ) -> bool:
    """Take or renew the lease `name` for `holder` until now + ttl; False if another holds it."""
    with db.session() as session:
        if session.get(Lease, name) is None:
            try:
                with session.begin_nested():
                    session.add(Lease(name=name, holder=holder, expires_at=now + ttl))
                return True
            except IntegrityError:
                return False
        return bool(guarded.rows_updated(session, update(Lease).where(
            Lease.name == name, or_(Lease.holder == holder, Lease.expires_at <= now))
            .values(holder=holder, expires_at=now + ttl)))


def release(db: Database, name: str, holder: str) -> None:
    """Give the lease up at once so another process can take over without waiting."""
    with db.session() as session:
        guarded.rows_updated(session, update(Lease).where(
            Lease.name == name, Lease.holder == holder)
            .values(expires_at=datetime(2000, 1, 1, tzinfo=UTC)))


def is_current(session: Session, name: str, holder: str, now: datetime) -> bool:
    """Whether `holder` holds the lease at `now`, as of this transaction; the row stays
    locked until it ends (PostgreSQL; SQLite's BEGIN IMMEDIATE locks all), so nobody takes
    the lease over while the transaction acts on it."""
    return session.scalar(select(Lease.name).where(
        Lease.name == name, Lease.holder == holder, Lease.expires_at > now)
        .with_for_update()) is not None


class Keeper:
    """Holds the lease `name` for `holder`, or keeps asking for it, on its own thread.

    It logs when a hold begins ("holds the ... lease since T", T read after the database
    said yes) and ends ("lost ...: held until T", "gives up ... at T", T no later than the
    moment another process may take the lease over), so that the logs of all processes
    show at most one holder at any moment.
    """

    def __init__(self, db: Database, name: str, holder: str, *,
                 clock: Callable[[], datetime] = utcnow,
                 on_change: Callable[[], None] | None = None) -> None:
        self.db = db
        self.name = name
        self.holder = holder
        self.clock = clock
        self.until: datetime | None = None  # the hold is good before this; None: not held
        self.since: datetime | None = None  # when the current hold began
        self._on_change = on_change
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # one answer settled at a time; none after stop

    def holds(self, now: datetime) -> bool:
        """Whether the hold is good at `now`; check before every action it guards."""
        until = self.until
        return until is not None and now < until

    def renew(self, now: datetime) -> bool:
        """Take or keep the lease for TTL from `now`, a clock reading taken before asking."""
        taken = self._ask(now)
        with self._lock:
            return self._settle(taken, now, answered=now)

    def start(self) -> None:
        """Keep the lease from now on, on a thread of its own."""
        self._thread = threading.Thread(target=self._keep, name=f"lease-{self.name}",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop renewing, and give the lease up at once if it is held."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        with self._lock:
            until, now = self.until, self.clock()
            if until is None:
                return
            if now < until:
                log.info("worker %s gives up the %s lease at %s", self.holder, self.name,
                         now.isoformat())
                self.until = self.since = None
            else:
                self._end(until)
        release(self.db, self.name, self.holder)

    def keep_once(self) -> None:
        """One round of the lease's thread: ask, with a clock reading taken just before; a
        yes that comes after the hold it grants has run out holds nothing."""
        asked = self.clock()
        taken = self._ask(asked)
        with self._lock:
            if not self._stopping.is_set():  # else stop() has settled it (and given it up)
                self._settle(taken, asked, answered=self.clock())

    def _keep(self) -> None:
        while not self._stopping.is_set():
            self.keep_once()
            every = RENEW_EVERY if self.until is not None else POLL_EVERY
            self._stopping.wait(every.total_seconds())

    def _ask(self, now: datetime) -> bool | None:
        """The database's answer; None when it could not be asked."""
        try:
            return acquire(self.db, self.name, self.holder, now)
        except Exception:
            log.exception("worker %s could not ask for the %s lease; asking again",
                          self.holder, self.name)
            return None

    def _settle(self, taken: bool | None, asked: datetime, answered: datetime) -> bool:
        """Follow the database's answer. A yes extends the hold to asked + TTL, or begins
        a new one if the last ran out before it asked; a yes that came after that moment
        holds nothing. Without an answer, the hold runs out as it was."""
        since = self.since
        if self.until is not None and (taken is False or (taken and asked >= self.until)):
            self._end(min(self.until, answered))  # taken over, or it ran out before we asked
        if taken and answered < asked + TTL:
            if self.until is None:
                self.since = answered
                log.info("worker %s holds the %s lease since %s", self.holder, self.name,
                         answered.isoformat())
            self.until = asked + TTL
        elif self.until is not None and answered >= self.until:
            self._end(self.until)  # it ran out before an answer that could extend it came
        if self.since != since and self._on_change is not None:
            self._on_change()
        return self.until is not None

    def _end(self, at: datetime) -> None:
        log.warning("worker %s lost the %s lease: held until %s", self.holder, self.name,
                    at.isoformat())
        self.until = self.since = None
