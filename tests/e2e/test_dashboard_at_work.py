"""Issue 15 in a real browser: the dashboard as analysts and team leads live in it.

The server runs without its embedded worker: the test executes each run itself, in its own
process, at the moment it wants to see the page change (no race with a worker, no sleeps).
"""

from __future__ import annotations

import re
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select, text

from core import runner, service
from core.config import get_settings
from core.db import Database, open_database
from core.models import Extract, Run
from tests import servers
from tests.e2e.ui import choose, fill, grid, wait_idle

TEMPLATE = "Campaign performance (daily)"
# Emoji that need an emoji font (the status dots the issue found as empty boxes).
EMOJI = re.compile("[\U0001F300-\U0001FAFF\u2600-\u26FF\u2B50\u2B55]")
MARKER = "window.__e2e_not_reloaded = true"


@dataclass
class Server:
    url: str
    pid: int
    db: Database


@pytest.fixture
def quiet_server(tmp_path: Path) -> Iterator[Server]:
    """The product as `streamlit run` starts it, without the embedded worker; and its
    database, opened in the test process as well."""
    var = tmp_path / "var"
    settings = get_settings({"EXTRACTS_VAR_DIR": str(var), "EXTRACTS_SECRET_KEY": "e2e"})
    db = open_database(settings, seed=True)
    port = servers.free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**servers.server_env(var, "e2e"), "EXTRACTS_EMBEDDED_WORKER": "false"}
    process = servers.start(
        [sys.executable, "-m", "streamlit", "run", "streamlit_app.py",
         f"--server.port={port}", "--server.address=127.0.0.1", "--server.headless=true"],
        env=env, ready_url=f"{url}/_stcore/health", log=tmp_path / "streamlit.log")
    yield Server(url, process.pid, db)
    servers.stop(process)
    db.dispose()


@pytest.fixture
def app_server(quiet_server: Server) -> str:
    return quiet_server.url  # the `page` fixture opens its browser against this server


def create(db: Database, account: int, table: str, **extra: object) -> int:
    with db.session() as s:
        [extract] = service.create_extracts(session=s, data={
            "data_table_title": table, "template_id": 1, "accounts": [account],
            "template_settings": {"fields": ["date", "campaign_id", "clicks"]}, **extra})
        return extract.id


def runs_of(db: Database, extract_id: int, status: str = "queued") -> list[int]:
    with db.session() as s:
        return list(s.scalars(select(Run.id).where(Run.extract_id == extract_id,
                                                   Run.status == status).order_by(Run.id)))


def row_of(page: Page, title: str) -> dict[str, str]:
    rows = [r for r in grid(page.get_by_test_id("stDataFrame").first) if r["Title"] == title]
    assert len(rows) == 1, rows
    return rows[0]


