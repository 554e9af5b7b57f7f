"""The wall clock, read in one place. Every function that needs "now" takes it as a
parameter (or a clock to call); this is the default the product passes at its edges."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)
