"""How values read in the dashboard: status words with colour, dates in the user's timezone,
when an extract runs next, a run's log. Pure functions: the caller passes "now"."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from core import schemas
from core.vocabulary import WEEKDAYS, ExtractStatus, Frequency, RunStatus


@dataclass(frozen=True)
class StatusLook:
    """How a status looks everywhere: its colour, its Material icon (badges, expanders), the
    plain-text mark a table cell shows (no emoji font needed) and whether work is under way."""

    colour: str
    icon: str
    mark: str
    in_progress: bool = False


# The one mapping: a new status (issue 17's `dispatched`) is one line here.
STATUS_LOOKS: dict[str, StatusLook] = {
    ExtractStatus.ACTIVE: StatusLook("green", ":material/check_circle:", "●"),
    ExtractStatus.SYNCING: StatusLook("blue", ":material/sync:", "↻", in_progress=True),
    ExtractStatus.PAUSED: StatusLook("gray", ":material/pause_circle:", "‖"),
    ExtractStatus.ERROR: StatusLook("red", ":material/error:", "✕"),
    RunStatus.QUEUED: StatusLook("gray", ":material/schedule:", "○"),
    RunStatus.DISPATCHED: StatusLook("gray", ":material/send:", "→"),
    RunStatus.RUNNING: StatusLook("blue", ":material/sync:", "↻", in_progress=True),
    RunStatus.SUCCEEDED: StatusLook("green", ":material/check_circle:", "●"),
    RunStatus.FAILED: StatusLook("red", ":material/error:", "✕"),
    RunStatus.CANCELLED: StatusLook("orange", ":material/cancel:", "⊘"),
}
UNKNOWN = StatusLook("gray", ":material/help:", "?")
# Hex shades of the colour names, for table cells and charts (Streamlit's palette).
SHADES = {"green": "#1f9d55", "red": "#d64545", "blue": "#2b7bd6", "gray": "#9aa3ad",
          "orange": "#f08c00"}
RUN_STATUS_COLOURS: dict[str, str] = {s: STATUS_LOOKS[s].colour for s in RunStatus}
STATUS_ICONS: dict[str, str] = {s: look.icon for s, look in STATUS_LOOKS.items()}


def look(status: str) -> StatusLook:
    """How `status` looks (a neutral look for a status this dashboard does not know yet)."""
    return STATUS_LOOKS.get(status, UNKNOWN)


def status_colour(status: str) -> str:
    """The colour of an extract or run status word."""
    return look(status).colour


def status_label(status: str) -> str:
    """A status as a table cell shows it: a plain-text mark and the word ('…' while in
    progress)."""
    found = look(status)
    return f"{found.mark} {status}" + ("…" if found.in_progress else "")


def status_css(label: object) -> str:
    """The CSS of a status cell (for a pandas Styler): the text in the status's colour."""
    word = str(label).split(" ")[-1].rstrip("…")
    return f"color: {SHADES[status_colour(word)]}; font-weight: 600"


def status_strip(statuses: Sequence[str], size: int = 8) -> str:
    """The last runs' statuses as a strip of coloured squares, oldest left: an SVG data URI
    for an image cell (no font involved). '' for no runs. The image is three squares high, so
    that a cell scaled to its row height shows ten of them in about 110 px."""
    if not statuses:
        return ""
    step = size + 2
    height = 3 * size
    squares = "".join(
        f'<rect x="{i * step}" y="{size}" width="{size}" height="{size}" rx="1.5" '
        f'fill="{SHADES[status_colour(status)]}"><title>{status}</title></rect>'
        for i, status in enumerate(statuses))
    width = len(statuses) * step
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}">{squares}</svg>')
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


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


