"""A database driver's error as an error that tells people what to fix."""

from __future__ import annotations

from sqlalchemy.engine import URL

from core.connectors.base import SourceError, TransientError
from core.connectors.sql import engine


def source_error(exc: Exception, url: URL, *, retry_unreachable: bool = False) -> Exception:
    """A SourceError (or TransientError) that says what to fix, from a driver's error."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    low = text.lower()
    where = engine.where(url)
    if any(s in low for s in ("password authentication failed", "access denied",
                              "authentication failed", "no password supplied")):
        return SourceError(f"authentication failed for user {url.username!r} on {where}: "
                           "check the user name in the URL and the password")
    if any(s in low for s in ("could not translate host name", "name or service not known",
                              "temporary failure in name resolution", "nodename nor servname")):
        return SourceError(f"host {url.host!r} is unknown: check the host name in the URL")
    if any(s in low for s in ("connection refused", "can't connect", "could not connect",
                              "timed out", "timeout expired", "connection reset",
                              "server closed the connection", "lost connection")):
        message = (f"host unreachable: nothing answered at {url.host}:{url.port or 'default'} "
                   "port; check the host and port in the URL and that the server is running")
        return TransientError(message) if retry_unreachable else SourceError(message)
    if ("does not exist" in low and "database" in low) or "unknown database" in low:
        return SourceError(f"database {url.database!r} does not exist on {url.host}: check "
                           "the database name in the URL")
    if any(s in low for s in ("does not exist", "doesn't exist", "no such table",
                              "no such column", "unknown column", "undefinedtable")):
        return SourceError(f"table or column missing in {where}: {first}; refresh the "
                           "connection's templates if the schema changed")
    return SourceError(f"{where} refused the request: {first}")
