from __future__ import annotations

from datetime import date, timedelta

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
    assert "Created 2 extract(s). The form is empty again for the next one." in texts(at)
    box = at.get_by_key("new_created_box")
    assert [link.value for link in box.page_link] == [e.title for e in created]
    assert [b.label for b in box.button] == ["Run now", "Run now"]
    # The form starts afresh, its widgets under new keys (a browser would otherwise keep
    # showing what they held): no accounts, no data table title, no filter rows.
    assert at.multiselect(key="new1_accounts_1").value == []
    assert at.text_input(key="new1_table_title").value == ""
    assert not [w.key for w in at.selectbox if "filter" in str(w.key)]
    assert not [k for k in at.session_state if str(k).startswith("new_accounts")]

    # Run now from the confirmation queues a run and opens the extract.
    box.button[0].click().run()
    assert not at.exception
    assert at.title[0].value == created[0].title
    assert "Queued 1 run(s)." in texts(at)


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


def test_a_future_historical_start_date_is_an_error_next_to_it(app_db: Database) -> None:
    at = filled_form(accounts=(1,))
    at.checkbox(key="new_history_on").check().run()
    future = date.today() + timedelta(days=45)
    at.date_input(key="new_history_from_1").set_value(future).run()
    at.button(key="new_create").click().run()

    assert not at.exception
    [problem] = problems_at(at, "sync_historical_data")
    assert problem.startswith(f"{future} is in the future; use ")
    assert "Nothing was created: fix the problems marked above." in texts(at)
    assert extracts_in(app_db) == []


def test_a_duplicate_asks_before_it_is_made(app_db: Database) -> None:
    with app_db.session() as s:
        make_extract(s, template_settings={"fields": [
            "date", "campaign_id", "campaign_name", "channel", "impressions", "clicks",
            "spend"]})
    at = filled_form(accounts=(1,))
    at.button(key="new_create").click().run()

    assert not at.exception
    assert "An extract like this exists already" in texts(at)
    assert len(extracts_in(app_db)) == 1
    at.button(key="new_create_cancel").click().run()
    assert "An extract like this exists already" not in texts(at)
    assert len(extracts_in(app_db)) == 1

    at.button(key="new_create").click().run()
    at.button(key="new_create_anyway").click().run()
    assert not at.exception
    assert len(extracts_in(app_db)) == 2
    assert "Created 1 extract(s)." in texts(at)


def test_clone_opens_the_form_pre_filled(app_db: Database) -> None:
    with app_db.session() as s:
        original = make_extract(s, template_settings={
            "fields": ["date", "campaign_id", "clicks"],
            "filters": [{"field": "clicks", "operator": "gte", "value": 5}]},
            schedules=[{"frequency": "weekly", "weekday": 0, "hour": 9, "minute": 0,
                        "timezone": "America/New_York"}])
    at = open_page(navigation.EXTRACT, extract_id=original.id)
    at.button(key="extract_clone").click().run()

    assert not at.exception
    assert at.title[0].value == "New extract"
    assert at.multiselect(key="new1_accounts_1").value == [1]
    assert at.checkbox(key="new1_field_1_clicks").value
    assert not at.checkbox(key="new1_field_1_spend").value
    assert at.selectbox(key="new1_filter_1_0_field").value == "clicks"
    assert at.selectbox(key="new1_schedule_1_0_frequency").value == "weekly"
    assert at.selectbox(key="new1_schedule_1_0_timezone").value == "America/New_York"
    assert at.selectbox(key="new1_table_existing_1").value == "Campaign stats"

    # AppTest stays on the page it was told to; a browser follows st.switch_page.
    at.switch_page(navigation.NEW_EXTRACT)
    at.multiselect(key="new1_accounts_1").set_value([2]).run()
    at.button(key="new_create").click().run()

    assert not at.exception
    with app_db.session() as s:
        copy = service.list_extracts(session=s).items[-1]
    assert copy.account_name == "Globex Travel"
    assert (copy.fields, copy.filters) == (original.fields, original.filters)
    assert copy.data_table_id == original.data_table_id
    assert display_schedule(copy) == display_schedule(original)


def display_schedule(extract: object) -> list[tuple[object, ...]]:
    return [(s.frequency, s.weekday, s.hour, s.timezone)
            for s in extract.schedules]  # type: ignore[attr-defined]
