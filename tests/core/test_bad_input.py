"""Bad input is refused with a message that names the field and what would be right, and
nothing is written: one test per case of the issue's "Bad input" list."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import errors, service
from core.models import DataTable, Extract, Run, Schedule
from tests.conftest import NOW, extract_body, make_extract

# What these tests check depends on the database: they run on SQLite and PostgreSQL.
pytestmark = pytest.mark.both_databases

WRITTEN = (Extract, DataTable, Schedule, Run)


def row_counts(session: Session) -> dict[str, int]:
    """Rows of every table a create, update or run could write."""
    return {model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in WRITTEN}


def refused(session: Session, call: Callable[[], Any]) -> errors.Invalid:
    """Call, expect Invalid, and check that no row was added, removed or left pending."""
    before = row_counts(session)
    with pytest.raises(errors.Invalid) as info:
        call()
    assert row_counts(session) == before
    assert not session.new and not session.deleted
    return info.value


def refused_create(session: Session, **overrides: Any) -> errors.Invalid:
    """create_extracts with the default body changed by `overrides`; nothing may be written."""
    exc = refused(session, lambda: service.create_extracts(
        session=session, data=extract_body(**overrides), now=NOW))
    assert row_counts(session) == {"extracts": 0, "data_tables": 0, "schedules": 0, "runs": 0}
    return exc


def only_message(exc: errors.Invalid, field: str) -> str:
    """The one message about `field` (and check that it is the only problem)."""
    assert [p.field for p in exc.problems] == [field], exc.problems
    [message] = exc.for_field(field)
    return message


# -- template and fields ---------------------------------------------------------------------

def test_unknown_template(session: Session) -> None:
    exc = refused_create(session, template_id=99)

    message = only_message(exc, "template_id")
    assert "no template 99" in message
    assert "known template ids: 1, 2, 3, 4" in message


def test_fields_not_in_the_template_are_all_listed(session: Session) -> None:
    exc = refused_create(session, template_settings={
        "fields": ["date", "campaign_id", "cost", "clicks", "ctr"]})

    message = only_message(exc, "template_settings.fields")
    assert "unknown field(s) cost, ctr" in message
    # ... and what would be right: the fields the template offers.
    assert "offers date, campaign_id, campaign_name, channel, impressions" in message


def test_required_field_deselected(session: Session) -> None:
    exc = refused_create(session, template_settings={"fields": ["date", "clicks"]})

    message = only_message(exc, "template_settings.fields")
    assert message == "required field(s) campaign_id must stay selected"


# -- filters ---------------------------------------------------------------------------------

def with_filter(**item: Any) -> dict[str, Any]:
    return {"fields": ["date", "campaign_id", "clicks"], "filters": [item]}


def test_filter_on_unknown_field(session: Session) -> None:
    exc = refused_create(session, template_settings=with_filter(
        field="cost", operator="gt", value=1))

    message = only_message(exc, "template_settings.filters[0].field")
    assert message.startswith("unknown field 'cost'; pick one of ")
    assert "clicks" in message and "spend" in message
    assert exc.for_field("template_settings.filters") == [message]


def test_filter_operator_that_does_not_fit_the_field_type(session: Session) -> None:
    exc = refused_create(session, template_settings=with_filter(
        field="campaign_name", operator="gt", value="M"))

    message = only_message(exc, "template_settings.filters[0].operator")
    assert "operator 'gt' does not fit string field campaign_name" in message
    assert "use one of eq, ne, in, not_in, is_null, is_not_null, contains" in message


def test_filter_value_of_the_wrong_type(session: Session) -> None:
    exc = refused_create(session, template_settings=with_filter(
        field="clicks", operator="gte", value="lots"))

    message = only_message(exc, "template_settings.filters[0].value")
    assert message == "clicks gte: value must be a whole number, not 'lots'"


# -- accounts --------------------------------------------------------------------------------

def test_accounts_from_two_connections(session: Session) -> None:
    other = service.create_connection(session=session, data={
        "datasource": "sample_ads", "title": "Sample Ads (second)"})
    other_account = other.accounts[0].id
    assert other.id != 1 and other_account not in (1, 2, 3)

    exc = refused_create(session, accounts=[1, other_account])

    message = only_message(exc, "accounts")
    assert message == ("all accounts must belong to one connection; these come from "
                       f"connections 1, {other.id}")


def test_unknown_accounts(session: Session) -> None:
    exc = refused_create(session, accounts=[1, 404, 405])

    message = only_message(exc, "accounts")
    assert message.startswith("unknown account id(s) 404, 405")
    assert "known account ids: 1, 2, 3" in message


def test_no_accounts(session: Session) -> None:
    exc = refused_create(session, accounts=[])

    assert only_message(exc, "accounts") == "select at least one account"


# -- schedules -------------------------------------------------------------------------------

def test_more_schedules_than_the_limit(session: Session) -> None:
    daily = {"frequency": "daily", "hour": 6}
    exc = refused_create(session, schedules=[daily, daily, daily, daily])

    assert only_message(exc, "schedules") == (
        "4 schedules given; an extract may have at most 3")


def test_bad_cron_text(session: Session) -> None:
    exc = refused_create(session, schedules=[{"frequency": "cron", "cron": "every morning"}])

    message = only_message(exc, "schedules[0].cron")
    assert message.startswith("bad cron expression 'every morning'")
    assert "use five fields: minute hour day month weekday" in message


def test_unknown_timezone(session: Session) -> None:
    exc = refused_create(session, schedules=[{"frequency": "daily", "timezone": "Mars/Olympus"}])

    assert only_message(exc, "schedules[0].timezone") == (
        "unknown timezone 'Mars/Olympus'; use an IANA name such as Europe/Berlin or UTC")


@pytest.mark.parametrize(("schedule", "field", "message"), [
    ({"frequency": "daily", "hour": 24}, "schedules[0].hour",
     "hour must be a whole number 0-23, not 24"),
    ({"frequency": "hourly", "minute": 60}, "schedules[0].minute",
     "minute must be a whole number 0-59, not 60"),
    ({"frequency": "monthly", "day_of_month": 32}, "schedules[0].day_of_month",
     "day_of_month must be a whole number 1-31, not 32"),
    ({"frequency": "weekly", "weekday": 7}, "schedules[0].weekday",
     "weekday (0 = Monday ... 6 = Sunday) must be a whole number 0-6, not 7"),
], ids=["hour", "minute", "day_of_month", "weekday"])
def test_hour_minute_day_out_of_range(session: Session, schedule: dict[str, Any], field: str,
                                      message: str) -> None:
    exc = refused_create(session, schedules=[schedule])

    assert only_message(exc, field) == message


# -- sync_historical_data --------------------------------------------------------------------

def test_sync_historical_data_not_an_iso_date(session: Session) -> None:
    exc = refused_create(session, sync_historical_data="2025-02-30")

    message = only_message(exc, "sync_historical_data")
    assert message == "must be an ISO date such as 2025-01-31, not '2025-02-30'"


def test_sync_historical_data_in_the_future(session: Session) -> None:
    exc = refused_create(session, sync_historical_data="2026-11-29")

    assert only_message(exc, "sync_historical_data") == (
        "2026-11-29 is in the future; use 2026-11-28 or earlier")


def test_sync_historical_data_older_than_the_depth_limit(session: Session) -> None:
    # Campaign performance keeps 730 days: 2024-11-28 is the oldest allowed start.
    exc = refused_create(session, sync_historical_data="2024-11-27")

    assert only_message(exc, "sync_historical_data") == (
        "2024-11-27 is older than the template's depth limit of 730 days; use 2024-11-28 "
        "or later")


def test_sync_historical_data_on_a_template_without_a_date_field(session: Session) -> None:
    lifetime = service.get_template(session=session, template_id=4)
    assert lifetime.title == "Campaigns (lifetime)" and lifetime.date_field is None

    exc = refused_create(session, template_id=4, data_table_title="Campaigns",
                         template_settings={"fields": ["campaign_id", "campaign_name"]},
                         sync_historical_data="2026-01-01")

    message = only_message(exc, "sync_historical_data")
    assert "'Campaigns (lifetime)' has no date field" in message
    assert "leave it empty" in message


# -- manual runs -----------------------------------------------------------------------------

def test_run_with_date_from_after_date_to(session: Session) -> None:
    extract = make_extract(session)

    exc = refused(session, lambda: service.run_extract(
        session=session, extract_id=extract.id, date_from=date(2026, 11, 20),
        date_to=date(2026, 11, 10), now=NOW))

    assert only_message(exc, "date_from") == "date_from 2026-11-20 is after date_to 2026-11-10"
    assert service.get_extract(session=session, extract_id=extract.id).status == "active"


def test_run_with_date_to_in_the_future(session: Session) -> None:
    extract = make_extract(session)

    exc = refused(session, lambda: service.run_extract(
        session=session, extract_id=extract.id, date_from=date(2026, 11, 20),
        date_to=date(2026, 12, 1), now=NOW))

    assert only_message(exc, "date_to") == (
        "date_to 2026-12-01 is in the future; use 2026-11-28 or earlier")


# -- data table title ------------------------------------------------------------------------

def test_empty_data_table_title(session: Session) -> None:
    exc = refused_create(session, data_table_title="   ")

    message = only_message(exc, "data_table_title")
    assert message == "must not be empty; name the data table that receives the rows"


def test_data_table_title_already_used_for_another_template(session: Session) -> None:
    make_extract(session, data_table_title="Marketing")

    exc = refused(session, lambda: service.create_extracts(session=session, now=NOW,
                                                           data=extract_body(
        template_id=2, data_table_title="Marketing",
        template_settings={"fields": ["date", "ad_group_id", "clicks"]})))

    message = only_message(exc, "data_table_title")
    assert message == ("data table 'Marketing' already holds rows of template "
                       "'Campaign performance (daily)'; pick a new title, or that template")
    assert row_counts(session)["extracts"] == 1


# -- all at once -----------------------------------------------------------------------------

def test_several_problems_are_reported_together(session: Session) -> None:
    exc = refused_create(
        session,
        data_table_title="",
        accounts=[],
        template_settings={"fields": ["date", "campaign_id", "cost"],
                           "filters": [{"field": "clicks", "operator": "contains",
                                        "value": "1"}]},
        schedules=[{"frequency": "daily", "hour": 25, "timezone": "Nowhere/City"}],
        sync_historical_data="2030-01-01",
    )

    assert {p.field for p in exc.problems} == {
        "template_settings.fields", "template_settings.filters[0].operator",
        "schedules[0].hour", "schedules[0].timezone", "sync_historical_data", "accounts",
        "data_table_title",
    }
    assert "unknown field(s) cost" in exc.for_field("template_settings.fields")[0]
    # str(exc) is what the API and the pages show: every problem, each with its field.
    for problem in exc.problems:
        assert f"{problem.field}: " in str(exc)


def test_update_with_bad_input_changes_nothing(session: Session) -> None:
    extract = make_extract(session, sync_historical_data="2026-11-01")
    before = service.get_extract(session=session, extract_id=extract.id)

    exc = refused(session, lambda: service.patch_extract(
        session=session, extract_id=extract.id, now=NOW,
        data={"fields": ["date", "clicks"], "schedules": [{"timezone": "Atlantis"}]}))

    assert {p.field for p in exc.problems} == {"fields", "schedules[0].timezone"}
    after = service.get_extract(session=session, extract_id=extract.id)
    assert after.model_dump(exclude={"next_run_at", "schedules"}) == before.model_dump(
        exclude={"next_run_at", "schedules"})
    assert [s.id for s in after.schedules] == [s.id for s in before.schedules]
