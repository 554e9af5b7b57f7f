"""The dashboard's pure building blocks, without Streamlit."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from core import errors, schemas
from dashboard import display, runs_view, widgets, windows
from dashboard.filter_rows import parse_item
from dashboard.widgets import route

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(("moment", "text"), [
    (None, "never"),
    (NOW - timedelta(seconds=20), "just now"),
    (NOW - timedelta(minutes=5), "5 min ago"),
    (NOW - timedelta(hours=3, minutes=59), "3 h ago"),
    (NOW + timedelta(days=2, hours=1), "in 2 d"),
])
def test_relative_time(moment: datetime | None, text: str) -> None:
    assert display.relative_time(moment, NOW) == text


def extract(next_run_at: datetime | None, status: str = "active") -> schemas.ExtractOut:
    return schemas.ExtractOut(
        id=1, title="t", connection_id=1, account_id=1, account_name="a", created_at=NOW,
        last_sync=None, status=status, error_text=None, schedules_limit=3,
        sync_historical_data=None, template_id=1, data_table_id=1, data_table_title="d",
        fields=[], filters=[], additional_params={}, schedules=[], next_run_at=next_run_at,
        template_settings={}, datasource_name="sample_ads", template_title="t", updated_at=NOW)


def test_the_next_run_reads_relative_or_local_and_paused_or_dash_without_one() -> None:
    soon = extract(NOW + timedelta(hours=2, minutes=5))

    assert display.next_run(soon, NOW) == "in 2 h"
    assert display.next_run(soon, NOW, "Asia/Kolkata") == "2026-11-28 17:35"
    for timezone in (None, "UTC"):
        assert display.next_run(extract(None, "paused"), NOW, timezone) == "paused"
        assert display.next_run(extract(None, "error"), NOW, timezone) == "—"


def test_a_run_log_reads_in_the_picked_timezone() -> None:
    lines = [{"at": NOW.isoformat(), "level": "info", "message": "attempt 1 started"},
             {"at": "2026-11-28T10:00:05.250000+00:00", "level": "error", "message": "boom"}]

    assert display.log_text(lines, "Europe/Berlin") == (
        "2026-11-28 11:00:00 info: attempt 1 started\n2026-11-28 11:00:05 error: boom")
    assert display.log_text([], "UTC") == ""


def test_times_are_shown_in_the_picked_timezone() -> None:
    assert display.local_time(NOW, "America/New_York") == "2026-11-28 05:00"
    assert display.status_label("error") == "✕ error"
    assert display.status_label("succeeded") == "● succeeded"
    assert display.status_label("syncing") == "↻ syncing…"
    assert display.status_label("running") == "↻ running…"


@pytest.mark.parametrize(("preset", "expected"), [
    ("yesterday", (date(2026, 3, 1), date(2026, 3, 1))),
    ("last_7_days", (date(2026, 2, 23), date(2026, 3, 1))),
    ("last_30_days", (date(2026, 1, 31), date(2026, 3, 1))),
    ("month_to_date", (date(2026, 3, 1), date(2026, 3, 2))),
    ("previous_month", (date(2026, 2, 1), date(2026, 2, 28))),
])
def test_window_presets(preset: str, expected: tuple[date, date]) -> None:
    assert windows.preset_window(preset, date(2026, 3, 2)) == expected


def test_problems_go_to_the_most_specific_slot() -> None:
    problems = [errors.Problem("template_settings.fields", "required field(s) date"),
                errors.Problem("template_settings.filters[1].value", "must be a number"),
                errors.Problem("template_settings.attribution_window", "must be one of"),
                errors.Problem("additional_params", "must be an object")]
    slots = ["template_settings", "template_settings.fields", "template_settings.filters[1]"]

    assert route(problems, slots) == {
        "template_settings.fields": ["required field(s) date"],
        "template_settings.filters[1]": ["Filter 2, value: must be a number"],
        "template_settings": ["Attribution window: must be one of"],
        "": ["Additional params: must be an object"],
    }


def test_messages_use_the_forms_words() -> None:
    assert widgets.field_label("schedules[0].hour") == "Schedule 1, hour"
    assert widgets.field_label("date_from") == "Start date"
    assert widgets.plain_message("date_from 2025-03-10 is after date_to 2025-03-01") == (
        "Start date 2025-03-10 is after end date 2025-03-01")
    assert widgets.plain_message("must not be empty; leave it out for the default") == (
        "must not be empty; type a title")


def test_list_items_are_typed_and_bad_ones_passed_on_as_text() -> None:
    assert [parse_item("integer", v) for v in ("3", " x")] == [3, "x"]
    assert [parse_item("number", "2.5"), parse_item("boolean", "True")] == [2.5, True]


def run(id_: int, status: str, day: int, seconds: float | None = None) -> schemas.RunOut:
    return schemas.RunOut(id=id_, extract_id=1, status=status, trigger="backfill",
                          date_from=date(2026, 1, day), date_to=date(2026, 1, day),
                          queued_at=NOW, started_at=None, finished_at=None, rows=None,
                          duration_seconds=seconds, attempts=0, max_attempts=3, error=None)


def test_backfill_progress_counts_chunks_and_estimates_the_rest() -> None:
    runs = [run(4, "queued", 1), run(3, "running", 2), run(2, "succeeded", 3, 10.0),
            run(1, "succeeded", 4, 20.0)]

    progress = runs_view.backfill_progress(runs)

    assert progress == runs_view.Backfill(done=2, total=4, reached=date(2026, 1, 3),
                                          seconds_left=30.0)
    assert runs_view.backfill_progress(runs[2:]) is None
