from __future__ import annotations

from typing import Any

from core import service
from core.db import Database
from dashboard import navigation
from dashboard.widgets import slot_key
from tests.conftest import make_extract
from tests.dashboard.conftest import open_page, texts

FILTERS: list[dict[str, Any]] = [
    {"field": "clicks", "operator": "gte", "value": 5},
    {"field": "date", "operator": "between", "value": ["2026-11-01", "2026-11-20"]},
    {"field": "channel", "operator": "in", "value": ["search", "social"]},
    {"field": "campaign_name", "operator": "is_not_null", "value": None},
]
SCHEDULES = [{"frequency": "weekly", "weekday": 2, "hour": 6, "minute": 30,
              "timezone": "Europe/Berlin", "lookback": 3},
             {"frequency": "cron", "cron": "0 */4 * * *", "lookback": "live"}]


def configured_extract(db: Database) -> int:
    with db.session() as s:
        return make_extract(s, template_settings={
            "fields": ["date", "campaign_id", "channel", "clicks", "spend"],
            "filters": FILTERS, "attribution_window": "28d_click"},
            schedules=SCHEDULES).id


def read(db: Database, extract_id: int) -> Any:
    with db.session() as s:
        return service.get_extract(session=s, extract_id=extract_id)


def test_the_form_is_pre_filled_and_unchanged_saves_nothing(app_db: Database) -> None:
    extract_id = configured_extract(app_db)
    before = read(app_db, extract_id)
    page = f"edit_{extract_id}"
    at = open_page(navigation.EDIT_EXTRACT, extract_id=extract_id)

    assert not at.exception
    assert at.checkbox(key=f"{page}_field_1_spend").value
    assert not at.checkbox(key=f"{page}_field_1_impressions").value
    assert at.selectbox(key=f"{page}_filter_1_2_field").value == "channel"
    assert at.text_input(key=f"{page}_filter_1_2_value_string_in_list").value == "search, social"
    assert at.selectbox(key=f"{page}_schedule_1_0_frequency").value == "weekly"
    assert at.number_input(key=f"{page}_schedule_1_0_lookback_days").value == 3
    assert at.text_input(key=f"{page}_schedule_1_1_cron").value == "0 */4 * * *"
    assert at.selectbox(key=f"{page}_setting_1_attribution_window").value == "28d_click"

    at.button(key="edit_save").click().run()

    assert "Nothing changed." in texts(at)
    assert read(app_db, extract_id) == before


def test_saving_changes_only_what_was_changed(app_db: Database) -> None:
    extract_id = configured_extract(app_db)
    before = read(app_db, extract_id)
    page = f"edit_{extract_id}"
    at = open_page(navigation.EDIT_EXTRACT, extract_id=extract_id)
    at.checkbox(key=f"{page}_field_1_channel").uncheck()
    at.checkbox(key=f"{page}_field_1_revenue").check()
    at.button(key="edit_save").click().run()

    assert not at.exception
    after = read(app_db, extract_id)
    assert after.fields == ["date", "campaign_id", "clicks", "spend", "revenue"]
    assert (after.filters, after.schedules[0].id) == (before.filters, before.schedules[0].id)
    assert at.title[0].value == before.title  # back on the extract page
    assert "Saved: fields." in texts(at)


def test_bad_cron_in_the_edit_is_shown_under_it_and_saves_nothing(app_db: Database) -> None:
    extract_id = configured_extract(app_db)
    before = read(app_db, extract_id)
    page = f"edit_{extract_id}"
    at = open_page(navigation.EDIT_EXTRACT, extract_id=extract_id)
    at.text_input(key=f"{page}_schedule_1_1_cron").set_value("61 * * * *")
    at.checkbox(key=f"{page}_field_1_channel").uncheck()
    at.button(key="edit_save").click().run()

    [message] = [e.value for e in at.get_by_key(slot_key("edit", "schedules[1]")).error]
    assert "bad cron expression '61 * * * *'" in message
    assert read(app_db, extract_id) == before


def test_the_extract_page_opens_the_edit(app_db: Database) -> None:
    extract_id = configured_extract(app_db)
    at = open_page(navigation.EXTRACT, extract_id=extract_id)
    at.button(key="extract_edit").click().run()

    assert not at.exception
    assert at.title[0].value.startswith("Edit Acme Retail")
