"""How values read in the dashboard: status words with colour, dates in the user's timezone,
when an extract runs next, a run's log. Pure functions: the caller passes "now"."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from core import schemas
from core.vocabulary import ExtractStatus, RunStatus

EXTRACT_STATUS_COLOURS: dict[str, str] = {
    ExtractStatus.ACTIVE: "green", ExtractStatus.SYNCING: "blue", ExtractStatus.PAUSED: "gray",
    ExtractStatus.ERROR: "red"}
RUN_STATUS_COLOURS: dict[str, str] = {
    RunStatus.QUEUED: "gray", RunStatus.RUNNING: "blue", RunStatus.SUCCEEDED: "green",
    RunStatus.FAILED: "red", RunStatus.CANCELLED: "orange"}
_DOTS = {"green": "🟢", "blue": "🔵", "gray": "⚪", "red": "🔴", "orange": "🟠"}
# A table cell cannot spin: work under way shows turning arrows (blue) and a trailing ellipsis.
IN_PROGRESS: tuple[str, ...] = (ExtractStatus.SYNCING, RunStatus.RUNNING)
STATUS_ICONS: dict[str, str] = {
    ExtractStatus.ACTIVE: ":material/check_circle:", ExtractStatus.SYNCING: ":material/sync:",
    ExtractStatus.PAUSED: ":material/pause_circle:", ExtractStatus.ERROR: ":material/error:",
    RunStatus.QUEUED: ":material/schedule:", RunStatus.RUNNING: ":material/sync:",
    RunStatus.SUCCEEDED: ":material/check_circle:", RunStatus.FAILED: ":material/error:",
    RunStatus.CANCELLED: ":material/cancel:"}


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


def relative_time(moment: datetime | None, now: datetime) -> str:
    """'3 min ago', 'in 2 h', 'just now'; 'never' for None."""
    if moment is None:
        return "never"
    seconds = (moment - now).total_seconds()
    span = abs(seconds)
    if span < 60:
        return "just now"
    for size, unit in ((86_400, "d"), (3_600, "h"), (60, "min")):
        if span >= size:
            amount = f"{int(span // size)} {unit}"
            return f"in {amount}" if seconds > 0 else f"{amount} ago"
    return "just now"  # unreachable; keeps the type checker content


def next_run(extract: schemas.ExtractOut, now: datetime, timezone: str | None = None) -> str:
    """When the extract runs next: relative to `now` ('in 2 h'), or, given a timezone, as a
    time there ('2025-01-01 02:00'); 'paused' or '—' when no schedule will fire."""
    if extract.next_run_at is None:
        return "paused" if extract.status == ExtractStatus.PAUSED else "—"
    if timezone is not None:
        return local_time(extract.next_run_at, timezone)
    return relative_time(extract.next_run_at, now)


def log_text(lines: Iterable[Mapping[str, Any]], timezone: str) -> str:
    """A run's log, one line per entry: 'YYYY-MM-DD HH:MM:SS level: message', each time in
    `timezone` ('' for no lines)."""
    zone = ZoneInfo(timezone)

    def when(raw: Any) -> str:
        try:
            moment = datetime.fromisoformat(str(raw))
        except ValueError:
            return str(raw or "")[:19]
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")

    return "\n".join(f"{when(line.get('at'))} {line.get('level', '')}: {line.get('message', '')}"
                     for line in lines)


def window(date_from: date | None, date_to: date | None) -> str:
    """A run's window as one cell: '2025-01-01 → 2025-01-07', or 'everything'."""
    if date_from is None and date_to is None:
        return "everything"
    return f"{date_from} → {date_to}"


def number(value: Any, decimals: int = 0) -> str:
    """A number as a table cell shows it: rounded, thousands separated; '' when unknown (never
    'None' or 'nan')."""
    if value is None or value != value:  # NaN is the one value not equal to itself
        return ""
    return f"{float(value):,.{decimals}f}"


def duration(seconds: float | None) -> str:
    """'42 s', '3 min 5 s', '' when unknown."""
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} min {rest} s"


def queued_notice(runs: list[schemas.RunOut]) -> str:
    """What a run request did: runs queued, and windows that were queued already."""
    joined = sum(run.already_queued for run in runs)
    parts = [f"Queued {len(runs) - joined} run(s)."] if len(runs) > joined else []
    if joined:
        parts.append(f"{joined} window(s) were already queued; the request joined "
                     f"{'that run' if joined == 1 else 'those runs'}.")
    return " ".join(parts)
