"""Extracts through the service facade: create, read, list, replace (PUT), patch, pause,
delete."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import errors, runner, service
from core.db import Database
from core.models import DataTable, Extract, Run, Schedule
from tests.conftest import NOW, extract_body, make_extract

# What these tests check depends on the database: they run on SQLite and PostgreSQL.
pytestmark = pytest.mark.both_databases

SEED_FIELDS = ["id", "title", "connection_id", "account_id", "account_name", "created_at",
               "last_sync", "status", "error_text", "schedules_limit", "sync_historical_data"]
EXTRA_FIELDS = ["template_id", "data_table_id", "data_table_title", "fields", "filters",
                "additional_params", "schedules", "next_run_at"]
DEFAULT_SCHEDULE = {"frequency": "daily", "every_hours": None, "minute": 0, "hour": 0,
                    "weekday": None, "day_of_month": None, "cron": None, "timezone": "UTC",
                    "lookback": "default"}
NEXT_MIDNIGHT = datetime(2026, 11, 29, 0, 0, tzinfo=UTC)


def count(session: Session, model: type[Any]) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def schedule_settings(extract: Any) -> list[dict[str, Any]]:
    return [s.model_dump(exclude={"id", "next_run_at"}) for s in extract.schedules]


# -- create ----------------------------------------------------------------------------------

def test_create_writes_one_extract_per_account_sharing_one_data_table(session: Session) -> None:
    extracts = service.create_extracts(session=session, data=extract_body(accounts=[2, 1]),
                                       now=NOW)

    assert [e.account_id for e in extracts] == [2, 1]
    assert [e.account_name for e in extracts] == ["Globex Travel", "Acme Retail"]
    assert [e.title for e in extracts] == ["Globex Travel · Campaign performance (daily)",
                                           "Acme Retail · Campaign performance (daily)"]
    assert {e.data_table_title for e in extracts} == {"Campaign stats"}
    assert len({e.data_table_id for e in extracts}) == 1
    assert count(session, Extract) == 2
    assert count(session, DataTable) == 1
    [table] = service.list_data_tables(session=session)
    assert table.title == "Campaign stats"
    assert table.table_name == "campaign_stats"
    assert table.extract_ids == sorted(e.id for e in extracts)
    assert count(session, Run) == 0


def test_create_gives_each_extract_one_default_schedule(session: Session) -> None:
    extracts = service.create_extracts(session=session, data=extract_body(), now=NOW)

    assert count(session, Schedule) == 2
    for extract in extracts:
        assert schedule_settings(extract) == [DEFAULT_SCHEDULE]
        assert extract.schedules[0].next_run_at == NEXT_MIDNIGHT
        assert extract.next_run_at == NEXT_MIDNIGHT
        assert extract.status == "active"
        assert extract.schedules_limit == 3
        assert extract.sync_historical_data is None
        assert extract.last_sync is None and extract.error_text is None
        assert extract.created_at == NOW
        assert extract.fields == ["date", "campaign_id", "clicks", "spend"]
        assert extract.filters == [] and extract.additional_params == {}
        # The template's own settings get their defaults.
        assert extract.template_settings == {"attribution_window": "7d_click"}


def test_extract_as_read_has_the_seed_fields_first_then_the_extras(session: Session) -> None:
    extract = make_extract(session, sync_historical_data="2026-11-20")

    shown = service.get_extract(session=session, extract_id=extract.id)
    data = shown.model_dump(mode="json")
    assert list(data)[:len(SEED_FIELDS)] == SEED_FIELDS
    assert set(EXTRA_FIELDS) <= set(data)
    assert data["connection_id"] == 1 and data["account_id"] == 1
    assert data["account_name"] == "Acme Retail"
    assert data["sync_historical_data"] == "2026-11-20"  # an ISO date, not a date-time
    assert data["status"] == "syncing"  # the backfill is queued


def test_create_keeps_filters_schedules_and_params_as_given(session: Session) -> None:
    extract = make_extract(
        session,
        template_settings={"fields": ["date", "campaign_id", "clicks"],
                           "filters": [{"field": "clicks", "operator": "gte", "value": 5},
                                       {"field": "date", "operator": "gte",
                                        "value": "2026-01-01"}],
                           "attribution_window": "1d_click"},
        schedules=[{"frequency": "weekly", "weekday": "mon", "hour": 6, "minute": 30,
                    "timezone": "Europe/Berlin", "lookback": 14}],
        additional_params={"owner": "growth team"},
        title="Acme daily",
    )

    assert extract.title == "Acme daily"
    assert extract.filters == [{"field": "clicks", "operator": "gte", "value": 5},
                               {"field": "date", "operator": "gte", "value": "2026-01-01"}]
    assert extract.template_settings == {"attribution_window": "1d_click"}
    assert extract.additional_params == {"owner": "growth team"}
    [schedule] = extract.schedules
    assert (schedule.frequency, schedule.weekday, schedule.hour, schedule.minute,
            schedule.timezone, schedule.lookback) == ("weekly", 0, 6, 30, "Europe/Berlin", 14)
    # Monday 2026-11-30 06:30 in Berlin (CET, UTC+1) is 05:30 UTC.
    assert extract.next_run_at == datetime(2026, 11, 30, 5, 30, tzinfo=UTC)


def test_an_existing_data_table_title_of_the_same_template_is_reused(session: Session) -> None:
    first = make_extract(session, accounts=[1], data_table_title="Campaign stats")

    [second] = service.create_extracts(
        session=session, data=extract_body(accounts=[3], data_table_title="  Campaign stats "),
        now=NOW)

    assert second.data_table_id == first.data_table_id
    assert count(session, DataTable) == 1
    table = service.get_data_table(session=session, data_table_id=first.data_table_id)
    assert table.extract_ids == [first.id, second.id]


# -- get and list ----------------------------------------------------------------------------

def test_get_an_unknown_extract_says_so(session: Session) -> None:
    with pytest.raises(errors.NotFound, match="extract 42 does not exist"):
        service.get_extract(session=session, extract_id=42)


def test_list_extracts_filters_and_pages(session: Session) -> None:
    other = service.create_connection(session=session, data={"datasource": "sample_ads",
                                                             "title": "Second"})
    campaigns = service.create_extracts(session=session, data=extract_body(accounts=[1, 2, 3]),
                                        now=NOW)
    [geo] = service.create_extracts(session=session, now=NOW, data=extract_body(
        template_id=3, data_table_title="Geo", accounts=[other.accounts[0].id],
        title="Geo of the second connection",
        template_settings={"fields": ["date", "country", "clicks"]}))
    service.pause_extract(session=session, extract_id=campaigns[1].id)

    def ids(**kwargs: Any) -> list[int]:
        return [e.id for e in service.list_extracts(session=session, **kwargs).items]

    all_ids = [*(e.id for e in campaigns), geo.id]
    assert ids() == all_ids
    assert ids(connection_id=1) == all_ids[:3]
    assert ids(connection_id=other.id) == [geo.id]
    assert ids(datasource_name="sample_ads") == all_ids
    assert ids(datasource_name="other_source") == []
    assert ids(data_table_id=geo.data_table_id) == [geo.id]
    assert ids(status="paused") == [campaigns[1].id]
    assert ids(status="active") == [campaigns[0].id, campaigns[2].id, geo.id]
    assert ids(search="globex") == [campaigns[1].id]
    assert ids(search=" SECOND ") == [geo.id]

    page = service.list_extracts(session=session, page=2, page_size=3)
    assert [e.id for e in page.items] == [geo.id]
    assert (page.total, page.page, page.page_size) == (4, 2, 3)
    assert service.list_extracts(session=session, status="active", page_size=2).total == 3

    with pytest.raises(errors.Invalid) as info:
        service.list_extracts(session=session, status="sleeping", page=0)
    assert info.value.for_field("status") == [
        "must be one of active, syncing, paused, error, not 'sleeping'"]
    assert info.value.for_field("page") == ["must be 1 or more, not 0"]


def test_title_search_is_plain_text(session: Session) -> None:
    full = make_extract(session, title="Spend 100% of budget")
    make_extract(session, title="Spend 1000 on search", data_table_title="Other")
    snake = make_extract(session, title="north_america", data_table_title="Third")
    make_extract(session, title="northXamerica", data_table_title="Fourth")

    def titles(search: str) -> list[str]:
        return [e.title for e in service.list_extracts(session=session, search=search).items]

    assert titles("100%") == [full.title]
    assert titles("h_a") == [snake.title]
    assert titles("spend") == ["Spend 100% of budget", "Spend 1000 on search"]


# -- PUT and PATCH ---------------------------------------------------------------------------

def configured(session: Session) -> Any:
    """An extract with every optional part set to something that is not the default."""
    return make_extract(
        session,
        template_settings={"fields": ["date", "campaign_id", "clicks", "spend"],
                           "filters": [{"field": "spend", "operator": "gt", "value": 10}],
                           "attribution_window": "28d_click"},
        schedules=[{"frequency": "hourly", "every_hours": 6, "minute": 15},
                   {"frequency": "daily", "hour": 3, "lookback": "live"}],
        additional_params={"note": "keep"},
        sync_historical_data="2026-10-01",
    )


def test_put_resets_what_it_does_not_name_to_the_defaults(session: Session) -> None:
    extract = configured(session)

    updated = service.update_extract(session=session, extract_id=extract.id, now=NOW,
                                     data={"fields": ["date", "campaign_id", "impressions"]})

    assert updated.fields == ["date", "campaign_id", "impressions"]
    assert updated.filters == []
    assert updated.additional_params == {}
    assert updated.template_settings == {"attribution_window": "7d_click"}
    assert schedule_settings(updated) == [DEFAULT_SCHEDULE]
    assert updated.sync_historical_data is None
    assert count(session, Schedule) == 1
    # Clearing the historical start cancelled the queued backfill.
    backfill = service.list_runs(session=session, extract_id=extract.id)
    assert backfill and {r.status for r in backfill} == {"cancelled"}
    assert updated.status == "active"
    stored = service.get_extract(session=session, extract_id=extract.id)
    assert stored.model_dump(exclude={"next_run_at", "schedules"}) == updated.model_dump(
        exclude={"next_run_at", "schedules"})


def test_patch_with_only_fields_keeps_the_rest(session: Session) -> None:
    extract = configured(session)
    later = NOW + timedelta(minutes=5)

    patched = service.patch_extract(session=session, extract_id=extract.id, now=later,
                                    data={"fields": ["date", "campaign_id", "impressions"]})

    assert patched.fields == ["date", "campaign_id", "impressions"]
    assert patched.filters == extract.filters == [
        {"field": "spend", "operator": "gt", "value": 10}]
    assert patched.additional_params == {"note": "keep"}
    assert patched.template_settings == {"attribution_window": "28d_click"}
    assert schedule_settings(patched) == schedule_settings(extract)
    assert len(patched.schedules) == 2
    assert patched.sync_historical_data == date(2026, 10, 1)
    assert patched.updated_at == later
    runs = service.list_runs(session=session, extract_id=extract.id)
    assert runs and {r.status for r in runs} == {"queued"}
    assert patched.status == "syncing"


def test_patch_with_an_explicit_null_clears_sync_historical_data(session: Session) -> None:
    extract = configured(session)

    kept = service.patch_extract(session=session, extract_id=extract.id, now=NOW,
                                 data={"additional_params": {"note": "changed"}})
    assert kept.sync_historical_data == date(2026, 10, 1)
    assert kept.additional_params == {"note": "changed"}

    cleared = service.patch_extract(session=session, extract_id=extract.id, now=NOW,
                                    data={"sync_historical_data": None})

    assert cleared.sync_historical_data is None
    assert cleared.additional_params == {"note": "changed"}
    assert cleared.filters == extract.filters
    assert len(cleared.schedules) == 2
    runs = service.list_runs(session=session, extract_id=extract.id)
    assert {r.status for r in runs} == {"cancelled"}
    assert cleared.status == "active"


def test_put_and_patch_accept_fields_inside_template_settings(session: Session) -> None:
    extract = make_extract(session)

    patched = service.patch_extract(session=session, extract_id=extract.id, now=NOW, data={
        "template_settings": {"fields": ["date", "campaign_id", "revenue"],
                              "attribution_window": "1d_click"}})

    assert patched.fields == ["date", "campaign_id", "revenue"]
    assert patched.template_settings == {"attribution_window": "1d_click"}


# -- pause, unpause --------------------------------------------------------------------------

def test_pause_and_unpause_change_status_and_next_run(session: Session) -> None:
    extract = make_extract(session)
    assert extract.next_run_at is not None

    paused = service.pause_extract(session=session, extract_id=extract.id)

    assert paused.status == "paused"
    assert paused.next_run_at is None
    assert all(s.next_run_at is None for s in paused.schedules)
    assert service.list_extracts(session=session, status="paused").total == 1

    active = service.unpause_extract(session=session, extract_id=extract.id)

    assert active.status == "active"
    assert active.next_run_at is not None
    # The default schedule fires at midnight UTC.
    assert (active.next_run_at.hour, active.next_run_at.minute) == (0, 0)
    assert active.next_run_at > datetime.now(UTC)


# -- delete ----------------------------------------------------------------------------------

def loaded_pair(db: Database, session: Session) -> tuple[Any, Any]:
    """Two extracts writing one data table, each run once for the default window."""
    first, second = service.create_extracts(session=session, data=extract_body(), now=NOW)
    runs = [r for e in (first, second)
            for r in service.run_extract(session=session, extract_id=e.id, now=NOW)]
    session.commit()
    for run in runs:
        assert runner.execute_run(db=db, run_id=run.id, clock=lambda: NOW).status == (
            "succeeded")
    return first, second


def rows_in(session: Session, data_table_id: int) -> int:
    return service.get_data_table(session=session, data_table_id=data_table_id).row_count


def test_delete_extract_keeps_its_rows_by_default(db: Database, session: Session) -> None:
    first, second = loaded_pair(db, session)
    assert rows_in(session, first.data_table_id) == 2 * 7 * 20

    deleted_rows = service.delete_extract(session=session, extract_id=first.id)

    assert deleted_rows == 0
    assert rows_in(session, first.data_table_id) == 2 * 7 * 20
    assert count(session, Extract) == 1
    assert count(session, Schedule) == 1
    assert [r.extract_id for r in service.list_runs(session=session)] == [second.id]
    with pytest.raises(errors.NotFound):
        service.get_extract(session=session, extract_id=first.id)


def test_delete_extract_with_rows_removes_only_its_rows(db: Database, session: Session) -> None:
    first, second = loaded_pair(db, session)

    session.commit()
    with db.session() as s:  # the rows go once the extract's deletion has committed
        deleted_rows = service.delete_extract(session=s, extract_id=first.id,
                                              delete_rows=True)

    assert deleted_rows == 7 * 20
    assert rows_in(session, first.data_table_id) == 7 * 20
    left = service.preview_rows(session=session, data_table_id=first.data_table_id,
                                limit=1000)
    assert set(left["__extract_id"]) == {second.id}
    assert set(left["account_name"]) == {"Globex Travel"}
    # The data table stays, with the other extract.
    table = service.get_data_table(session=session, data_table_id=first.data_table_id)
    assert table.extract_ids == [second.id]


def test_changes_keep_the_ids_of_schedules_in_the_same_position(session: Session) -> None:
    extract = make_extract(session, schedules=[
        {"frequency": "daily", "hour": 6}, {"frequency": "weekly", "weekday": 0, "hour": 7}])
    ids = [s.id for s in extract.schedules]

    patched = service.patch_extract(session=session, extract_id=extract.id, now=NOW,
                                    data={"fields": ["date", "campaign_id", "clicks"]})
    changed = service.patch_extract(session=session, extract_id=extract.id, now=NOW,
                                    data={"schedules": [{"frequency": "daily", "hour": 9}]})

    assert [s.id for s in patched.schedules] == ids
    assert [(s.id, s.hour) for s in changed.schedules] == [(ids[0], 9)]


def test_extract_titles_names_the_extracts_that_exist_by_title(session: Session) -> None:
    first = make_extract(session)
    second = make_extract(session, accounts=[2], title="Globex spend")
    third = make_extract(session, accounts=[3], title="Initech spend")

    assert service.extract_titles(session=session,
                                  extract_ids=[first.id, second.id, 999]) == {
        first.id: "Acme Retail · Campaign performance (daily)", second.id: "Globex spend"}
    assert list(service.extract_titles(session=session).items()) == [
        (first.id, "Acme Retail · Campaign performance (daily)"),
        (second.id, "Globex spend"), (third.id, "Initech spend")]


@pytest.mark.both_databases
def test_ids_are_never_reused_so_a_new_extract_inherits_no_rows(db: Database) -> None:
    with db.session() as session:
        first, second = (make_extract(session, accounts=[1]), make_extract(session, accounts=[2]))
        [run] = service.run_extract(session=session, extract_id=second.id,
                                    date_from=date(2026, 11, 20), date_to=date(2026, 11, 21),
                                    now=NOW)
        session.commit()
    loaded = runner.execute_run(db=db, run_id=run.id, clock=lambda: NOW)
    assert loaded.status == "succeeded" and loaded.rows
    table = db.warehouse.count_rows
    with db.session() as session:
        table_name = service.get_data_table(session=session,
                                            data_table_id=second.data_table_id).table_name
        service.delete_extract(session=session, extract_id=second.id)  # its rows stay
        session.commit()
        third = make_extract(session, accounts=[2])
        with pytest.raises(errors.NotFound):
            service.get_run(session=session, run_id=run.id)
        [next_run] = service.run_extract(session=session, extract_id=third.id, now=NOW,
                                         date_from=date(2026, 11, 20),
                                         date_to=date(2026, 11, 20))
        session.commit()
    assert third.id > second.id > first.id
    assert next_run.id > run.id
    assert table(table_name, second.id) == loaded.rows  # kept, as asked
    assert table(table_name, third.id) == 0  # and not the new extract's
