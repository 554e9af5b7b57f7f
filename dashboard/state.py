"""Shared resources and sidebar state: the database, sessions, the user's timezone, the worker,
and the clock (the one place in the dashboard that reads it)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import available_timezones

import streamlit as st
from sqlalchemy.orm import Session

from core import errors, schemas, service
from core.config import get_settings
from dashboard import display

T = TypeVar("T")
TIMEZONE_KEY = "app_timezone"
# A moment this browser session takes as "now" instead of the wall clock (tests pin the moment
# they seeded their history against, so a run just before midnight does not change the day).
CLOCK_KEY = "app_now"
ACTOR_KEY = "auth_actor"
# IANA region names (Europe/Berlin), not aliases such as "localtime" or "Etc/GMT+3".
TIMEZONES = ("UTC", *sorted(z for z in available_timezones()
                            if "/" in z and not z.startswith(("Etc/", "SystemV/"))))


# No ttl: the database is a pool of connections for the life of the process, not data that
# goes stale. Tests clear st.cache_resource to point the app at a fresh directory.
@st.cache_resource(show_spinner="Opening the database…")
def get_database() -> service.Database:
    """The deployment's database, opened (and migrated) once per process."""
    return service.open_database(get_settings())


@contextmanager
def session() -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with get_database().session() as s:
        yield s


def act_as(actor: schemas.Actor) -> None:
    """The one every service call of this browser session acts as (set by dashboard.auth)."""
    st.session_state[ACTOR_KEY] = actor


def actor() -> schemas.Actor | None:
    found: schemas.Actor | None = st.session_state.get(ACTOR_KEY)
    return found


def attempt(fn: Callable[..., T], **kwargs: Any) -> tuple[T | None, errors.ExtractsError | None]:
    """Call one service function in its own session, as the signed-in user (their role is
    checked, their changes logged), at the dashboard's now (given to `fn` too when it takes
    one); return its result or the domain error."""
    moment = now()
    if _takes_now(fn):
        kwargs.setdefault("now", moment)
    try:
        with get_database().session(actor=actor(), now=moment) as s:
            return fn(session=s, **kwargs), None
    except errors.ExtractsError as exc:
        return None, exc


@functools.cache
def _takes_now(fn: Callable[..., Any]) -> bool:
    return "now" in inspect.signature(fn).parameters


def call(fn: Callable[..., T], **kwargs: Any) -> T | None:
    """Call one service function in its own session; show a domain error instead of raising."""
    result, error = attempt(fn, **kwargs)
    if error is not None:
        st.error(display.text(error), icon=":material/error:")
    return result


@st.cache_resource(show_spinner=False)
def _embedded_worker() -> service.Worker | None:
    return service.start_embedded(get_database())


def start_worker() -> bool:
    """Start the embedded worker once per process (if the settings ask for it); is it on?"""
    if not get_database().settings.embedded_worker:
        return False
    return _embedded_worker() is not None


def now() -> datetime:
    """The current moment (aware, UTC): every page takes the time from here."""
    pinned: datetime | None = st.session_state.get(CLOCK_KEY)
    return pinned or service.utcnow()


def timezone() -> str:
    """The timezone the user picked in the sidebar (the browser's, or UTC, until then)."""
    return str(st.session_state.get(TIMEZONE_KEY) or _browser_timezone())


def _browser_timezone() -> str:
    name = st.context.timezone
    return name if name in TIMEZONES else "UTC"


def firer_text(firer: str) -> str:
    """Who fires the schedules, in words: a worker id 'host:pid[:n]' names its machine."""
    host, _, rest = firer.partition(":")
    pid = rest.split(":")[0]
    if pid.isdigit():
        return f"Schedules are fired by the worker on {host} (process {pid})."
    return f"Schedules are fired by the worker {firer}."


def sidebar() -> None:
    """The timezone picker and the worker's state, shown on every page."""
    with st.sidebar:
        default = _browser_timezone()
        st.selectbox("Timezone for dates", TIMEZONES, index=TIMEZONES.index(default),
                     key=TIMEZONE_KEY, help="Every date and time in the dashboard is shown "
                     "in this timezone. Schedules keep their own timezone.")
        firer, _ = attempt(service.schedule_firer, now=now())
        if start_worker() or firer:
            st.badge("Worker running", icon=":material/play_circle:", color="green")
            if firer:
                st.caption(firer_text(firer))
        else:
            st.badge("Worker not running", icon=":material/pause_circle:", color="red")
            st.caption("Schedules will not fire and queued runs wait. Start it with "
                       "`python -m core.worker`, or set EXTRACTS_EMBEDDED_WORKER=true.")
        st.caption(executor_line())


@st.cache_data(ttl=10, show_spinner=False)
def executor_line() -> str:
    """Where runs execute, as the sidebar says it (read at most every 10 s, one query)."""
    state, error = attempt(service.executor_state, now=now())
    if state is None:
        return f"Where runs execute could not be read: {error}"
    if state.executor != "celery":
        return "Runs execute on the worker's threads (local executor)."
    workers = "1 live Celery worker" if state.workers == 1 else \
        f"{state.workers} live Celery workers"
    return f"Runs execute on Celery: {workers}, {state.slots} slots."
