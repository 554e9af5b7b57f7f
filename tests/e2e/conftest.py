"""Real-browser fixtures: a `streamlit run` server on a free port and headless Chromium.

Under CI=true a missing Chromium fails the test; on a laptop without it the test is skipped.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
# Reruns and page switches take a second or two on a busy CI machine: Playwright's 5 s default
# for expect() is too tight.
expect.set_options(timeout=15_000)
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-quic",
                  "--no-first-run"]


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("CI") == "true":
        pytest.fail("Chromium is not installed (.ci/run installs Debian's chromium)")
    pytest.skip("Chromium is not installed; `apt-get install chromium` to run browser tests")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def app_server(tmp_path: Path) -> Iterator[str]:
    """The product as `python3 dev.py run` starts it (`streamlit run serve.py`: the dashboard,
    the API under /api and the embedded worker in one process) on loopback; yields its URL."""
    port = _free_port()
    env = {**os.environ, "EXTRACTS_VAR_DIR": str(tmp_path / "var"),
           "EXTRACTS_SECRET_KEY": "e2e-secret"}
    log = (tmp_path / "streamlit.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "serve.py",
         f"--server.port={port}", "--server.address=127.0.0.1", "--server.headless=true",
         "--browser.gatherUsageStats=false", "--client.toolbarMode=minimal"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("streamlit did not start:\n"
                                   + (tmp_path / "streamlit.log").read_text())
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture
def page(request: pytest.FixtureRequest, app_server: str) -> Iterator[object]:
    """A Playwright page in headless Chromium; a screenshot is saved if the test fails."""
    executable = chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000},
                                      timezone_id="UTC", locale="en-US")
        pg = context.new_page()
        pg.set_default_timeout(30_000)
        yield pg
        outcome = getattr(request.node, "rep_call", None)
        if outcome is not None and outcome.failed:
            ARTIFACTS.mkdir(exist_ok=True)
            pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
        browser.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    report = yield
    setattr(item, "rep_" + report.when, report)
    return report
