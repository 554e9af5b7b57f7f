"""Runs end to end: what a data table holds, and what a run and its extract say, afterwards."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

from core import runner, schemas, service
from core.connectors import registry, sample_ads
from core.connectors.base import (
    ConnectionInfo,
    FetchRequest,
    FetchResult,
    SourceError,
    TemplateSpec,
    TransientError,
)
from core.db import Database
from core.models import Connection
from tests.conftest import NOW, make_extract

# What these tests check depends on the database: they run on SQLite and PostgreSQL.
pytestmark = pytest.mark.both_databases

WEEK = (date(2026, 11, 1), date(2026, 11, 7))  # old enough that Sample Ads does not drift
NEXT_WEEK = (date(2026, 11, 8), date(2026, 11, 14))
KEYS = ["date", "campaign_id"]


_SECONDS = itertools.count()


def ticking() -> datetime:
    """A clock after NOW that moves one second on every call: later runs finish later."""
    return NOW + timedelta(seconds=next(_SECONDS))


def run_now(db: Database, extract_id: int, window: tuple[date, date] | None = WEEK
            ) -> schemas.RunOut:
    """Queue a manual run of `window` (None: no dates) and execute it at once."""
    date_from, date_to = window or (None, None)
    with db.session() as s:
        [run] = service.run_extract(session=s, extract_id=extract_id, date_from=date_from,
                                    date_to=date_to, now=NOW)
    return runner.execute_run(db=db, run_id=run.id, clock=ticking)


def extract_now(db: Database, extract_id: int) -> schemas.ExtractOut:
    with db.session() as s:
        return service.get_extract(session=s, extract_id=extract_id)


def run_log(db: Database, run_id: int) -> list[dict[str, Any]]:
    with db.session() as s:
        return service.get_run(session=s, run_id=run_id).log


def table_name(db: Database, extract: schemas.ExtractOut) -> str:
    with db.session() as s:
        return service.get_data_table(session=s, data_table_id=extract.data_table_id).table_name


def rows(db: Database, extract: schemas.ExtractOut, extract_id: int | None = None
         ) -> pd.DataFrame:
    """Every row of the extract's data table (of one extract if told), in a stable order."""
    query = f'SELECT * FROM "{table_name(db, extract)}"'
    if extract_id is not None:
        query += f" WHERE __extract_id = {int(extract_id)}"
    with db.warehouse.engine.connect() as conn:
        frame = pd.read_sql(query, conn)
    return frame.sort_values(list(frame.columns), ignore_index=True)


def patch_source(monkeypatch: pytest.MonkeyPatch,
                 change: Callable[[FetchRequest, Iterator[pa.Table]],
                                  Iterator[pa.Table]]) -> None:
    """Make Sample Ads pass its chunks through `change` (to inject failures, stray rows...)."""
    source = registry.get("sample_ads")
    real_fetch = source.fetch

    def fetch(request: FetchRequest) -> FetchResult:
        return FetchResult(chunks=change(request, real_fetch(request).chunks))

    monkeypatch.setattr(source, "fetch", fetch)


def two_extracts(db: Database, **overrides: Any) -> tuple[schemas.ExtractOut,
                                                          schemas.ExtractOut]:
    """Extracts of accounts 1 and 2 writing the one data table "Campaign stats"."""
    with db.session() as s:
        first, second = service.create_extracts(session=s, now=NOW, data={
            "data_table_title": "Campaign stats", "template_id": 1, "accounts": [1, 2],
            "template_settings": {"fields": ["date", "campaign_id", "channel", "clicks",
                                             "spend"]},
            **overrides})
    return first, second


# -- re-runs and neighbours ------------------------------------------------------------------


def test_the_same_window_run_twice_holds_the_same_rows_once(db: Database) -> None:
    first, _ = two_extracts(db)
    one = run_now(db, first.id)
    before = rows(db, first)
    two = run_now(db, first.id)
    after = rows(db, first)

    assert one.status == two.status == "succeeded"
    assert one.rows == two.rows == len(after) == 7 * 20
    assert not after.duplicated(KEYS).any()
    assert set(after["__run_id"]) == {two.id}
    data_columns = [c for c in after.columns if not c.startswith("__")]
    pd.testing.assert_frame_equal(before.sort_values(KEYS)[data_columns].reset_index(drop=True),
                                  after.sort_values(KEYS)[data_columns].reset_index(drop=True))


