"""Schedules: checking them, turning them into APScheduler triggers, and their next fire time."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger

from core.errors import Problem
from core.vocabulary import EVERY_HOURS, FREQUENCIES, WEEKDAYS

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
            crontab_trigger(text, ZoneInfo("UTC"))
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


class OncePerWallTime(BaseTrigger):
    """A trigger that never fires twice at one local wall-clock time, nor at or before the
    time it is asked after.

    APScheduler 3.11's CronTrigger answers both 02:30+02:00 and 02:30+01:00 for a daily
    02:30 in Europe/Berlin on the fall-back day, which would run a daily schedule twice;
    like cron, a fixed-time schedule fires only on the first of the repeated times. Hourly
    schedules pass `repeat_ok` so the repeated hour counts as an hour of its own.
    """

    def __init__(self, inner: BaseTrigger, timezone: ZoneInfo, *, repeat_ok: bool = False):
        self.inner = inner
        self.timezone = timezone
        self.repeat_ok = repeat_ok

    def get_next_fire_time(self, previous_fire_time: datetime | None,
                           now: datetime) -> datetime | None:
        prev, probe = previous_fire_time, now
        for _ in range(8):
            fire = self.inner.get_next_fire_time(prev, probe)
            if fire is None:
                return None
            fire_utc = fire.astimezone(UTC)
            if previous_fire_time is not None:
                fresh = fire_utc > previous_fire_time.astimezone(UTC)
            else:
                fresh = fire_utc >= now.astimezone(UTC)
            if fresh and (self.repeat_ok or not self._repeated(fire_utc)):
                return fire_utc.astimezone(self.timezone)
            # Ask afresh from just after this time: asked with a previous fire time given
            # in UTC, CronTrigger can answer that same time again.
            prev, probe = None, fire_utc + timedelta(microseconds=1)
        return None

    def _repeated(self, fire_utc: datetime) -> bool:
        """Whether `fire_utc` is the second occurrence of a wall time that also fired."""
        local = fire_utc.astimezone(self.timezone)
        if local.fold == 0:
            return False
        first = local.replace(fold=0)
        if first.utcoffset() == local.utcoffset():
            return False
        first_utc = first.astimezone(UTC)
        again = self.inner.get_next_fire_time(None, first_utc)
        return again is not None and again.astimezone(UTC) == first_utc

    def __str__(self) -> str:
        return f"once-per-wall-time[{self.inner}]"


_CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _cron_day(token: str) -> int:
    token = token.strip().lower()
    if token[:3] in _CRON_DAYS:
        return _CRON_DAYS.index(token[:3])
    number = int(token)
    if not 0 <= number <= 7:
        raise ValueError(f"day of week {number} is not 0-7")
    return number % 7


def _cron_weekdays(field: str) -> str:
    """A crontab day-of-week field (0 or 7 = Sunday) as APScheduler day names.

    APScheduler 3's `from_crontab` reads the numbers as 0 = Monday, so "1-5" would mean
    Tuesday to Saturday; spelling the days out keeps the crontab meaning.
    """
    days: set[int] = set()
    for part in field.split(","):
        span, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if span == "*":
            first, last = 0, 6
        elif "-" in span:
            low, high = span.split("-", 1)
            first, last = _cron_day(low), _cron_day(high)
            if last == 0 and high.strip() not in ("0",):  # "5-7" ends on Sunday
                last = 7
        else:
            first = last = _cron_day(span)
            if step_text:
                last = 6
        if first > last:
            raise ValueError(f"day-of-week range {span!r} runs backwards")
        days.update(day % 7 for day in range(first, last + 1, step))
    if days == set(range(7)):
        return "*"
    return ",".join(_CRON_DAYS[day] for day in sorted(days))


def crontab_trigger(expression: str, tz: ZoneInfo) -> CronTrigger:
    """A CronTrigger that reads a five-field crontab expression as cron does."""
    values = expression.split()
    if len(values) != 5:
        raise ValueError(f"wrong number of fields; got {len(values)}, expected 5")
    return CronTrigger(minute=values[0], hour=values[1], day=values[2], month=values[3],
                       day_of_week=_cron_weekdays(values[4]), timezone=tz)


_TRIGGER_KEYS = ("frequency", "every_hours", "minute", "hour", "weekday", "day_of_month", "cron",
                 "timezone")


def trigger_for(schedule: Mapping[str, Any]) -> BaseTrigger:
    """The APScheduler trigger of a normalised schedule (DST-safe: see OncePerWallTime).

    Triggers hold no state, so equal schedules share one (most use a few common times, and
    building a CronTrigger is the costly part of syncing thousands of schedules)."""
    return _trigger(tuple(schedule[key] for key in _TRIGGER_KEYS))


@lru_cache(maxsize=4096)
def _trigger(key: tuple[Any, ...]) -> BaseTrigger:
    schedule = dict(zip(_TRIGGER_KEYS, key, strict=True))
    tz = ZoneInfo(schedule["timezone"])
    return OncePerWallTime(_cron_trigger(schedule, tz), tz,
                           repeat_ok=schedule["frequency"] == "hourly")


def _cron_trigger(schedule: Mapping[str, Any], tz: ZoneInfo) -> BaseTrigger:
    frequency = schedule["frequency"]
    if frequency == "cron":
        return crontab_trigger(schedule["cron"], tz)
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
    return next_fire_of(trigger_for(schedule), after)


def next_fire_of(trigger: BaseTrigger, after: datetime) -> datetime | None:
    """The first fire time of `trigger` strictly after `after` (aware), in UTC."""
    fire = trigger.get_next_fire_time(None, after + timedelta(microseconds=1))
    return None if fire is None else fire.astimezone(UTC)


def last_fire(trigger: BaseTrigger, after: datetime, until: datetime) -> datetime | None:
    """The latest fire time of `trigger` in (after, until], in UTC; None if there is none."""
    latest = None
    fire = next_fire_of(trigger, after)
    while fire is not None and fire <= until:
        latest = fire
        fire = next_fire_of(trigger, fire)
    return latest