def next_run_short(extract: schemas.ExtractOut, now: datetime, timezone: str) -> str:
    """'in 3 h (06:30)': relative, with the local time of day (or date) it fires at."""
    if extract.next_run_at is None:
        return next_run(extract, now)
    local = extract.next_run_at.astimezone(ZoneInfo(timezone))
    today = now.astimezone(ZoneInfo(timezone)).date()
    at = local.strftime("%H:%M") if local.date() == today else local.strftime("%b %-d %H:%M")
    return f"{relative_time(extract.next_run_at, now)} ({at})"


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


def _place(timezone: str) -> str:
    """A timezone as people say it: 'Berlin', 'New York', 'UTC'."""
    return timezone.rsplit("/", 1)[-1].replace("_", " ")


def _ordinal(day: int) -> str:
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def schedule_text(schedule: schemas.ScheduleOut) -> str:
    """One schedule in words: 'daily at 06:30 Berlin', 'weekly Mon 09:00 New York',
    'every 3 h at :15 UTC', 'monthly on the 1st at 06:00 UTC', 'cron 30 2 * * 1-5 UTC'."""
    at = f"{schedule.hour or 0:02d}:{schedule.minute:02d}"
    frequency = schedule.frequency
    if frequency == Frequency.HOURLY:
        every = schedule.every_hours or 1
        text = ("hourly" if every == 1 else f"every {every} h") + f" at :{schedule.minute:02d}"
    elif frequency == Frequency.WEEKLY:
        text = f"weekly {WEEKDAYS[schedule.weekday or 0].capitalize()} {at}"
    elif frequency == Frequency.MONTHLY:
        text = f"monthly on the {_ordinal(schedule.day_of_month or 1)} at {at}"
    elif frequency == Frequency.CRON:
        text = f"cron {schedule.cron}"
    else:
        text = f"daily at {at}"
    return f"{text} {_place(schedule.timezone)}"


def schedules_summary(schedules: Sequence[schemas.ScheduleOut]) -> str:
    """Every schedule of an extract in one line: 'Daily at 06:30 Berlin; weekly Mon 09:00
    New York'; 'No schedule' when it has none."""
    if not schedules:
        return "No schedule"
    text = "; ".join(schedule_text(s) for s in schedules)
    return text[0].upper() + text[1:]


def local_rows(rows: pd.DataFrame, timezone: str) -> pd.DataFrame:
    """Rows read back from a data table with their datetime columns (`__insert_date`, stored in
    UTC) shown in `timezone`, and no 'None' in empty cells."""
    out = rows.copy()
    zone = ZoneInfo(timezone)
    for name in out.columns:
        column = out[name]
        if name == "__insert_date" or pd.api.types.is_datetime64_any_dtype(column):
            moments = pd.to_datetime(column, errors="coerce", utc=True)
            out[name] = [m.tz_convert(zone).strftime("%Y-%m-%d %H:%M:%S")
                         if not pd.isna(m) else "" for m in moments]
        elif column.dtype == object:
            out[name] = column.where(column.notna(), "")
    return out


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


def plain(value: object) -> str:
    """A value as a person reads it in a table cell: '(none)' for nothing, never 'None'."""
    if value is None or value == "" or value == [] or value == {}:
        return "(none)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(plain(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={plain(v)}" for k, v in value.items())
    return str(value)


# What makes Markdown more than text in Streamlit: links and images ([ ]), autolinks and HTML
# (< >), code, emphasis (* and an `_` that is not inside a word), LaTeX ($), strike (~),
# tables (|), headings (#), and colour directives and icons (:red[...], :material/x:).
_MARKDOWN = re.compile(r"([\\`*\[\]<>$~|#:])|(?<!\w)_|_(?!\w)")


def text(value: object) -> str:
    """A string a person wrote (a title, a name, a filter value, a source's error) as plain
    text inside Streamlit Markdown: every sign that would make it more than text escaped, so
    `![x](https://...)` shows those characters and no viewer's browser fetches anything."""
    return _MARKDOWN.sub(lambda m: "\\" + m.group(0), str(value))
