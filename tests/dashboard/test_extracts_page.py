from __future__ import annotations

import pytest

from core import runner, service
from core.db import Database
from dashboard import extracts_table, navigation
from tests.conftest import make_extract
from tests.dashboard.conftest import open_page, texts


def test_an_empty_database_says_to_create_an_extract(app_db: Database) -> None:
    at = open_page(navigation.EXTRACTS)

    assert not at.exception
    assert "No extracts yet: create one" in texts(at)
    assert at.page_link[0].value == "Create an extract"


def test_the_table_lists_extracts_and_filters_by_status(app_db: Database) -> None:
    with app_db.session() as s:
        first = make_extract(s)
        make_extract(s, accounts=[2], data_table_title="Other")
        service.pause_extract(session=s, extract_id=first.id)

    at = open_page(navigation.EXTRACTS)
    table = at.dataframe[0].value
    assert not at.exception
    assert list(table["title"]) == ["Acme Retail · Campaign performance (daily)",
                                    "Globex Travel · Campaign performance (daily)"]
    assert list(table["status"]) == ["‖ paused", "● active"]
    assert list(table["last_sync"]) == ["never", "never"]

    at.selectbox(key="extracts_status").select("active").run()
    assert list(at.dataframe[0].value["title"]) == [
        "Globex Travel · Campaign performance (daily)"]

    at.text_input(key="extracts_search").set_value("nothing like this").run()
    assert "No extracts match these filters." in texts(at)


def test_selected_extracts_are_paused_then_run(app_db: Database) -> None:
    with app_db.session() as s:
        ids = [e.id for e in service.create_extracts(session=s, data={
            "data_table_title": "Campaign stats", "template_id": 1, "accounts": [1, 2],
            "template_settings": {"fields": ["date", "campaign_id", "clicks"]}})]
    at = open_page(navigation.EXTRACTS)
    at.session_state["extracts_table_0"] = {"selection": {"rows": [0, 1], "columns": []}}
    at.run()

    at.button(key="extracts_pause").click().run()
    assert not at.exception
    assert "Paused 2 extract(s)." in texts(at)
    assert list(at.dataframe[0].value["status"]) == ["‖ paused", "‖ paused"]

    at.session_state["extracts_table_1"] = {"selection": {"rows": [1], "columns": []}}
    at.run()
    at.button(key="extracts_run").click().run()
    with app_db.session() as s:
        runs = service.list_runs(session=s)
    assert [(r.extract_id, r.trigger, r.status) for r in runs] == [(ids[1], "manual", "queued")]
    assert list(at.dataframe[0].value["status"]) == ["‖ paused", "↻ syncing…"]


def test_the_table_shows_the_rows_of_the_last_run(app_db: Database) -> None:
    with app_db.session() as s:
        extract = make_extract(s)
        make_extract(s, accounts=[2])
        [run] = service.run_extract(session=s, extract_id=extract.id)
    runner.execute_run(db=app_db, run_id=run.id)

    at = open_page(navigation.EXTRACTS)

    table = at.dataframe[0].value
    assert list(table["last_rows"]) == ["140", ""]
    assert list(table["last_sync"]) == ["just now", "never"]


def test_many_extracts_are_paged(app_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(extracts_table, "PAGE_SIZE", 2)
    with app_db.session() as s:
        service.create_extracts(session=s, data={
            "data_table_title": "Campaign stats", "template_id": 1, "accounts": [1, 2, 3],
            "template_settings": {"fields": ["date", "campaign_id", "clicks"]}})
    at = open_page(navigation.EXTRACTS)
    assert [t.split(" · ")[0] for t in at.dataframe[0].value["title"]] == [
        "Acme Retail", "Globex Travel"]

    at.number_input(key="extracts_page").set_value(2).run()

    assert [t.split(" · ")[0] for t in at.dataframe[0].value["title"]] == ["Initech Software"]


def test_status_and_freshness_come_right_after_the_title(app_db: Database) -> None:
    with app_db.session() as s:
        make_extract(s)
        make_extract(s, accounts=[2])

    at = open_page(navigation.EXTRACTS)

    table = at.dataframe[0].value
    assert not at.exception
    # Default titles already say the account and the template: no columns repeat them.
    assert list(table.columns) == ["open", "title", "status", "last_runs", "failing",
                                   "last_sync", "next_run", "schedule", "connection",
                                   "last_rows", "data_table"]
    assert list(table["schedule"]) == ["Daily at 00:00 UTC"] * 2
    assert list(table["connection"]) == ["Sample Ads"] * 2
    assert "None" not in table.astype(str).to_numpy().tolist()


def test_a_customised_title_keeps_the_account_and_template_columns(app_db: Database) -> None:
    with app_db.session() as s:
        make_extract(s, title="Acme spend")
        make_extract(s, accounts=[2])

    at = open_page(navigation.EXTRACTS)

    table = at.dataframe[0].value
    assert list(table.columns)[:7] == ["open", "title", "status", "last_runs", "failing",
                                       "last_sync", "next_run"]
    assert list(table["account"]) == ["Acme Retail", "Globex Travel"]
    assert list(table["template"]) == ["Campaign performance (daily)"] * 2


def test_the_list_shows_last_runs_failing_since_and_the_schedule(app_db: Database) -> None:
    from tests.dashboard.states import seed_every_state

    states = seed_every_state(app_db)
    with app_db.session() as s:
        service.patch_extract(session=s, extract_id=states.never_run, data={
            "schedules": [
                {"frequency": "daily", "hour": 6, "minute": 30, "timezone": "Europe/Berlin"},
                {"frequency": "weekly", "weekday": 0, "hour": 9, "minute": 0,
                 "timezone": "America/New_York"}]})

    at = open_page(navigation.EXTRACTS, app_timezone="UTC")

    table = at.dataframe[0].value
    rows = {int(r["open"].split("=")[1]): r for r in table.to_dict("records")}
    never, failed = rows[states.never_run], rows[states.only_failed]
    assert never["schedule"] == "Daily at 06:30 Berlin; weekly Mon 09:00 New York"
    assert never["last_runs"] == "" and never["failing"] == ""
    assert failed["failing"].startswith("3 failed since ")
    assert failed["last_runs"].startswith("data:image/svg+xml;base64,")
    assert rows[states.succeeded]["failing"] == ""
