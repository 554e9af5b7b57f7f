"""A new user's first session, in one real browser against a real `streamlit run` with
sign-in (an OpenID Connect provider on loopback).

Create a Sample Ads extract for two accounts with three fields and a filter, open one, run it
for a ten-day window, watch the run succeed without reloading, see its rows, edit its fields,
then look round the other pages. With UPDATE_SCREENSHOTS=1 the run also refreshes the
screenshots in docs/ that the README shows.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import delete, select

from core.config import get_settings
from core.db import open_database
from core.models import Connection, Extract, Run
from tests.e2e.conftest import serving_with_sign_in, sign_in
from tests.e2e.ui import choose, fill, fill_date, grid, screenshot, set_checkbox, wait_idle

ACCOUNTS = ("Acme Retail", "Globex Travel")
TEMPLATE = "Campaign performance (daily)"
TITLE = f"Acme Retail · {TEMPLATE}"
TABLE = "Campaign clicks"
# Each run label ("Run 1 · queued · ...") the page shows, in the order each first appears, kept
# on the window. (While the script reruns, Streamlit keeps the previous render's expanders,
# dimmed, until it has replaced them: an old label may stay a moment beside the new one.)
WATCH_RUN_LABELS = """
window.__e2e_run_labels = [];
new MutationObserver(() => {
  for (const label of document.querySelectorAll('[data-testid="stExpander"] summary')) {
    const text = label.innerText.match(/Run \\d+ · \\w+/)?.[0];
    const seen = window.__e2e_run_labels;
    if (text && !seen.includes(text)) seen.push(text);
  }
}).observe(document.body, {subtree: true, childList: true, characterData: true});
"""
# A run goes through the worker's queue and the Sample Ads source: generous, but bounded.
RUN_TIMEOUT = 60_000


@contextmanager
def run_held_in_the_queue(tmp_path: Path) -> Iterator[None]:
    """While inside, the worker starts no run of the Sample Ads connection: its cap is one and
    the other extract (Globex Travel) holds that slot with a run marked running. Both are
    undone on the way out, so the page's queued run goes on and nothing else shows it."""
    db = open_database(get_settings({"EXTRACTS_VAR_DIR": str(tmp_path / "var"),
                                     "EXTRACTS_SECRET_KEY": "e2e-secret"}))
    try:
        with db.session() as s:
            other = s.scalars(select(Extract).where(
                Extract.title == f"Globex Travel · {TEMPLATE}")).one()
            connection_id = other.connection_id
            connection = s.get(Connection, connection_id)
            assert connection is not None
            cap, connection.max_concurrent_runs = connection.max_concurrent_runs, 1
            now = datetime.now(UTC)
            slot = Run(extract_id=other.id, status="running", trigger="manual", queued_at=now,
                       started_at=now, heartbeat_at=now, worker_id="e2e-slot")
            s.add(slot)
        yield
    finally:
        with db.session() as s:
            s.execute(delete(Run).where(Run.worker_id == "e2e-slot"))
            held = s.get(Connection, connection_id)
            assert held is not None
            held.max_concurrent_runs = cap
        db.dispose()


@pytest.fixture
def app_server(tmp_path: Path, oidc_provider: str) -> Iterator[str]:
    """The product as a team runs it: people sign in; Ana is an admin from the start."""
    with serving_with_sign_in(tmp_path, oidc_provider, admins="ana@example.com") as url:
        yield url