def test_a_window_with_drifting_recent_days_run_twice_has_no_duplicates(db: Database) -> None:
    first, _ = two_extracts(db)
    recent = (NOW.date() - timedelta(days=6), NOW.date())

    run_now(db, first.id, recent)
    again = run_now(db, first.id, recent)

    table = rows(db, first)
    assert again.rows == len(table) == 7 * 20
    assert not table.duplicated(KEYS).any()


def test_two_extracts_of_one_data_table_never_touch_each_others_rows(db: Database) -> None:
    first, second = two_extracts(db)
    run_now(db, first.id)
    run_now(db, second.id)
    second_rows = rows(db, first, extract_id=second.id)
    assert len(second_rows) == 7 * 20

    # Re-load the first extract: another, overlapping window, then with a filter.
    run_now(db, first.id, (date(2026, 11, 4), date(2026, 11, 10)))
    with db.session() as s:
        service.patch_extract(session=s, extract_id=first.id, now=NOW, data={
            "filters": [{"field": "channel", "operator": "eq", "value": "search"}]})
    run_now(db, first.id)

    pd.testing.assert_frame_equal(rows(db, first, extract_id=second.id), second_rows)
    first_rows = rows(db, first, extract_id=first.id)
    assert set(first_rows["account_name"]) == {"Acme Retail"}
    days = pd.to_datetime(first_rows["date"]).dt.date
    # Nov 1-7 now hold only search campaigns; Nov 8-10 kept every channel from the run before.
    assert set(first_rows.loc[days <= WEEK[1], "channel"]) == {"search"}
    assert set(first_rows.loc[days > WEEK[1], "channel"]) == {"search", "social", "display",
                                                              "video"}


# -- failures and cancels --------------------------------------------------------------------


@pytest.mark.parametrize(("error", "message"), [
    (SourceError("Sample Ads says: account sa-1001 is suspended"),
     "Sample Ads says: account sa-1001 is suspended"),
    (TransientError("Sample Ads API timed out"),
     "temporary source error: Sample Ads API timed out"),
    (RuntimeError("connector bug"), "RuntimeError: connector bug"),
])
def test_a_failure_after_the_first_chunk_leaves_the_table_as_it_was(
        db: Database, monkeypatch: pytest.MonkeyPatch, error: Exception, message: str) -> None:
    first, second = two_extracts(db)
    run_now(db, first.id)
    run_now(db, second.id)
    before = rows(db, first)
    pulled: list[pa.Table] = []

    def fail_after_first(request: FetchRequest, chunks: Iterator[pa.Table]
                         ) -> Iterator[pa.Table]:
        pulled.append(next(chunks))
        yield pulled[-1]
        raise error

    patch_source(monkeypatch, fail_after_first)
    failed = run_now(db, first.id)

    assert len(pulled) == 1 and len(pulled[0]) == 20
    pd.testing.assert_frame_equal(rows(db, first), before)
    assert failed.status == "failed"
    assert failed.error == message
    assert failed.rows is None
    assert any(line["level"] == "error" and line["message"] == message
               for line in failed.log)
    extract = extract_now(db, first.id)
    assert extract.status == "error"
    assert extract.error_text == message
    assert extract_now(db, second.id).status == "active"

    monkeypatch.undo()
    fixed = run_now(db, first.id)
    assert fixed.status == "succeeded"
    extract = extract_now(db, first.id)
    assert (extract.status, extract.error_text) == ("active", None)


def _cancel_after_first(db: Database, run_ids: list[int], pulled: list[pa.Table]
                        ) -> Callable[[FetchRequest, Iterator[pa.Table]],
                                      Iterator[pa.Table]]:
    def change(request: FetchRequest, chunks: Iterator[pa.Table]) -> Iterator[pa.Table]:
        for number, chunk in enumerate(chunks):
            if number == 1:  # a person presses Cancel while the second chunk is fetched
                with db.session() as s:
                    service.cancel_run(session=s, run_id=run_ids[-1], now=NOW)
            pulled.append(chunk)
            yield chunk
    return change


