"""Every page, with every filter, over a database holding extracts in every state: no
exception ever reaches the page, and a failing part says what happened in words."""

from __future__ import annotations

from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from core.db import Database
from core.vocabulary import ExtractStatus, RunStatus, RunTrigger
from dashboard import navigation
from tests.dashboard.conftest import APP, SCRIPT_TIMEOUT, texts
from tests.dashboard.states import States, seed_every_state


@pytest.fixture
def states(app_db: Database) -> States:
    return seed_every_state(app_db)


def opened(page: str, query: dict[str, str] | None = None, **session_state: Any) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=SCRIPT_TIMEOUT)
    at.session_state["app_timezone"] = "Europe/Berlin"
    for key, value in session_state.items():
        at.session_state[key] = value
    at.query_params = dict(query or {})
    at.switch_page(page).run()
    assert not at.exception, (page, query, [e.value for e in at.exception])
    assert "Traceback" not in texts(at)
    # A part that failed is shown in words by the guard; none may fail here.
    broken = [e.value for e in at.error if "could not be" in str(e.value)]
    assert not broken, (page, query, broken)
    return at


def test_the_extracts_list_with_every_filter(states: States) -> None:
    opened(navigation.EXTRACTS)
    for status in ExtractStatus:
        opened(navigation.EXTRACTS, extracts_status=str(status))
    for connection in (1, 2, 99):
        opened(navigation.EXTRACTS, extracts_connection=connection)
    opened(navigation.EXTRACTS, extracts_search="%_\\ no such title")


def test_every_extract_page_and_its_edit_form(states: States) -> None:
    for extract_id in [*states.existing(), states.deleted]:
        at = opened(navigation.EXTRACT, {"id": str(extract_id)})
        if extract_id == states.deleted:
            assert f"extract {extract_id} does not exist" in texts(at)
        opened(navigation.EDIT_EXTRACT, {"id": str(extract_id)})


def test_history_with_every_filter(states: States) -> None:
    opened(navigation.HISTORY)
    filters: list[dict[str, str]] = [
        {"extract": str(i)} for i in [*states.existing(), states.deleted]]
    filters += [{"connection": "1"}, {"connection": "2"}, {"connection": "99"},
                {"datasource": "sample_ads"}, {"table": "1"}, {"table": "7"},
                {"from": "2031-01-01", "to": "2030-01-01"}, {"from": "not a date"},
                {"day": "2020-02-30"}]
    filters += [{"trigger": str(t)} for t in RunTrigger]
    filters += [{"status": str(s)} for s in RunStatus]
    filters += [{"extract": str(states.only_failed), "connection": "1",
                 "status": "failed"}]
    for query in filters:
        opened(navigation.HISTORY, query)


def test_the_other_pages(states: States) -> None:
    for page in (navigation.NEW_EXTRACT, navigation.CONNECTIONS, navigation.DATA_TABLES,
                 navigation.SETTINGS):
        opened(page)


def test_history_of_an_extract_that_only_failed(states: States) -> None:
    at = opened(navigation.HISTORY, {"extract": str(states.only_failed)})

    freshness = next(d.value for d in at.dataframe if "failing since" in d.value.columns)
    assert list(freshness["last successful sync"]) == ["never"]
    assert list(freshness["age (h)"]) == [""]
    assert freshness["failing since"][0].endswith("(3 in a row)")
    assert [s.value for s in at.subheader][-1] == "Coverage"