def test_a_new_user_creates_runs_and_edits_an_extract(page: Page, app_server: str,
                                                      tmp_path: Path) -> None:
    sign_in(page, app_server, "ana")
    expect(page.get_by_text("Signed in as Ana Analyst (ana@example.com) · admin")
           ).to_be_visible()
    expect(page.get_by_role("heading", name="Extracts")).to_be_visible()
    expect(page.get_by_text("No extracts yet: create one")).to_be_visible()
    expect(page.get_by_text("Worker running")).to_be_visible()

    # New extract: two accounts, three fields (date and campaign_id are required), one filter.
    page.get_by_role("link", name="New extract").click()
    expect(page.get_by_role("heading", name="New extract")).to_be_visible()
    expect(page.get_by_role("combobox", name="Connection")).to_have_value("Sample Ads")
    for account in ACCOUNTS:
        choose(page, "Accounts", account)
    page.keyboard.press("Escape")
    expect(page.get_by_role("combobox", name="Template")).to_have_value(TEMPLATE)
    expect(page.get_by_text("Impressions, clicks, spend, conversions")).to_be_visible()
    for required in ("date (required)", "campaign_id (required)"):
        expect(page.get_by_role("checkbox", name=required)).to_be_checked()
        expect(page.get_by_role("checkbox", name=required)).to_be_disabled()
    for field in ("campaign_name", "channel", "impressions", "spend"):
        set_checkbox(page, field, False)
    set_checkbox(page, "clicks", True)

    page.get_by_role("button", name="Add filter").click()
    choose(page, "Field", "clicks")
    choose(page, "Operator", ">")
    fill(page, page.get_by_role("spinbutton", name="Value", exact=True), "10")
    fill(page, page.get_by_label("Data table title", exact=True), TABLE)
    page.get_by_role("heading", name="New extract").scroll_into_view_if_needed()
    screenshot(page, "new_extract")

    page.get_by_role("button", name="Create extracts").click()
    # The confirmation comes up in view, however far down the form was scrolled.
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text("Created 2 extract(s).", exact=False)).to_be_visible()
    expect(dialog.get_by_role("link", name=f"Globex Travel · {TEMPLATE}")).to_be_visible()
    # Behind it the form is empty again, ready for the next extract.
    wait_idle(page)
    expect(page.get_by_label("Data table title", exact=True)).to_have_value("")
    dialog.get_by_role("link", name=TITLE).click()

    # The extract page: run it for ten days, well inside the template's depth limit.
    expect(page.get_by_role("heading", name=TITLE)).to_be_visible()
    expect(page.get_by_text(re.compile(r"· fields: date, campaign_id, clicks · Daily at 00:00 "
                                       r"UTC$"))).to_be_visible()
    expect(page.get_by_text("No rows yet: run the extract.")).to_be_visible()
    date_to = datetime.now(UTC).date() - timedelta(days=5)
    date_from = date_to - timedelta(days=9)
    fill_date(page, "Start date", date_from)
    fill_date(page, "End date", date_to)
    page.evaluate(WATCH_RUN_LABELS)  # lives as long as the page: a reload would drop it
    with run_held_in_the_queue(tmp_path):
        page.get_by_role("button", name="Run", exact=True).click()
        expect(page.get_by_text("Queued 1 run(s).")).to_be_visible()
        expect(page.get_by_text(re.compile(r"^Run \d+ · queued ·"))).to_be_visible()

    # The runs refresh themselves (the embedded worker executes the run) until it ends.
    expect(page.get_by_text(re.compile(rf"^Run \d+ · succeeded · {date_from} → {date_to}$"))
           ).to_be_visible(timeout=RUN_TIMEOUT)
    seen = page.evaluate("window.__e2e_run_labels")
    assert seen is not None, "the page was reloaded"
    # It showed the run queued, then succeeded: the page changed by itself.
    assert seen[0].endswith("queued") and seen[-1].endswith("succeeded"), seen
    expect(page.get_by_text(re.compile(r"^Run \d+ · (queued|running) ·"))).to_have_count(0)
    expect(page.get_by_text("No rows yet: run the extract.")).to_be_hidden()
    preview = page.get_by_test_id("stDataFrame").filter(
        has=page.get_by_role("button", name="Download as CSV: Latest rows of this extract"))
    rows = grid(preview)
    assert rows, "the preview shows no rows"
    for row in rows:
        assert row["account_name"] == "Acme Retail", row
        assert str(date_from) <= row["date"] <= str(date_to), row
        assert row["campaign_id"].startswith("sa-1001-"), row
        assert int(row["clicks"]) > 10, row
        assert "spend" not in row, row
    screenshot(page, "extract")

    # Edit: add spend; the extract page, then the form again, show it saved.
    page.get_by_role("button", name="Edit").click()
    expect(page.get_by_role("heading", name=f"Edit {TITLE}")).to_be_visible()
    expect(page.get_by_role("checkbox", name="spend")).not_to_be_checked()
    set_checkbox(page, "spend", True)
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text("Saved: fields.")).to_be_visible()
    expect(page.get_by_text(re.compile(r"· fields: date, campaign_id, clicks, spend · Daily at "
                                       r"00:00 UTC$"))
           ).to_be_visible()
    page.get_by_role("button", name="Edit").click()
    expect(page.get_by_role("checkbox", name="spend")).to_be_checked()
    expect(page.get_by_role("checkbox", name="impressions")).not_to_be_checked()

    # The other pages show what was made.
    page.get_by_role("link", name="Extracts", exact=True).click()
    expect(page.get_by_text("2 extract(s)")).to_be_visible()
    table = page.get_by_test_id("stDataFrame")
    expect(table.get_by_role("gridcell", name=TITLE, include_hidden=True)).to_be_attached()
    listed = {row["Title"]: row for row in grid(table)}
    assert sorted(listed) == [f"{account} · {TEMPLATE}" for account in ACCOUNTS]
    assert listed[TITLE]["Status"].endswith("active")
    # At 1400 px what a person scans for is in view, not scrolled off to the right.
    assert list(listed[TITLE])[:6] == ["", "Title", "Status", "Last runs", "Failing",
                                       "Last sync"]
    screenshot(page, "extracts")
    # The rest is to the right (the grid's accessible twin holds the columns in view).
    page.set_viewport_size({"width": 2600, "height": 1000})
    for cell in ("Daily at 00:00 UTC", "Sample Ads"):
        expect(table.get_by_role("gridcell", name=cell, include_hidden=True)).to_have_count(2)
    page.set_viewport_size({"width": 1400, "height": 1000})

    page.get_by_role("link", name="Connections").click()
    expect(page.get_by_role("heading", name="Sample Ads")).to_be_visible()
    accounts = grid(page.get_by_test_id("stDataFrame"))
    assert [row["account"] for row in accounts] == [*ACCOUNTS, "Initech Software"]
    screenshot(page, "connections")

    page.get_by_role("link", name="Data tables").click()
    expect(page.get_by_role("heading", name=TABLE)).to_be_visible()
    for account in ACCOUNTS:
        expect(page.get_by_role("link", name=f"{account} · {TEMPLATE}")).to_be_visible()
    set_checkbox(page, "Preview", True, role="switch")
    assert {row["account_name"] for row in grid(page.get_by_test_id("stDataFrame"))} == {
        "Acme Retail"}
    screenshot(page, "data_tables")