@pytest.mark.parametrize("heartbeat", [0.0, 3600.0])
def test_a_cancel_during_fetch_ends_the_run_cancelled_and_keeps_the_window(
        db: Database, monkeypatch: pytest.MonkeyPatch, heartbeat: float) -> None:
    first, _ = two_extracts(db)
    loaded = run_now(db, first.id)
    before = rows(db, first)
    run_ids: list[int] = []
    pulled: list[pa.Table] = []
    patch_source(monkeypatch, _cancel_after_first(db, run_ids, pulled))
    monkeypatch.setattr(runner, "HEARTBEAT_SECONDS", heartbeat)

    with db.session() as s:
        [run] = service.run_extract(session=s, extract_id=first.id, date_from=WEEK[0],
                                    date_to=WEEK[1], now=NOW)
    run_ids.append(run.id)
    done = runner.execute_run(db=db, run_id=run.id, clock=ticking)

    assert done.status == "cancelled"
    assert done.error == ("cancelled: cancelled by request; the window's data was left as "
                          "it was")
    pd.testing.assert_frame_equal(rows(db, first), before)
    assert set(rows(db, first)["__run_id"]) == {loaded.id}
    # Checked between chunks it stops at the next one; throttled, at the latest before the
    # load is committed.
    assert len(pulled) == (2 if heartbeat == 0 else 7)
    extract = extract_now(db, first.id)
    assert (extract.status, extract.error_text) == ("active", None)


# -- columns ---------------------------------------------------------------------------------


def test_a_newly_selected_field_adds_a_column(db: Database) -> None:
    first, _ = two_extracts(db)
    run_now(db, first.id)
    with db.session() as s:
        service.patch_extract(session=s, extract_id=first.id, now=NOW, data={
            "fields": ["date", "campaign_id", "channel", "clicks", "spend", "revenue"]})

    done = run_now(db, first.id, NEXT_WEEK)

    assert done.status == "succeeded"
    with db.session() as s:
        table = service.get_data_table(session=s, data_table_id=first.data_table_id)
    assert table.columns["revenue"] == "number"
    table_rows = rows(db, first)
    days = pd.to_datetime(table_rows["date"]).dt.date
    assert table_rows.loc[days <= WEEK[1], "revenue"].isna().all()
    assert table_rows.loc[days >= NEXT_WEEK[0], "revenue"].notna().all()
    assert len(table_rows) == 14 * 20


class ShiftingAds(sample_ads.SampleAds):
    """Sample Ads whose campaign template can change the type of its clicks field."""

    name = "shifting_ads"
    title = "Shifting Ads (test)"

    def __init__(self) -> None:
        self.clicks_type = "integer"

    def templates(self, connection: ConnectionInfo) -> list[TemplateSpec]:
        [campaigns] = [t for t in sample_ads.TEMPLATES if t.name == "campaign_performance"]
        fields = tuple(replace(f, type=self.clicks_type) if f.name == "clicks" else f
                       for f in campaigns.fields)
        return [replace(campaigns, fields=fields)]


