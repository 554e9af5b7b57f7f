"""The history figures, checked on their data: traces, x/y values, colours, titles."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd

from core.service import Coverage
from dashboard import charts, display

BERLIN = ZoneInfo("Europe/Berlin")
D1, D2, D3 = date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3)


def daily() -> pd.DataFrame:
    return pd.DataFrame([
        {"day": D1, "queued": 0, "dispatched": 0, "running": 0,
         "succeeded": 3, "failed": 1, "cancelled": 1,
         "runs": 5, "success_rate": 0.75, "rows": 300},
        {"day": D2, "queued": 0, "dispatched": 0, "running": 0,
         "succeeded": 0, "failed": 0, "cancelled": 0,
         "runs": 0, "success_rate": float("nan"), "rows": 0},
        {"day": D3, "queued": 1, "dispatched": 0, "running": 0,
         "succeeded": 0, "failed": 2, "cancelled": 0,
         "runs": 3, "success_rate": 0.0, "rows": 0}])


def test_one_status_colour_scheme_matching_the_tables_dots() -> None:
    expected = {"queued": charts.SHADES["gray"], "dispatched": charts.SHADES["gray"],
                "running": charts.SHADES["blue"],
                "succeeded": charts.SHADES["green"], "failed": charts.SHADES["red"],
                "cancelled": charts.SHADES["orange"]}
    colours = dict(charts.STATUS_COLOURS)
    assert colours == expected
    for status, colour in colours.items():
        assert charts.SHADES[display.status_colour(status)] == colour


def test_runs_by_status_stacks_one_bar_trace_per_status() -> None:
    fig = charts.runs_by_status(daily())

    assert [t.name for t in fig.data] == ["queued", "dispatched", "running", "succeeded",
                                          "failed", "cancelled"]
    by_name = {t.name: t for t in fig.data}
    assert list(by_name["succeeded"].y) == [3, 0, 0]
    assert list(by_name["failed"].y) == [1, 0, 2]
    assert list(by_name["failed"].x) == [D1, D2, D3]
    assert by_name["failed"].marker.color == charts.STATUS_COLOURS["failed"]
    assert fig.layout.barmode == "stack"
    assert fig.layout.title.text == "Runs per day by status"
    assert fig.layout.xaxis.title.text == "Day" and fig.layout.yaxis.title.text == "Runs"


def test_success_rate_is_a_percentage_with_gaps_on_days_nothing_finished() -> None:
    fig = charts.success_rate(daily())

    [trace] = fig.data
    assert list(trace.y) == [75.0, None, 0.0]
    assert list(trace.customdata) == ["3 of 4 finished", "0 of 0 finished", "0 of 2 finished"]
    assert trace.line.color == charts.STATUS_COLOURS["succeeded"]


def test_rows_by_table_fills_missing_days_and_marks_anomalies() -> None:
    rows = pd.DataFrame([{"day": D1, "data_table": "B", "rows": 10},
                         {"day": D1, "data_table": "A", "rows": 5},
                         {"day": D3, "data_table": "A", "rows": 7}])
    anomalies = pd.DataFrame([{"run_id": 9, "extract_id": 1, "extract": "Ads", "day": D3,
                               "queued_at": None, "rows": 7, "rows_per_day": 7.0,
                               "median_rows_per_day": 100.0, "ratio": 0.07,
                               "direction": "low"}])

    fig = charts.rows_by_table(rows, [D1, D2, D3], anomalies)

    assert [t.name for t in fig.data] == ["A", "B", "volume anomaly"]
    assert list(fig.data[0].y) == [5, 0, 7] and list(fig.data[1].y) == [10, 0, 0]
    marker = fig.data[2]
    assert list(marker.x) == [D3] and list(marker.y) == [7]  # on top of the day's stack
    assert list(marker.marker.symbol) == ["triangle-down"]
    assert marker.marker.color == charts.ANOMALY_COLOUR
    assert list(marker.customdata[0]) == ["Ads", 9, 7.0, 100.0]


def test_durations_has_p50_and_p95_lines() -> None:
    frame = pd.DataFrame([{"day": D1, "runs": 5, "p50": 30.0, "p95": 50.0},
                          {"day": D2, "runs": 0, "p50": float("nan"), "p95": float("nan")}])

    fig = charts.durations(frame)

    assert [t.name for t in fig.data] == ["p50 (median)", "p95"]
    assert list(fig.data[0].y) == [30.0, None] and list(fig.data[1].y) == [50.0, None]
    assert fig.layout.yaxis.title.text == "Seconds"


def test_timeline_draws_queue_wait_then_run_time_and_counts_concurrency() -> None:
    t0 = datetime(2026, 11, 11, 8, 0, tzinfo=BERLIN)
    runs = pd.DataFrame([
        {"run_id": 1, "extract_id": 1, "extract": "Ads", "status": "succeeded",
         "trigger": "schedule", "queued_at": t0, "started_at": t0 + timedelta(seconds=30),
         "finished_at": t0 + timedelta(seconds=90), "rows": 10, "error": ""},
        {"run_id": 2, "extract_id": 2, "extract": "Geo", "status": "failed",
         "trigger": "manual", "queued_at": t0, "started_at": t0 + timedelta(seconds=60),
         "finished_at": t0 + timedelta(seconds=120), "rows": None, "error": "boom"},
        {"run_id": 3, "extract_id": 1, "extract": "Ads", "status": "queued",
         "trigger": "manual", "queued_at": t0 + timedelta(seconds=100), "started_at": None,
         "finished_at": None, "rows": None, "error": ""}])
    now = t0 + timedelta(seconds=160)

    fig = charts.timeline(runs, now)

    wait, *ran = fig.data
    assert wait.name == "queue wait" and wait.marker.color == charts.QUEUE_WAIT_COLOUR
    assert list(wait.x) == [30_000, 60_000, 60_000]  # the queued run waits until now
    assert list(wait.base) == [t0.replace(tzinfo=None)] * 2 + [
        (t0 + timedelta(seconds=100)).replace(tzinfo=None)]
    assert [t.name for t in ran] == ["succeeded", "failed"]
    assert list(ran[0].x) == [60_000] and list(ran[0].y) == ["Ads #1"]
    assert ran[1].marker.color == charts.STATUS_COLOURS["failed"]
    assert "boom" in ran[1].hovertext[0]
    assert charts.peak_concurrency(runs, now) == 2  # 08:01:00-08:01:30 both ran
    assert "at most 2 at once" in fig.layout.title.text
    assert list(fig.layout.yaxis.categoryarray) == ["Geo #2", "Ads #1"]


def test_coverage_calendar_marks_loaded_loading_and_missing_days() -> None:
    coverage = Coverage(extract_id=1, title="Ads", start=date(2026, 11, 2),  # a Monday
                        today=date(2026, 11, 12), pending=frozenset({date(2026, 11, 10)}),
                        loaded=frozenset(date(2026, 11, d) for d in (2, 3, 4, 5, 6, 11)),
                        gaps=((date(2026, 11, 7), date(2026, 11, 9)),
                              (date(2026, 11, 12), date(2026, 11, 12))))

    fig = charts.coverage_calendar(coverage)

    heat = fig.data[0]
    assert list(heat.x) == [date(2026, 11, 2), date(2026, 11, 9)]
    assert list(heat.y) == list(charts.WEEKDAYS)
    codes = {s: n for n, s in enumerate(charts.COVERAGE_STATES)}
    week1 = [row[0] for row in heat.z]
    week2 = [row[1] for row in heat.z]
    assert week1 == [codes["loaded"]] * 5 + [codes["missing"]] * 2
    assert week2 == [codes["missing"], codes["loading"], codes["loaded"], codes["missing"],
                     None, None, None]  # after today: blank
    assert heat.text[0][1] == "2026-11-09 Mon: missing"
    assert "4 day(s) missing" in fig.layout.title.text
    assert fig.layout.xaxis.tick0 == date(2026, 11, 2)  # weeks are labelled by their Monday
    assert [t.name for t in fig.data[1:]] == ["loaded", "loading", "missing"]
    assert fig.data[3].marker.color == charts.COVERAGE_COLOURS["missing"]


def test_empty_charts_say_so_instead_of_drawing_empty_axes() -> None:
    empty_day = daily().iloc[[1]]  # one day, no runs
    figures = [charts.runs_by_status(empty_day), charts.success_rate(empty_day),
               charts.durations(pd.DataFrame({"day": [D2], "p50": [None], "p95": [None],
                                              "runs": [0]})),
               charts.rows_by_table(pd.DataFrame(columns=["day", "data_table", "rows"]),
                                    [D2])]
    for fig in figures:
        assert charts.is_empty(fig)
        assert fig.layout.xaxis.visible is False and not fig.data
    assert [f.layout.annotations[0].text for f in figures] == [
        "No runs in this period yet", "No finished runs in this period yet",
        "No finished runs in this period yet", "No rows loaded in this period yet"]
    assert not charts.is_empty(charts.runs_by_status(daily()))
