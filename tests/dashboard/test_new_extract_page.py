from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core import service
from core.db import Database
from dashboard import navigation
from dashboard.widgets import slot_key
from tests.conftest import make_extract
from tests.dashboard.conftest import open_page, texts


def extracts_in(db: Database) -> list[str]:
    with db.session() as s:
        return [e.title for e in service.list_extracts(session=s).items]


def filled_form(accounts: tuple[int, ...] = (1, 2), table: str = "Campaign stats") -> AppTest:
    """The form for Sample Ads' campaign template, with accounts and a data table title."""
    at = open_page(navigation.NEW_EXTRACT)
    assert not at.exception
    at.multiselect(key="new_accounts_1").set_value(list(accounts)).run()
    at.text_input(key="new_table_title").set_value(table).run()
    return at


def problems_at(at: AppTest, field: str) -> list[str]:
    return [e.value for e in at.get_by_key(slot_key("new", field)).error]


def test_the_form_creates_one_extract_per_account(app_db: Database) -> None:
    at = filled_form()
    assert at.selectbox(key="new_template_1").value == 1
    assert "Impressions, clicks, spend" in texts(at)
    assert at.checkbox(key="new_field_1_date").disabled
    at.checkbox(key="new_field_1_channel").uncheck()
    at.button(key="new_filter_add").click().run()
    at.selectbox(key="new_filter_1_0_field").select("clicks").run()
    at.selectbox(key="new_filter_1_0_op_integer").select("gte").run()
    at.number_input(key="new_filter_1_0_value_integer_gte").set_value(5).run()
    at.button(key="new_create").click().run()

    assert not at.exception
    assert not at.error
    with app_db.session() as s:
        created = service.list_extracts(session=s).items
    assert [e.account_name for e in created] == ["Acme Retail", "Globex Travel"]
    assert created[0].data_table_title == "Campaign stats"
    assert "channel" not in created[0].fields and "impressions" in created[0].fields
    assert created[0].filters == [{"field": "clicks", "operator": "gte", "value": 5}]
    assert created[0].template_settings == {"attribution_window": "7d_click"}
    [schedule] = created[0].schedules
    assert (schedule.frequency, schedule.hour, schedule.minute, schedule.timezone) == (
        "daily", 0, 0, "UTC")
    assert "Created 2 extract(s)." in texts(at)
    assert [link.value for link in at.page_link] == [e.title for e in created]


def test_no_accounts_is_shown_under_the_accounts(app_db: Database) -> None:
    at = filled_form(accounts=())
    at.button(key="new_create").click().run()

    assert problems_at(at, "accounts") == ["select at least one account"]
    assert extracts_in(app_db) == []


def test_an_empty_data_table_title_is_shown_under_it(app_db: Database) -> None:
    at = filled_form(table="  ")
    at.button(key="new_create").click().run()

    assert "must not be empty" in problems_at(at, "data_table_title")[0]
    assert extracts_in(app_db) == []


def test_a_title_of_another_templates_data_table_is_refused(app_db: Database) -> None:
    with app_db.session() as s:
        make_extract(s, template_id=2, data_table_title="Ad groups",
                     template_settings={"fields": ["date", "ad_group_id"]})
    at = filled_form(table="Ad groups")
    at.button(key="new_create").click().run()

    [message] = problems_at(at, "data_table_title")
    assert "already holds rows of template 'Ad group performance (daily)'" in message
    assert len(extracts_in(app_db)) == 1


def test_bad_cron_text_is_shown_under_its_schedule(app_db: Database) -> None:
    at = filled_form()
    at.selectbox(key="new_schedule_1_0_frequency").select("cron").run()
    at.text_input(key="new_schedule_1_0_cron").set_value("every day").run()
    at.button(key="new_create").click().run()

    [message] = problems_at(at, "schedules[0]")
    assert "bad cron expression 'every day'" in message
    assert extracts_in(app_db) == []


@pytest.mark.parametrize(("values", "expected"), [
    ("1, lots", "value must be a whole number, not 'lots'"),
    ("", "value must be a non-empty list for in"),
])
def test_a_filter_value_of_the_wrong_type_is_shown_under_its_row(
        app_db: Database, values: str, expected: str) -> None:
    at = filled_form()
    at.button(key="new_filter_add").click().run()
    at.selectbox(key="new_filter_1_0_field").select("clicks").run()
    at.selectbox(key="new_filter_1_0_op_integer").select("in").run()
    at.text_input(key="new_filter_1_0_value_integer_in_list").set_value(values).run()
    at.button(key="new_create").click().run()

    [message] = problems_at(at, "template_settings.filters[0]")
    assert expected in message
    assert extracts_in(app_db) == []


def test_schedules_stop_at_the_limit(app_db: Database) -> None:
    at = filled_form()
    for _ in range(2):
        at.button(key="new_schedule_add").click().run()
    assert at.button(key="new_schedule_add").disabled
    at.selectbox(key="new_schedule_1_2_frequency").select("weekly").run()
    at.selectbox(key="new_schedule_1_2_weekday").select(4).run()
    at.button(key="new_create").click().run()

    assert not at.error
    with app_db.session() as s:
        extract = service.list_extracts(session=s).items[0]
    assert [sch.frequency for sch in extract.schedules] == ["daily", "daily", "weekly"]
    assert extract.schedules[2].weekday == 4


def test_a_historical_start_date_queues_backfill_runs(app_db: Database) -> None:
    at = filled_form(accounts=(3,))
    at.checkbox(key="new_history_on").check().run()
    start = at.date_input(key="new_history_from_1").value
    at.button(key="new_create").click().run()

    assert not at.error
    with app_db.session() as s:
        [extract] = service.list_extracts(session=s).items
        runs = service.list_runs(session=s, extract_id=extract.id)
    assert extract.sync_historical_data == start
    assert {r.trigger for r in runs} == {"backfill"}
    assert min(r.date_from for r in runs if r.date_from) == start


def test_a_template_without_a_date_field_offers_no_history(app_db: Database) -> None:
    at = filled_form(table="Campaign list")
    at.selectbox(key="new_template_1").select(4).run()

    assert not at.exception
    assert "This template has no date field" in texts(at)
    at.button(key="new_create").click().run()
    with app_db.session() as s:
        [first, _] = service.list_extracts(session=s).items
    assert first.template_title == "Campaigns (lifetime)"
