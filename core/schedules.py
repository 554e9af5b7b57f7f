"""Schedules: checking them, turning them into APScheduler triggers, and their next fire time."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger

from core.errors import Problem

FREQUENCIES = ("hourly", "daily", "weekly", "monthly", "cron")
EVERY_HOURS = (1, 2, 3, 4, 6, 8, 12)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
LOOKBACK_PRESETS = {"live": "1 day", "default": "the template's default",
                    "max": "the template's depth limit"}
MAX_LOOKBACK_DAYS = 3650
# Months shorter than a given day of the month, for "day 31 means the last day".
_SHORTER_MONTHS = {29: "2", 30: "2", 31: "2,4,6,9,11"}

DEFAULT_SCHEDULE: dict[str, Any] = {
    "frequency": "daily", "every_hours": None, "minute": 0, "hour": 0, "weekday": None,
    "day_of_month": None, "cron": None, "timezone": "UTC", "lookback": "default",
}


def _in_range(problems: list[Problem], where: str, value: Any, low: int, high: int,
              what: str) -> int | None:
    if value is None:
        problems.append(Problem(where, f"{what} is required, a whole number {low}-{high}"))
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        problems.append(Problem(where, f"{what} must be a whole number {low}-{high}, "
                                       f"not {value!r}"))
        return None
    return value


def check(raw: Mapping[str, Any], where: str, *, depth_limit_days: int | None,
          default_lookback_days: int) -> tuple[dict[str, Any], list[Problem]]:
    """Validate one schedule given as a mapping; return its normalised form or the problems."""
    problems: list[Problem] = []
    known = set(DEFAULT_SCHEDULE)
    unknown = sorted(set(raw) - known - {"id", "next_run_at"})
    if unknown:
        problems.append(Problem(where, f"unknown key(s) {', '.join(unknown)}; "
                                       f"known: {', '.join(sorted(known))}"))
    frequency = raw.get("frequency") or "daily"
    out: dict[str, Any] = {**DEFAULT_SCHEDULE, "frequency": frequency}
    if frequency not in FREQUENCIES:
        problems.append(Problem(f"{where}.frequency", f"must be one of "
                                f"{', '.join(FREQUENCIES)}, not {frequency!r}"))
        return out, problems

    tz_name = raw.get("timezone") or "UTC"
    try:
        ZoneInfo(str(tz_name))
        if str(tz_name) not in available_timezones() and tz_name != "UTC":
            raise ZoneInfoNotFoundError(tz_name)
        out["timezone"] = str(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(Problem(f"{where}.timezone", f"unknown timezone {tz_name!r}; use an "
                                                     "IANA name such as Europe/Berlin or UTC"))

    minute = raw.get("minute", 0)
    if frequency != "cron":
        out["minute"] = _in_range(problems, f"{where}.minute", minute, 0, 59, "minute")
    if frequency == "hourly":
        every = raw.get("every_hours") or 1
        if every not in EVERY_HOURS:
            problems.append(Problem(f"{where}.every_hours", "must be one of "
                                    f"{', '.join(map(str, EVERY_HOURS))}, not {every!r}"))
        out["every_hours"] = every
    if frequency in ("daily", "weekly", "monthly"):
        out["hour"] = _in_range(problems, f"{where}.hour", raw.get("hour", 0), 0, 23, "hour")
    if frequency == "weekly":
        weekday = raw.get("weekday")
        if isinstance(weekday, str) and weekday.lower()[:3] in WEEKDAYS:
            weekday = WEEKDAYS.index(weekday.lower()[:3])
        out["weekday"] = _in_range(problems, f"{where}.weekday", weekday, 0, 6,
                                   "weekday (0 = Monday ... 6 = Sunday)")
    if frequency == "monthly":
        out["day_of_month"] = _in_range(problems, f"{where}.day_of_month",
                                        raw.get("day_of_month"), 1, 31, "day_of_month")
    if frequency == "cron":
        text = str(raw.get("cron") or "").strip()
        try:
            CronTrigger.from_crontab(text)
            out["cron"] = text
        except ValueError as exc:
            problems.append(Problem(f"{where}.cron", f"bad cron expression {text!r} ({exc}); "
                                    "use five fields: minute hour day month weekday, "
                                    "e.g. '30 2 * * 1-5'"))

    lookback = raw.get("lookback", "default")
    if lookback is None:
        lookback = "default"
    if isinstance(lookback, str) and lookback.isdigit():
        lookback = int(lookback)
    if lookback == "max" and depth_limit_days is None:
        problems.append(Problem(f"{where}.lookback", "'max' needs a template with a depth "
                                "limit; this one has none, so give a number of days"))
    elif isinstance(lookback, str) and lookback in LOOKBACK_PRESETS:
        out["lookback"] = lookback
    elif isinstance(lookback, int) and not isinstance(lookback, bool):
        limit = depth_limit_days or MAX_LOOKBACK_DAYS
        if not 1 <= lookback <= limit:
            problems.append(Problem(f"{where}.lookback",
                                    f"must be 1-{limit} days, not {lookback}"))
        out["lookback"] = str(lookback)
    else:
        problems.append(Problem(f"{where}.lookback", "must be a number of days or one of "
                                f"{', '.join(LOOKBACK_PRESETS)}, not {lookback!r}"))
    return out, problems


def lookback_days(lookback: str, *, default_lookback_days: int,
                  depth_limit_days: int | None) -> int:
    """The number of days a schedule's lookback stands for."""
    if lookback == "live":
        return 1
    if lookback == "default":
        return default_lookback_days
    if lookback == "max":
        return depth_limit_days or default_lookback_days
    return int(lookback)


def trigger_for(schedule: Mapping[str, Any]) -> BaseTrigger:
    """The APScheduler trigger of a normalised schedule."""
    tz = ZoneInfo(schedule["timezone"])
    frequency = schedule["frequency"]
    if frequency == "cron":
        return CronTrigger.from_crontab(schedule["cron"], timezone=tz)
    minute = schedule["minute"]
    if frequency == "hourly":
        return CronTrigger(hour=f"*/{schedule['every_hours']}", minute=minute, timezone=tz)
    hour = schedule["hour"]
    if frequency == "daily":
        return CronTrigger(hour=hour, minute=minute, timezone=tz)
    if frequency == "weekly":
        return CronTrigger(day_of_week=schedule["weekday"], hour=hour, minute=minute,
                           timezone=tz)
    day = schedule["day_of_month"]
    exact = CronTrigger(day=day, hour=hour, minute=minute, timezone=tz)
    if day <= 28:
        return exact
    last = CronTrigger(month=_SHORTER_MONTHS[day], day="last", hour=hour, minute=minute,
                       timezone=tz)
    return OrTrigger([exact, last])


def next_fire(schedule: Mapping[str, Any], after: datetime) -> datetime | None:
    """The first fire time strictly after `after` (aware), in UTC."""
    trigger = trigger_for(schedule)
    probe = after
    for _ in range(4):
        fire = trigger.get_next_fire_time(None, probe)
        if fire is None:
            return None
        if fire > after:
            return fire.astimezone(ZoneInfo("UTC"))
        # APScheduler 3 can answer a time at or before `after` around a DST fall-back;
        # step past the repeated hour.
        probe = probe + timedelta(minutes=30)
    return None