def test_a_field_whose_type_changed_fails_the_run_with_a_clear_message(
        db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    source = ShiftingAds()
    # Registered for this test only: the registry is global, monkeypatch restores it.
    monkeypatch.setitem(registry._CONNECTORS, source.name, source)
    with db.session() as s:
        connection = service.create_connection(session=s, data={
            "datasource": source.name, "title": "Shifting"})
        [template] = service.list_templates(session=s, datasource=source.name)
        extract = make_extract(s, data_table_title="Shifting stats", template_id=template.id,
                               accounts=[connection.accounts[0].id])
    assert run_now(db, extract.id).status == "succeeded"
    before = rows(db, extract)

    source.clicks_type = "string"
    with db.session() as s:
        service.sync_templates(session=s, connection_id=connection.id)
    failed = run_now(db, extract.id)

    message = ("data table 'Shifting stats': column clicks holds integer values but the field "
               "is string; load this extract into a new data table instead")
    assert (failed.status, failed.error) == ("failed", message)
    assert extract_now(db, extract.id).error_text == message
    pd.testing.assert_frame_equal(rows(db, extract), before)


def test_a_hand_made_table_with_a_clashing_column_fails_the_first_run(db: Database) -> None:
    first, _ = two_extracts(db)
    with db.warehouse.engine.begin() as conn:
        conn.exec_driver_sql('CREATE TABLE "campaign_stats" ("date" DATE, "spend" TEXT)')

    failed = run_now(db, first.id)

    assert failed.status == "failed"
    assert "column spend holds string values but the field is number" in (failed.error or "")


# -- templates without a date field ------------------------------------------------------------


def test_a_template_without_a_date_field_replaces_all_of_the_extracts_rows(db: Database
                                                                          ) -> None:
    with db.session() as s:
        first, second = service.create_extracts(session=s, now=NOW, data={
            "data_table_title": "Campaigns", "template_id": 4, "accounts": [1, 2],
            "template_settings": {"fields": ["campaign_id", "campaign_name", "is_active",
                                             "daily_budget"]}})
    assert run_now(db, first.id, None).rows == 20
    assert run_now(db, second.id, None).rows == 20
    second_rows = rows(db, first, extract_id=second.id)
    with db.session() as s:  # the account now has fewer campaigns
        connection = s.get(Connection, 1)
        assert connection is not None
        connection.config = {**connection.config, "rows_per_day": 5}

    again = run_now(db, first.id, None)

    first_rows = rows(db, first, extract_id=first.id)
    assert again.rows == len(first_rows) == 5
    assert set(first_rows["__run_id"]) == {again.id}
    assert first_rows["campaign_id"].tolist() == [f"sa-1001-c{i:06d}" for i in range(5)]
    pd.testing.assert_frame_equal(rows(db, first, extract_id=second.id), second_rows)


# -- shaping the rows ----------------------------------------------------------------------------


def test_filters_the_source_did_not_apply_are_applied_to_the_rows(db: Database) -> None:
    with db.session() as s:
        everything = make_extract(s, data_table_title="Everything", template_settings={
            "fields": ["date", "campaign_id", "channel", "clicks"]})
        # channel is filtered on but not stored: the run must still fetch it to filter.
        filtered = make_extract(s, data_table_title="Search, 100+ clicks", template_settings={
            "fields": ["date", "campaign_id", "clicks"],
            "filters": [{"field": "channel", "operator": "in", "value": ["search", "video"]},
                        {"field": "clicks", "operator": "gte", "value": 100}]})
    run_now(db, everything.id)
    done = run_now(db, filtered.id)

    assert done.status == "succeeded", done.error
    table_rows = rows(db, filtered)
    assert "channel" not in table_rows.columns
    expected = rows(db, everything).query(
        "channel in ['search', 'video'] and clicks >= 100")[[*KEYS, "clicks"]]
    assert 0 < len(expected) < 7 * 20
    assert done.rows == len(table_rows) == len(expected)
    pd.testing.assert_frame_equal(
        table_rows[[*KEYS, "clicks"]].sort_values(KEYS).reset_index(drop=True),
        expected.sort_values(KEYS).reset_index(drop=True))


def test_rows_outside_the_window_are_dropped_with_a_warning(
        db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    def on(chunk: pa.Table, day: date) -> pa.Table:
        where = chunk.schema.get_field_index("date")
        return chunk.set_column(where, "date", pa.array([day] * chunk.num_rows, pa.date32()))

    def with_strays(request: FetchRequest, chunks: Iterator[pa.Table]) -> Iterator[pa.Table]:
        for chunk in chunks:
            yield chunk
        assert request.date_from is not None and request.date_to is not None
        yield on(chunk, request.date_from - timedelta(days=1))
        yield on(chunk, request.date_to + timedelta(days=1))

    first, _ = two_extracts(db)
    patch_source(monkeypatch, with_strays)

    done = run_now(db, first.id)

    table_rows = rows(db, first)
    days = pd.to_datetime(table_rows["date"]).dt.date
    assert done.rows == len(table_rows) == 7 * 20
    assert days.between(*WEEK).all()
    warnings = [line["message"] for line in run_log(db, done.id) if line["level"] == "warning"]
    assert warnings == ["dropped 40 row(s) the source returned outside the window"]


def test_the_system_columns_say_who_wrote_each_row_and_when(db: Database) -> None:
    _, second = two_extracts(db)
    with db.session() as s:
        [run] = service.run_extract(session=s, extract_id=second.id, date_from=WEEK[0],
                                    date_to=WEEK[1], now=NOW)
    done = runner.execute_run(db=db, run_id=run.id, clock=lambda: NOW)

    table_rows = rows(db, second)
    assert done.rows == len(table_rows) == 140
    assert set(table_rows["account_id"]) == {"sa-1002"}
    assert set(table_rows["account_name"]) == {"Globex Travel"}
    assert set(table_rows["__extract_id"]) == {second.id}
    assert set(table_rows["__run_id"]) == {done.id}
    assert set(pd.to_datetime(table_rows["__insert_date"])) == {
        pd.Timestamp(NOW.replace(tzinfo=None))}
    assert table_rows[["account_id", "account_name", "__insert_date", "__extract_id",
                       "__run_id"]].notna().all().all()
