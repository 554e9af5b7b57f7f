"""Rows of schedules: a frequency, the inputs that frequency needs, a timezone and a lookback."""

from __future__ import annotations

from typing import Any

import streamlit as st

from core import schemas
from core.vocabulary import EVERY_HOURS, FREQUENCIES, WEEKDAYS, Frequency
from dashboard import widgets
from dashboard.state import TIMEZONES

CUSTOM = "custom"
DEFAULT: dict[str, Any] = {"frequency": Frequency.DAILY, "hour": 0, "minute": 0,
                           "timezone": "UTC", "lookback": "default"}


def as_inputs(schedule: schemas.ScheduleOut) -> dict[str, Any]:
    """A stored schedule as the inputs of its frequency return it (to pre-fill and compare)."""
    frequency = schedule.frequency
    out: dict[str, Any] = {"frequency": frequency}
    wanted = {Frequency.HOURLY: ("every_hours", "minute"), Frequency.DAILY: ("hour", "minute"),
              Frequency.WEEKLY: ("weekday", "hour", "minute"),
              Frequency.MONTHLY: ("day_of_month", "hour", "minute"),
              Frequency.CRON: ("cron",)}[Frequency(frequency)]
    for name in wanted:
        out[name] = getattr(schedule, name)
    out["timezone"] = schedule.timezone
    out["lookback"] = schedule.lookback
    return out


def lookback_options(template: schemas.TemplateOut) -> dict[str, str]:
    """Lookback presets with what they mean for this template."""
    options = {"default": f"Template default ({template.default_lookback_days} days)",
               "live": "Live (1 day)"}
    if template.depth_limit_days:
        options["max"] = f"Depth limit ({template.depth_limit_days} days)"
    options[CUSTOM] = "A number of days"
    return options


def schedule_inputs(template: schemas.TemplateOut, prefix: str,
                    initial: dict[str, Any] | None = None) -> dict[str, Any]:
    """One schedule's inputs, showing `initial` at first; returns it as the service takes
    it."""
    first = {**DEFAULT, **(initial or {})}
    frequency = st.selectbox("Frequency", FREQUENCIES, key=f"{prefix}_frequency",
                             index=FREQUENCIES.index(first["frequency"]))
    out: dict[str, Any] = {"frequency": frequency}
    with st.container(horizontal=True):
        if frequency == Frequency.HOURLY:
            out["every_hours"] = st.selectbox(
                "Every (hours)", EVERY_HOURS, key=f"{prefix}_every",
                index=EVERY_HOURS.index(first.get("every_hours") or 1))
        if frequency == Frequency.WEEKLY:
            out["weekday"] = st.selectbox("Weekday", range(7), key=f"{prefix}_weekday",
                                          index=first.get("weekday") or 0,
                                          format_func=lambda d: WEEKDAYS[d].capitalize())
        if frequency == Frequency.MONTHLY:
            out["day_of_month"] = st.number_input(
                "Day of month", 1, 31, first.get("day_of_month") or 1, key=f"{prefix}_day",
                help="29-31 mean the last day in shorter months.")
        if frequency in (Frequency.DAILY, Frequency.WEEKLY, Frequency.MONTHLY):
            out["hour"] = st.number_input("Hour", 0, 23, first.get("hour") or 0,
                                          key=f"{prefix}_hour")
        if frequency != Frequency.CRON:
            out["minute"] = st.number_input("Minute", 0, 59, first.get("minute") or 0,
                                            key=f"{prefix}_minute")
        if frequency == Frequency.CRON:
            out["cron"] = st.text_input("Cron expression", key=f"{prefix}_cron",
                                        value=first.get("cron") or "",
                                        placeholder="30 2 * * 1-5",
                                        help="Five fields: minute hour day month weekday.")
    with st.container(horizontal=True):
        # A schedule saved through the API may use an alias the list leaves out; keep it.
        zones = TIMEZONES if first["timezone"] in TIMEZONES else (first["timezone"], *TIMEZONES)
        out["timezone"] = st.selectbox("Timezone", zones, key=f"{prefix}_timezone",
                                       index=zones.index(first["timezone"]))
        presets = lookback_options(template)
        days = first["lookback"] if isinstance(first["lookback"], int) else None
        preset = CUSTOM if days is not None else first["lookback"]
        lookback: str | int = st.selectbox(
            "Lookback", list(presets), format_func=presets.__getitem__,
            index=list(presets).index(preset) if preset in presets else 0,
            key=f"{prefix}_lookback", help="How many days back each scheduled run reloads.")
        if lookback == CUSTOM:
            lookback = st.number_input("Days", 1, template.depth_limit_days or 3650,
                                       days or template.default_lookback_days,
                                       key=f"{prefix}_lookback_days")
        out["lookback"] = lookback
    return out


def schedule_rows(template: schemas.TemplateOut, limit: int, slots: widgets.ProblemSlots, page: str,
                  initial: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Up to `limit` schedules, starting from `initial` (one daily at 00:00 UTC if none)."""
    initial = initial or [DEFAULT]
    ids_key = f"{page}_schedule_ids"
    if ids_key not in st.session_state:
        st.session_state[ids_key] = list(range(len(initial)))
    ids = list(st.session_state[ids_key])
    out = []
    for position, row in enumerate(ids):
        with st.container(border=True):
            out.append(schedule_inputs(template, f"{page}_schedule_{template.id}_{row}",
                                       initial[row] if row < len(initial) else None))
            if len(ids) > 1:
                st.button("Remove schedule", icon=":material/delete:",
                          key=f"{page}_schedule_{row}_remove", on_click=widgets.remove_row,
                          args=(ids_key, row))
            slots.here(f"schedules[{position}]")
    st.button("Add schedule", icon=":material/more_time:", key=f"{page}_schedule_add",
              on_click=widgets.add_row, args=(ids_key,), disabled=len(ids) >= limit,
              help=f"An extract may have at most {limit} schedules.")
    return out
