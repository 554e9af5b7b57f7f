"""A part of a page that fails shows what happened in words; the rest of the page works."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import OperationalError

from core import errors, service
from core.db import Database
from dashboard import guard, navigation
from tests.dashboard.conftest import open_page, texts
from tests.dashboard.states import seed_every_state


def test_messages_name_the_part_and_what_to_do() -> None:
    locked = OperationalError("SELECT 1", {}, Exception("database is locked"))
    assert guard.message("Freshness", locked) == (
        "Freshness could not be read: the database is busy with another task (a large load "
        "or export). Reload the page in a moment.")
    assert guard.message("Freshness", errors.NotFound("extract 7 does not exist")) == (
        "Freshness: extract 7 does not exist")
    assert guard.message("Freshness", TypeError("bad")).startswith(
        "Freshness could not be shown (TypeError: bad). The rest of the page works")


def test_a_failing_section_leaves_the_rest_of_the_history_page(
        app_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    seed_every_state(app_db)

    def broken(**_: object) -> None:
        raise OperationalError("SELECT", {}, Exception("database is locked"))

    monkeypatch.setattr(service, "freshness", broken)
    at = open_page(navigation.HISTORY, app_timezone="UTC")

    assert not at.exception
    errors_shown = [str(e.value) for e in at.error]
    assert errors_shown == [
        "Freshness could not be read: the database is busy with another task (a large load "
        "or export). Reload the page in a moment."]
    assert "No failed runs in this period." not in texts(at)  # failures rendered
    assert [s.value for s in at.subheader][-1] == "Coverage"