def test_live_pages_recovery_and_schedules(page: Page, quiet_server: Server) -> None:
    db, now = quiet_server.db, datetime.now(UTC)
    fresh = create(db, 1, "Fresh stats", schedules=[
        {"frequency": "daily", "hour": 6, "minute": 30, "timezone": "Europe/Berlin"},
        {"frequency": "weekly", "weekday": 0, "hour": 9, "minute": 0,
         "timezone": "America/New_York"}])
    failing = create(db, 2, "Failing stats")
    backfilling = create(db, 3, "History stats",
                         sync_historical_data=str(now.date() - timedelta(days=200)))
    with db.session() as s:
        for minutes in (30, 20, 10):
            s.add(Run(extract_id=failing, status="failed", trigger="schedule", priority=2,
                      queued_at=now - timedelta(minutes=minutes),
                      finished_at=now - timedelta(minutes=minutes - 1),
                      date_from=now.date(), date_to=now.date(), attempts=3,
                      error="401 Unauthorized: token expired", log=[]))
        s.flush()
        extract = s.get(Extract, failing)
        assert extract is not None
        extract.status, extract.error_text = "error", "401 Unauthorized: token expired"
    titles = {fresh: f"Acme Retail · {TEMPLATE}", failing: f"Globex Travel · {TEMPLATE}",
              backfilling: f"Initech Software · {TEMPLATE}"}

    # The list at a glance: last runs, failing since, the schedules in words, the connection.
    # (A wide window: the grid's accessible twin holds only the columns in view.)
    page.set_viewport_size({"width": 2400, "height": 1000})
    page.goto(quiet_server.url)
    page.evaluate(MARKER)
    expect(page.get_by_role("heading", name="Extracts")).to_be_visible()
    wait_idle(page)
    row = row_of(page, titles[fresh])
    assert row["Schedule"] == "Daily at 06:30 Berlin; weekly Mon 09:00 New York", row
    assert row["Connection"] == "Sample Ads" and row["Status"] == "● active", row
    assert row_of(page, titles[failing])["Failing"].startswith("3 failed since "), row
    assert row_of(page, titles[backfilling])["Status"] == "↻ syncing…"
    for cells in grid(page.get_by_test_id("stDataFrame").first):
        assert "None" not in cells.values(), cells
    # Looks: no emoji, no Deploy button, the tab icon from this server.
    assert not EMOJI.search(page.locator("body").inner_text())
    expect(page.get_by_role("button", name="Deploy")).to_have_count(0)
    icon = page.locator("link[rel~=icon]").first.get_attribute("href") or ""
    assert icon.startswith(("/", quiet_server.url)) and "googleapis" not in icon, icon

    # Live list: a run of `fresh` is queued, then loads; the list follows without a reload.
    with db.session() as s:
        [run] = service.run_extract(session=s, extract_id=fresh)
    expect(page.get_by_role("gridcell", name="↻ syncing…", include_hidden=True)).to_have_count(2)
    runner.execute_run(db=db, run_id=run.id)
    expect(page.get_by_role("gridcell", name="● active", include_hidden=True)).to_have_count(1)
    assert row_of(page, titles[fresh])["Last sync"] == "just now"

    # The extract page: its schedules with their next fire times.
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(f"{quiet_server.url}/extract?id={fresh}")
    expect(page.get_by_role("heading", name=titles[fresh])).to_be_visible()
    schedules = grid(page.locator(f".st-key-extract_{fresh}_schedules").get_by_test_id(
        "stDataFrame"))
    assert [r["schedule"] for r in schedules] == ["Daily at 06:30 Berlin",
                                                  "Weekly Mon 09:00 New York"]
    assert all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d \(in ", r["next run"]) for r in schedules)

    # Recovery: Cancel backfill stops every chunk at once.
    chunks = runs_of(db, backfilling)
    assert len(chunks) > 5
    page.goto(f"{quiet_server.url}/extract?id={backfilling}")
    page.get_by_role("button", name=f"Cancel backfill ({len(chunks)} runs)").click()
    expect(page.get_by_text(f"Cancelled the backfill ({len(chunks)} run(s)).")).to_be_visible()
    assert runs_of(db, backfilling) == []
    expect(page.get_by_text(re.compile(r"^Run \d+ · cancelled ·"))).to_have_count(
        min(len(chunks), 10))
    expect(page.get_by_role("button", name=re.compile("^Cancel backfill"))).to_have_count(0)

    # History of an extract that only failed, with a connection filter: every section
    # renders (the issue saw a TypeError in Freshness and no Coverage).
    page.goto(f"{quiet_server.url}/history?extract={failing}&connection=1")
    expect(page.get_by_role("heading", name="Coverage")).to_be_visible()
    wait_idle(page)
    expect(page.get_by_test_id("stException")).to_have_count(0)
    expect(page.get_by_text(re.compile("could not be (shown|read)"))).to_have_count(0)
    freshness = grid(page.get_by_test_id("stDataFrame").filter(
        has=page.get_by_text("failing since", exact=True)))
    assert freshness[0]["failing since"].endswith("(3 in a row)"), freshness

    # Failing since, then Retry failed windows; the header follows the retry live.
    page.goto(f"{quiet_server.url}/extract?id={failing}")
    page.evaluate(MARKER)
    expect(page.get_by_text(re.compile(r"^Failing since .*: 3 run\(s\) in a row failed"))
           ).to_be_visible()
    page.get_by_role("button", name="Retry failed windows (1)").click()
    expect(page.get_by_text("Queued 1 retry run(s) for the failed windows.")).to_be_visible()
    [retry] = runs_of(db, failing)
    expect(page.get_by_text(re.compile(rf"^Run {retry} · queued ·"))).to_be_visible()
    runner.execute_run(db=db, run_id=retry)
    expect(page.get_by_text("Failing since")).to_have_count(0)
    expect(page.get_by_test_id("stMetricValue").first).to_have_text("just now")
    expect(page.get_by_text("No rows yet: run the extract.")).to_have_count(0)
    assert page.evaluate("window.__e2e_not_reloaded") is True


def test_a_future_start_date_is_refused_next_to_it(page: Page, quiet_server: Server) -> None:
    page.goto(f"{quiet_server.url}/new_extract")
    expect(page.get_by_role("heading", name="New extract")).to_be_visible()
    choose(page, "Accounts", "Acme Retail")
    page.keyboard.press("Escape")
    fill(page, page.get_by_label("Data table title", exact=True), "Future stats")
    page.locator("label").filter(
        has=page.get_by_role("checkbox", name="Load historical data from a start date")).click()
    wait_idle(page)
    future = date(datetime.now(UTC).year + 1, 1, 15)
    page.get_by_role("spinbutton", name="year, Start date", exact=True).click()
    page.keyboard.type(future.strftime("%Y%m%d"))
    page.keyboard.press("Enter")
    wait_idle(page)
    # The box keeps what was typed: nothing is silently replaced by an allowed date.
    expect(page.get_by_label("Start date", exact=True)).to_have_text(future.strftime("%Y/%m/%d"))
    page.get_by_role("button", name="Create extracts").click()
    expect(page.get_by_text(re.compile(rf"^{future} is in the future; use "))).to_be_visible()
    expect(page.get_by_text("Nothing was created: fix the problems marked above.")
           ).to_be_visible()
    with quiet_server.db.session() as s:
        assert service.list_extracts(session=s).total == 0


ROWS = 2_000_000
WATCH_PROGRESS = """
window.__e2e_progress = [];
new MutationObserver(() => {
  for (const bar of document.querySelectorAll('[data-testid="stProgress"]')) {
    const text = bar.innerText.trim();
    if (text && !window.__e2e_progress.includes(text)) window.__e2e_progress.push(text);
  }
}).observe(document.body, {subtree: true, childList: true, characterData: true});
"""


def fill_big_table(db: Database, extract_id: int) -> str:
    """ROWS rows written straight into the extract's data table (seconds, not a 2M-row run)."""
    with db.session() as s:
        extract = s.get(Extract, extract_id)
        assert extract is not None
        table = extract.data_table.table_name
        [run] = service.run_extract(session=s, extract_id=extract_id)
    runner.execute_run(db=db, run_id=run.id)  # creates the table with its columns
    have = db.warehouse.count_rows(table)
    start = date(2020, 1, 1).toordinal()
    with db.warehouse.engine.begin() as conn:
        conn.execute(text(
            f'WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :rows) '
            f'INSERT INTO "{table}" (account_id, account_name, __insert_date, __extract_id, '
            f'__run_id, date, campaign_id, clicks) SELECT \'1001\', \'Acme Retail\', '
            f'\'2026-01-01 00:00:00\', :extract, :run, date(:start + i % 2000 - 1721424.5), '
            f'\'sa-1001-\' || (i % 97), i % 500 FROM n'),
            {"rows": ROWS - have, "extract": extract_id,
             "run": run.id, "start": start})
    return table


def peak_memory_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def test_a_two_million_row_table_exports_in_the_background(page: Page,
                                                          quiet_server: Server) -> None:
    db = quiet_server.db
    extract_id = create(db, 1, "Big stats")
    fill_big_table(db, extract_id)
    page.goto(f"{quiet_server.url}/data_tables")
    expect(page.get_by_role("heading", name="Big stats")).to_be_visible()
    wait_idle(page)
    before = peak_memory_mb(quiet_server.pid)

    page.evaluate(WATCH_PROGRESS)
    page.get_by_role("button", name="Export CSV").click()
    # Progress while it is written, then the link; the page never waited for the export.
    link = page.get_by_role("link", name="Download big_stats.csv (2,000,000 rows)")
    expect(link).to_be_visible(timeout=300_000)

    seen = page.evaluate("window.__e2e_progress")
    assert any(text.startswith("Writing big_stats.csv") for text in seen), seen
    href = link.get_attribute("href") or ""
    lines = 0
    with urllib.request.urlopen(quiet_server.url + href if href.startswith("/") else href,
                                timeout=120) as answer:
        assert answer.headers["content-disposition"].endswith('filename="big_stats.csv"')
        header = answer.readline().decode()
        for _ in answer:
            lines += 1
    assert header.startswith("account_id,account_name,__insert_date,__extract_id,__run_id")
    assert lines == ROWS
    # Memory stayed flat: the server never held the table (a CSV of ~100 MB) in memory.
    assert peak_memory_mb(quiet_server.pid) - before < 250
