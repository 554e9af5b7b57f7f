"""Real-browser fixtures: a `streamlit run` server on a free port and headless Chromium.

Under CI=true a missing Chromium fails the test; on a laptop without it the test is skipped.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests import needs, servers
from tests.e2e.ui import watch_server

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
# Reruns and page switches take a second or two on a quiet machine and far longer on a loaded
# two-core one (a first render of the History page took over 15 s at a load average of 11):
# conditions are waited for generously; a passing test never waits the whole time.
expect.set_options(timeout=60_000)
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-quic",
                  "--no-first-run"]


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    needs.missing("Chromium is not installed",
                  remedy=".ci/run installs Debian's chromium; `apt-get install chromium`")


@contextmanager
def serving(tmp_path: Path, port: int | None = None, **settings: str) -> Iterator[str]:
    """The product as `python3 dev.py run` starts it (`streamlit run streamlit_app.py`: the
    dashboard, the API under /api and the embedded worker in one process) on loopback, with
    `settings` (EXTRACTS_... variables) on top of the defaults; yields its URL."""
    port = port or servers.free_port()
    url = f"http://127.0.0.1:{port}"
    process = servers.start(
        [sys.executable, "-m", "streamlit", "run", "streamlit_app.py",
         f"--server.port={port}", "--server.address=127.0.0.1", "--server.headless=true",
         "--browser.gatherUsageStats=false"],
        env={**servers.server_env(tmp_path / "var", "e2e-secret"), **settings},
        ready_url=f"{url}/_stcore/health", log=tmp_path / "streamlit.log")
    try:
        yield url
    finally:
        servers.stop(process)


@pytest.fixture
def app_server(tmp_path: Path) -> Iterator[str]:
    """The product on its embedded defaults (single-user mode); yields its URL."""
    with serving(tmp_path) as url:
        yield url


# People of the OpenID Connect provider the sign-in tests start: subject -> (email, name).
PEOPLE = {"ana": ("ana@example.com", "Ana Analyst"), "boss": ("boss@example.com", "The Boss"),
          "lead": ("lead@example.com", "Team Lead")}


@pytest.fixture
def oidc_provider() -> Iterator[str]:
    """An OpenID Connect provider on loopback (oidc-provider-mock), its people in PEOPLE."""
    from oidc_provider_mock import User, run_server_in_thread

    users = [User(sub=sub, claims={"email": email, "name": name})
             for sub, (email, name) in PEOPLE.items()]
    with run_server_in_thread(port=servers.free_port(), user_claims=users) as server:
        yield f"http://localhost:{server.server_port}"


@contextmanager
def serving_with_sign_in(tmp_path: Path, provider: str, admins: str) -> Iterator[str]:
    """The product with sign-in through `provider`; `admins`: EXTRACTS_ADMIN_EMAILS."""
    port = servers.free_port()
    with serving(tmp_path, port, EXTRACTS_OIDC_METADATA_URL=(
                     f"{provider}/.well-known/openid-configuration"),
                 EXTRACTS_OIDC_CLIENT_ID="extracts-dashboard",
                 EXTRACTS_OIDC_CLIENT_SECRET="e2e-client-secret",
                 EXTRACTS_PUBLIC_URL=f"http://127.0.0.1:{port}",
                 EXTRACTS_ADMIN_EMAILS=admins) as url:
        yield url


def sign_in(page: object, app_server: str, subject: str) -> None:
    """Open the dashboard and sign in as `subject` through the provider's own form."""
    from playwright.sync_api import Page

    assert isinstance(page, Page)
    page.goto(app_server)
    expect(page.get_by_text("Sign in to see and manage the data extracts.")).to_be_visible()
    page.get_by_role("button", name="Sign in").click()
    page.locator("input[name=sub]").fill(subject)
    page.get_by_role("button", name="Authorize").click()
    email, name = PEOPLE[subject]
    expect(page.get_by_text(f"Signed in as {name} ({email})")).to_be_visible()


@contextmanager
def _without_faketime() -> Iterator[None]:
    """os.environ without libfaketime's LD_PRELOAD while the browser side starts. FAKETIME
    stays: the library loaded in this process reads it again every few seconds, and without
    it this process (the OIDC provider's tokens among it) would fall back to the real date
    for a while, behind the product's fake one."""
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k == "LD_PRELOAD"}
    try:
        yield
    finally:
        os.environ.update(saved)


@pytest.fixture
def page(request: pytest.FixtureRequest, app_server: str) -> Iterator[object]:
    """A Playwright page in headless Chromium; a screenshot is saved if the test fails."""
    executable = chromium_path()
    from playwright.sync_api import sync_playwright

    # Under `faketime` (the suite run on another date) only the product's processes get the
    # fake date: libfaketime makes Playwright's driver and Chromium crawl. The browser's own
    # clock does not reach the product, which renders every date on the server.
    with _without_faketime():
        playwright = sync_playwright().start()
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS,
                                             env=dict(os.environ))
    try:
        context = browser.new_context(viewport={"width": 1400, "height": 1000},
                                      timezone_id="UTC", locale="en-US")
        pg = context.new_page()
        pg.set_default_timeout(60_000)
        watch_server(pg)
        yield pg
        outcome = getattr(request.node, "rep_call", None)
        if outcome is not None and outcome.failed:
            ARTIFACTS.mkdir(exist_ok=True)
            pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    finally:
        browser.close()
        playwright.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    report = yield
    setattr(item, "rep_" + report.when, report)
    return report
