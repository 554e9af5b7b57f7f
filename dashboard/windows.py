"""Date-window presets of the Run panel, as pure functions of 'today'."""

from __future__ import annotations

from datetime import date, timedelta

PRESETS = {
    "yesterday": "Yesterday",
    "last_7_days": "Last 7 days",
    "last_30_days": "Last 30 days",
    "month_to_date": "Month to date",
    "previous_month": "Previous month",
}


def preset_window(preset: str, today: date) -> tuple[date, date]:
    """The inclusive [date_from, date_to] of a preset. 'Last N days' are the N complete days
    before today, as ad platforms count them."""
    yesterday = today - timedelta(days=1)
    if preset == "yesterday":
        return yesterday, yesterday
    if preset == "last_7_days":
        return today - timedelta(days=7), yesterday
    if preset == "last_30_days":
        return today - timedelta(days=30), yesterday
    if preset == "month_to_date":
        return today.replace(day=1), today
    if preset == "previous_month":
        last = today.replace(day=1) - timedelta(days=1)
        return last.replace(day=1), last
    raise ValueError(f"unknown preset {preset!r}; known: {', '.join(PRESETS)}")
