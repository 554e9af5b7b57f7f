"""The History page in AppTest: filters from and to the URL, headline figures, failures with
their logs, and Fill gaps queueing the missing windows; the history section of an extract."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from streamlit.testing.v1 import AppTest

from core import runner, service
from core.db import Database
from core.models import Extract, Run
from dashboard import navigation, state
from tests.conftest import make_extract
from tests.dashboard.conftest import APP, SCRIPT_TIMEOUT, open_page, texts

PAGE = navigation.HISTORY
# The moment the page takes as now (dashboard.state.CLOCK_KEY) and the history is seeded
# against: the days counted do not change when a run crosses midnight, whatever the date.
NOW = datetime(2026, 3, 29, 0, 2, 30, tzinfo=UTC)
TODAY = NOW.date()


def history_page(**query_params: str) -> AppTest:
    """The History page opened from a link with these query parameters, timezone UTC, at
    NOW."""
    at = AppTest.from_file(APP, default_timeout=SCRIPT_TIMEOUT)
    at.session_state[state.TIMEZONE_KEY] = "UTC"
    at.session_state[state.CLOCK_KEY] = NOW
    at.query_params = dict(query_params)
    at.switch_page(PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def seed(db: Database) -> tuple[int, int]:
    """Two extracts; over the days before NOW: a 3 successes and 2 failures, b 1 success."""
    with db.session() as s:
        a = make_extract(s).id
        b = make_extract(s, accounts=[2], data_table_title="Other stats").id

        def run(extract_id: int, days_ago: int, status: str, **extra: Any) -> None:
            queued = NOW - timedelta(days=days_ago, minutes=1)
            day = queued.date()
            s.add(Run(extract_id=extract_id, status=status, trigger="schedule",
                      queued_at=queued, started_at=queued + timedelta(seconds=2),
                      finished_at=queued + timedelta(seconds=12), duration_seconds=10,
                      date_from=day, date_to=day, log=[
                          {"at": queued.isoformat(), "level": "error",
                           "message": extra.get("error") or "done"}], **extra))

        for days_ago in (1, 2, 3):
            run(a, days_ago, "succeeded", rows=100)
        run(a, 4, "failed", error="401 Unauthorized: token expired")
        run(a, 0, "failed", error="401 Unauthorized: token expired")
        run(b, 1, "succeeded", rows=7)
    return a, b


def metric(at: AppTest, label: str) -> str:
    return next(str(m.value) for m in at.metric if m.label == label)


def test_default_view_is_the_last_30_days_and_goes_into_the_url(app_db: Database) -> None:
    at = history_page()

    assert [t.value for t in at.title] == ["History"]
    assert at.query_params["from"] == str(TODAY - timedelta(days=29))
    assert at.query_params["to"] == str(TODAY)
    assert [m.label for m in at.metric] == [
        "Runs", "Success rate", "Rows loaded", "Median duration", "p95 duration",
        "Extracts in error", "Stale extracts"]
    assert metric(at, "Runs") == "0"
    assert "No failed runs in this period." in texts(at)
    # No change is grey news, not a red "↑ +0".
    stale = next(m for m in at.metric if m.label == "Stale extracts")
    assert (stale.delta, stale.proto.color) == ("no change", 2)  # METRIC_COLOR_GRAY


def test_headline_and_failures_of_the_seeded_history(app_db: Database) -> None:
    seed(app_db)
    at = history_page()

    assert metric(at, "Runs") == "6"
    assert metric(at, "Success rate") == "66.7%"  # 4 of 6 finished
    assert metric(at, "Rows loaded") == "307"
    assert metric(at, "Extracts in error") == "1"
    [failures] = [e for e in at.expander if "401 Unauthorized" in e.label]
    assert failures.label.startswith("2×")
    assert "401 Unauthorized: token expired" in "".join(str(c.value) for c in at.code)
    assert len(at.get("plotly_chart")) == 4 + 1 + 1  # grid, timeline, coverage


def test_filters_come_from_the_link(app_db: Database) -> None:
    a, _ = seed(app_db)
    at = history_page(extract=str(a), status="failed")

    assert at.selectbox(key="history_extract").value == a
    assert at.selectbox(key="history_status").value == "failed"
    assert metric(at, "Runs") == "2"
    assert metric(at, "Rows loaded") == "0"
    assert at.query_params["extract"] == str(a)
    assert at.query_params["status"] == "failed"

    dated = history_page(**{"from": str(TODAY - timedelta(days=2)), "to": str(TODAY)})
    assert dated.date_input(key="history_dates").value == (TODAY - timedelta(days=2), TODAY)


def test_changing_a_filter_updates_the_url(app_db: Database) -> None:
    _, b = seed(app_db)
    at = history_page()

    at.selectbox(key="history_extract").set_value(b).run()
    at.selectbox(key="history_trigger").set_value("schedule").run()

    assert not at.exception
    assert metric(at, "Runs") == "1"
    assert at.query_params["extract"] == str(b)
    assert at.query_params["trigger"] == "schedule"
    at.selectbox(key="history_trigger").set_value(None).run()
    assert "trigger" not in at.query_params


def test_fill_gaps_queues_runs_for_the_missing_dates(app_db: Database) -> None:
    a, _ = seed(app_db)
    with app_db.session() as s:
        extract = s.get(Extract, a)
        assert extract is not None
        extract.sync_historical_data = TODAY - timedelta(days=10)
    at = history_page(coverage=str(a))

    assert at.selectbox(key="history_coverage").value == a
    # Loaded: 1, 2, 3 days ago. Missing: 10..4 days ago, and today.
    assert "8 missing day(s) in 2 gap(s)" in texts(at)
    at.button(key="history_fill_gaps").click().run()

    assert not at.exception
    assert "Queued 2 backfill run(s) for 8 missing day(s)." in texts(at)
    with app_db.session() as s:
        queued = service.list_runs(session=s, extract_id=a, status="queued")
    assert sorted((r.date_from, r.date_to) for r in queued) == [
        (TODAY - timedelta(days=10), TODAY - timedelta(days=4)), (TODAY, TODAY)]
    assert {r.trigger for r in queued} == {"backfill"}
    assert "Every date from" in texts(at)  # queued days are no longer gaps


def test_the_extract_page_shows_its_history_and_coverage(app_db: Database) -> None:
    a, _ = seed(app_db)
    at = open_page(navigation.EXTRACT, extract_id=a, app_timezone="UTC", app_now=NOW)

    assert not at.exception
    assert "History (last 30 days)" in texts(at)
    assert any(key.startswith(f"extract_{a}_history") for key in
               (getattr(c, "key", "") or "" for c in at.get("plotly_chart")))
    assert at.button(key=f"extract_{a}_fill_gaps") is not None


def test_a_run_that_just_finished_shows_at_once(app_db: Database) -> None:
    a, _ = seed(app_db)
    at = history_page()
    assert metric(at, "Runs") == "6"

    with app_db.session(now=NOW) as s:
        [run] = service.run_extract(session=s, extract_id=a, now=NOW)
    runner.execute_run(db=app_db, run_id=run.id, clock=lambda: NOW)
    at.run()  # well within the cache's 30 s

    assert metric(at, "Runs") == "7"
