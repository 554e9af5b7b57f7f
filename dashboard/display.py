"""How values read in the dashboard: status words with colour, dates in the user's timezone."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

EXTRACT_STATUS_COLOURS = {"active": "green", "syncing": "blue", "paused": "gray",
                          "error": "red"}
RUN_STATUS_COLOURS = {"queued": "gray", "running": "blue", "succeeded": "green",
                      "failed": "red", "cancelled": "orange"}
_DOTS = {"green": "🟢", "blue": "🔵", "gray": "⚪", "red": "🔴", "orange": "🟠"}
# A table cell cannot spin: work under way shows turning arrows (blue) and a trailing ellipsis.
IN_PROGRESS = ("syncing", "running")
STATUS_ICONS = {"active": ":material/check_circle:", "syncing": ":material/sync:",
                "paused": ":material/pause_circle:", "error": ":material/error:",
                "queued": ":material/schedule:", "running": ":material/sync:",
                "succeeded": ":material/check_circle:", "failed": ":material/error:",
                "cancelled": ":material/cancel:"}


def status_colour(status: str) -> str:
    """The colour of an extract or run status word."""
    return EXTRACT_STATUS_COLOURS.get(status) or RUN_STATUS_COLOURS.get(status, "gray")


def status_label(status: str) -> str:
    """A status as a table cell shows it: a coloured dot (arrows while in progress), the word."""
    if status in IN_PROGRESS:
        return f"🔄 {status}…"
    return f"{_DOTS[status_colour(status)]} {status}"


def local_time(moment: datetime | None, timezone: str) -> str:
    """An aware datetime as 'YYYY-MM-DD HH:MM' in `timezone` ('never' for None)."""
    if moment is None:
        return "never"
    return moment.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M")


def relative_time(moment: datetime | None, now: datetime | None = None) -> str:
    """'3 min ago', 'in 2 h', 'just now'; 'never' for None."""
    if moment is None:
        return "never"
    now = now or datetime.now(UTC)
    seconds = (moment - now).total_seconds()
    span = abs(seconds)
    if span < 60:
        return "just now"
    for size, unit in ((86_400, "d"), (3_600, "h"), (60, "min")):
        if span >= size:
            amount = f"{int(span // size)} {unit}"
            return f"in {amount}" if seconds > 0 else f"{amount} ago"
    return "just now"  # unreachable; keeps the type checker content


def window(date_from: date | None, date_to: date | None) -> str:
    """A run's window as one cell: '2025-01-01 → 2025-01-07', or 'everything'."""
    if date_from is None and date_to is None:
        return "everything"
    return f"{date_from} → {date_to}"


def duration(seconds: float | None) -> str:
    """'42 s', '3 min 5 s', '' when unknown."""
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} min {rest} s"
