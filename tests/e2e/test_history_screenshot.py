"""The History page in a real browser on a seeded month of runs; saves docs/history.png."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from core import service
from core.config import get_settings
from core.db import open_database
from core.models import Extract, Run
from tests.e2e.conftest import serving_with_sign_in, sign_in
from tests.e2e.ui import wait_idle

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "docs" / "history.png"
TABLES = ("Campaign stats", "Ad group stats", "Geo stats")


@pytest.fixture
def seeded_history(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A month of runs of six extracts in the database the app server will open."""
    monkeypatch.setenv("EXTRACTS_EMBEDDED_WORKER", "false")
    settings = get_settings({"EXTRACTS_VAR_DIR": str(tmp_path / "var"),
                             "EXTRACTS_SECRET_KEY": "e2e-secret"})
    db = open_database(settings, seed=True)
    rng = random.Random(7)
    now = datetime.now(UTC).replace(microsecond=0)
    today = now.date()
    midnight = datetime(today.year, today.month, today.day, tzinfo=UTC)
    with db.session() as s:
        ids = []
        for n in range(6):
            [extract] = service.create_extracts(session=s, now=now - timedelta(days=40), data={
                "data_table_title": TABLES[n % 3], "template_id": 1,
                "accounts": [n % 3 + 1],
                "template_settings": {"fields": ["date", "campaign_id", "clicks", "spend"]}})
            ids.append(extract.id)
        for n, extract_id in enumerate(ids):
            volume = rng.randint(800, 3000)
            for back in range(34, -1, -1):
                if n == 5 and 10 <= back <= 14:
                    continue  # a hole in its coverage
                day = today - timedelta(days=back)
                queued = datetime(day.year, day.month, day.day, 6, 0, tzinfo=UTC) \
                    + timedelta(minutes=7 * n)
                started = queued + timedelta(seconds=rng.uniform(2, 240))
                duration = rng.lognormvariate(4, 0.5)
                if back == 0:  # today: queued together, so that some run at once
                    # (40 minutes ago, or at midnight if today is younger: still today)
                    queued = max(now - timedelta(minutes=40), midnight) \
                        + timedelta(seconds=50 * n)
                    started = queued + timedelta(seconds=rng.uniform(5, 200))
                    duration = rng.uniform(150, 600)
                failed = (n == 2 and back < 3) or rng.random() < 0.06
                rows = int(volume * (0.25 if (n == 1 and back == 8) else rng.uniform(0.85, 1.15)))
                error = ("401 Unauthorized: the access token has expired" if n == 2
                         else "HTTP 429 Too Many Requests after 3 retries") if failed else None
                s.add(Run(extract_id=extract_id, status="failed" if failed else "succeeded",
                          trigger="schedule", queued_at=queued, started_at=started,
                          finished_at=started + timedelta(seconds=duration),
                          duration_seconds=round(duration, 1), date_from=day, date_to=day,
                          rows=None if failed else rows, error=error, attempts=1, log=[
                              {"at": started.isoformat(), "level": "info",
                               "message": f"fetching {day} → {day}"},
                              {"at": (started + timedelta(seconds=duration)).isoformat(),
                               "level": "error" if failed else "info",
                               "message": error or f"loaded {rows} rows"}]))
        hole = s.get(Extract, ids[5])
        assert hole is not None
        hole.sync_historical_data = today - timedelta(days=34)
        broken = s.get(Extract, ids[2])
        assert broken is not None
        broken.status, broken.error_text = "error", "401 Unauthorized"
    db.dispose()
    return {"extract_with_gaps": ids[5]}


@pytest.fixture
def app_server(seeded_history: dict[str, Any], tmp_path: Path, oidc_provider: str
               ) -> Iterator[str]:
    """Sign-in on, over the seeded database: the screenshot shows who is signed in."""
    with serving_with_sign_in(tmp_path, oidc_provider, admins="lead@example.com") as url:
        yield url


def test_history_page_renders_its_charts(seeded_history: dict[str, Any], page: Page,
                                         app_server: str) -> None:
    extract_id = seeded_history["extract_with_gaps"]
    # The router must run once before a deep link works (see test_deep_link.py).
    sign_in(page, app_server, "lead")
    expect(page.get_by_role("combobox", name="Timezone for dates")).to_be_visible()
    page.goto(f"{app_server}/history?coverage={extract_id}")
    expect(page.get_by_role("heading", name="History")).to_be_visible()
    expect(page.get_by_text("Coverage of").first).to_be_visible()
    page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length >= 6")
    wait_idle(page)

    expect(page.get_by_role("button", name="Fill gaps")).to_have_count(1)
    expect(page.get_by_test_id("stSidebarNav").get_by_role("link", name="History",
                                                            exact=True)).to_be_visible()
    expect(page.get_by_test_id("stExpander").filter(
        has_text="401 Unauthorized: the access token has expired")).to_have_count(1)
    assert f"coverage={extract_id}" in page.url and "from=" in page.url
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":  # committed, like the other screenshots
        # The app scrolls inside its main block, so a tall window is what shows it all.
        page.set_viewport_size({"width": 1400, "height": 3900})
        wait_idle(page)
        page.mouse.move(1395, 3895)
        page.wait_for_timeout(1500)  # plotly redraws at the new size
        page.screenshot(path=str(SCREENSHOT))
