"""No traceback reaches a page: a section that fails shows what happened and what to do.

`with guard.section("Freshness"):` around each part of a page; the router wraps the whole page
as the last line of defence. Streamlit's own control flow (st.rerun, st.stop, st.switch_page)
raises BaseExceptions and passes through untouched.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from core import errors

log = logging.getLogger(__name__)
BUSY = ("database is locked", "lock timeout", "lock_timeout", "canceling statement",
        "could not obtain lock")


def message(what: str, exc: Exception) -> str:
    """What a person reads when `what` failed with `exc`: the cause in words and what to do."""
    if isinstance(exc, errors.ExtractsError):
        return f"{what}: {exc}"
    text = str(exc).lower()
    if isinstance(exc, OperationalError) and any(word in text for word in BUSY):
        return (f"{what} could not be read: the database is busy with another task (a large "
                "load or export). Reload the page in a moment.")
    if isinstance(exc, SQLAlchemyError):
        return (f"{what} could not be read from the database ({type(exc).__name__}). Reload "
                "the page; if it keeps happening, the server log has the details.")
    return (f"{what} could not be shown ({type(exc).__name__}: {str(exc)[:200]}). The rest of "
            "the page works; the server log has the details.")


@contextmanager
def section(what: str) -> Iterator[None]:
    """Run one part of a page; on an error show it there in words instead of a traceback."""
    try:
        yield
    except Exception as exc:  # any failure becomes a message on the page
        log.exception("dashboard section %r failed", what)
        st.error(message(what, exc), icon=":material/error:")
