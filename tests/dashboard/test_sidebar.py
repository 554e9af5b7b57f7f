from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.db import Database
from core.models import Lease
from dashboard import navigation
from tests.dashboard.conftest import open_page


def test_the_sidebar_says_when_no_worker_runs(app_db: Database) -> None:
    at = open_page(navigation.EXTRACTS)

    assert at.sidebar.markdown[0].value.endswith("Worker not running]")
    assert at.selectbox(key="app_timezone").value == "UTC"


def test_the_sidebar_names_the_worker_that_fires_schedules(app_db: Database) -> None:
    with app_db.session() as s:
        s.add(Lease(name="scheduler", holder="host-1:4242",
                    expires_at=datetime.now(UTC) + timedelta(seconds=30)))
    at = open_page(navigation.EXTRACTS)

    assert at.sidebar.markdown[0].value.endswith("Worker running]")
    assert "Schedules are fired by the worker on host-1 (process 4242)." in [
        c.value for c in at.sidebar.caption]


def test_dates_follow_the_timezone_picked_in_the_sidebar(app_db: Database) -> None:
    from core import service
    from tests.conftest import make_extract

    with app_db.session() as s:
        make_extract(s)
    at = open_page(navigation.EXTRACTS)
    at.selectbox(key="app_timezone").select("Asia/Kolkata").run()

    # The daily 00:00 UTC schedule reads 05:30 in India: "in 9 h (05:30)", or "(Dec 2 05:30)"
    # when it fires on another day there (whatever the time of day the test runs at).
    assert at.dataframe[0].value["next_run"][0].endswith("05:30)")
    with app_db.session() as s:
        assert service.list_extracts(session=s).total == 1
