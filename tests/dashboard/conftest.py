"""AppTest fixtures: the app opens its own database in the test's var dir, worker off."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from core.db import Database
from dashboard import navigation

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "dashboard" / "router.py")
# A script run takes well under a second on a quiet machine and took over 30 s on a two-core
# one at a load average of 27: the bound is generous; a passing test never waits for it.
SCRIPT_TIMEOUT = 120


@pytest.fixture
def app_db(db: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    """The test's Database (demo connection seeded); the app is pointed at the same files."""
    monkeypatch.setenv("EXTRACTS_VAR_DIR", str(db.settings.var_dir))
    monkeypatch.setenv("EXTRACTS_SECRET_KEY", "test-secret")
    monkeypatch.setenv("EXTRACTS_EMBEDDED_WORKER", "false")
    monkeypatch.setenv("EXTRACTS_FILES_ROOTS", ",".join(map(str, db.settings.files_roots)))
    for name in ("DATABASE_URL", "WAREHOUSE_URL", "SEED_DEMO", "SCHEDULES_LIMIT"):
        monkeypatch.delenv(f"EXTRACTS_{name}", raising=False)
    st.cache_resource.clear()
    st.cache_data.clear()
    yield db
    st.cache_resource.clear()
    st.cache_data.clear()


def open_page(page: str, **session_state: object) -> AppTest:
    """Run the app, then switch to `page` (navigation.EXTRACT, ...)."""
    at = AppTest.from_file(APP, default_timeout=SCRIPT_TIMEOUT)
    for key, value in session_state.items():
        at.session_state[key] = value
    at.run()
    if page != navigation.EXTRACTS:
        at.switch_page(page).run()
    return at


def shown(markdown: str) -> str:
    """Markdown as a person reads it: the escapes of dashboard.display.text removed."""
    return re.sub(r"\\([\\`*_\[\]<>$~|#:])", r"\1", markdown)


def texts(at: AppTest) -> str:
    """Every markdown, caption, alert and title on the page, one per line, as shown (for
    assertions)."""
    parts = []
    for kind in ("markdown", "caption", "error", "warning", "info", "success", "title",
                 "subheader", "header"):
        parts += [str(e.value) for e in at.get(kind)]
    return shown("\n".join(parts))
