"""`http_json` against a real REST server (json-server from npm) serving weather records
dated years before any today: the fields are learned without a window, 0.0 arrives as 0,
pages follow the Link header with a page size."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy.orm import Session

from core import errors, runner, schemas, service
from core.db import Database
from core.models import Template
from tests.core.connectors.conftest import load, own_template
from tests.npm import json_server

FIRST, LAST = date(2015, 1, 1), date(2017, 12, 31)
STATIONS = ("Berlin", "Oslo")


def weather() -> list[dict[str, Any]]:
    """Daily weather of two stations, 2015-2017. The first 40 days are dry: precipitation is
    0.0, which a JSON server writes as 0; later days have fractions."""
    out = []
    day = FIRST
    while day <= LAST:
        n = (day - FIRST).days
        for k, station in enumerate(STATIONS):
            rain = 0.0 if n < 40 else round((n * 7 + k * 3) % 23 / 10, 1)
            out.append({"id": len(out) + 1, "date": day.isoformat(), "station": station,
                        "precipitation": rain, "temp_max": round(math.sin(n / 58) * 15 + 9, 1),
                        "wind": {"speed": (n + k) % 9 + 0.5, "dir": "NW" if n % 2 else "SE"}})
        day += timedelta(days=1)
    return out


RECORDS = weather()


@pytest.fixture(scope="module")
def rest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """json-server on loopback serving /weather, for the tests of this module."""
    with json_server.serving({"weather": RECORDS}, tmp_path_factory.mktemp("json")) as url:
        yield url


def connect(session: Session, url: str, **config: Any) -> schemas.ConnectionOut:
    return service.create_connection(session=session, data={
        "datasource": "http_json", "title": "Weather", "config": {
            "base_url": url, "endpoint": "/weather", "date_from_param": "date_gte",
            "date_to_param": "date_lte", "pagination": "link", "page_param": "_page",
            "page_size_param": "_limit", "page_size": 50, "sample_pages": 1, **config}})


def expected(date_from: date, date_to: date) -> pd.DataFrame:
    """What pandas makes of the same records: the oracle."""
    frame = pd.json_normalize(RECORDS)
    days = pd.to_datetime(frame["date"]).dt.date
    return frame[(days >= date_from) & (days <= date_to)]


def test_old_records_connect_and_load_with_zero_written_as_0(
        db: Database, session: Session, rest: str) -> None:
    connection = connect(session, rest)
    template = own_template(session, connection.id, "records")
    types = {f.name: f.type for f in template.fields}
    # One sampled page of dry days: every precipitation arrived as 0, yet it is a number.
    assert types == {"id": "number", "date": "date", "station": "string",
                     "precipitation": "number", "temp_max": "number", "wind.speed": "number",
                     "wind.dir": "string"}
    assert template.date_field == "date"

    window = (date(2016, 2, 1), date(2016, 2, 29))
    done, rows = load(db, session, template=template, account_id=connection.accounts[0].id,
                      fields=["date", "station", "precipitation", "wind.speed"],
                      filters=[{"field": "precipitation", "operator": "gt", "value": 0.5}],
                      date_from=window[0], date_to=window[1])

    assert done.status == "succeeded", done.error
    oracle = expected(*window)
    oracle = oracle[oracle["precipitation"] > 0.5]
    assert len(rows) == len(oracle) > 20
    got = rows.sort_values(["date", "station"])
    assert list(got["precipitation"]) == list(oracle.sort_values(["date", "station"])
                                              ["precipitation"])
    assert {str(d)[:10] for d in got["date"]} <= {f"2016-02-{d:02d}" for d in range(1, 30)}


def test_an_integer_choice_the_data_contradicts_names_the_field_and_value(
        db: Database, session: Session, rest: str) -> None:
    # The sample's window has fractions: integer is refused, naming the value.
    with pytest.raises(errors.Conflict) as refused:
        connect(session, rest, column_types="precipitation=integer",
                sample_date_from="2016-01-01", sample_date_to="2016-01-10")
    first = expected(date(2016, 1, 1), date(2016, 1, 1)).iloc[0]["precipitation"]
    assert 0 < first < 1
    assert ("column_types precipitation=integer does not fit the sample: record 1 has "
            f"precipitation = {first} (a fraction in an integer field)") in str(refused.value)

    # A sample of dry days lets the choice stand; the run that meets 0.5 says where.
    connection = connect(session, rest, column_types="precipitation=integer")
    template = own_template(session, connection.id, "records")
    assert {f.name: f.type for f in template.fields}["precipitation"] == "integer"
    done, _ = load(db, session, template=template, account_id=connection.accounts[0].id,
                   fields=["date", "station", "precipitation"],
                   date_from=date(2015, 2, 1), date_to=date(2015, 2, 28))

    assert done.status == "failed"
    assert done.error is not None
    assert done.error.startswith("field precipitation is integer but the source sent ")
    assert "(the record of 2015-02-" in done.error
    assert "drop precipitation=integer from the connection's column_types" in done.error

    # Correcting the connection says what changed.
    changed = service.update_connection(session=session, connection_id=connection.id, data={
        "config": {"column_types": None}})
    assert "column_types" not in changed.config
    refreshed = service.refresh_connection(session=session, connection_id=connection.id)
    [records] = refreshed.templates
    assert records.change == "unchanged"  # the edit refreshed already
    assert {f.name: f.type for f in own_template(session, connection.id, "records").fields
            }["precipitation"] == "number"


def test_a_sample_window_without_records_says_what_to_give(session: Session, rest: str
                                                           ) -> None:
    with pytest.raises(errors.Conflict) as refused:
        connect(session, rest, sample_date_from="2024-01-01", sample_date_to="2024-01-31")
    assert ("returned no records for 2024-01-01 to 2024-01-31 to learn the fields from; "
            "give sample_date_from and sample_date_to") in str(refused.value)


def test_a_run_over_many_pages_loads_every_record(db: Database, session: Session, rest: str,
                                                  tmp_path: Path) -> None:
    connection = connect(session, rest, page_size=7)
    window = (date(2017, 12, 1), date(2017, 12, 31))
    done, rows = load(db, session, template=own_template(session, connection.id, "records"),
                      account_id=connection.accounts[0].id,
                      fields=["date", "station", "temp_max", "wind.dir"],
                      date_from=window[0], date_to=window[1])

    assert done.status == "succeeded", done.error
    assert len(rows) == len(expected(*window)) == 62  # 9 pages of 7
    oracle = expected(*window).sort_values(["date", "station"])
    assert list(rows.sort_values(["date", "station"])["temp_max"]) == list(oracle["temp_max"])


def test_a_template_learned_as_integer_before_says_what_to_do_at_each_step(
        db: Database, session: Session, rest: str) -> None:
    """The issue's story: precipitation learned as integer from a page of dry days (as the
    old sampling did) meets 0.5."""
    connection = connect(session, rest)
    stored = session.get(Template, own_template(session, connection.id, "records").id)
    assert stored is not None
    stored.fields = [{**f, "type": "integer"} if f["name"] == "precipitation" else f
                     for f in stored.fields]
    template = own_template(session, connection.id, "records")
    account = connection.accounts[0].id
    fields = ["date", "station", "precipitation"]
    dry, _ = load(db, session, template=template, account_id=account, fields=fields,
                  date_from=date(2015, 1, 1), date_to=date(2015, 1, 31), title="Rain")
    assert dry.status == "succeeded", dry.error
    [extract] = [e for e in service.list_extracts(session=session).items
                 if e.data_table_title == "Rain"]

    [queued] = service.run_extract(session=session, extract_id=extract.id,
                                   date_from=date(2016, 2, 1), date_to=date(2016, 2, 29))
    session.commit()
    wet = runner.execute_run(db=db, run_id=queued.id)
    assert wet.status == "failed" and wet.error is not None
    assert wet.error.startswith("field precipitation is integer but the source sent ")
    assert "refresh its templates, then load the extract into a new data table" in wet.error

    changes = service.refresh_connection(session=session, connection_id=connection.id)
    [records] = changes.templates
    assert [(r.name, r.old, r.new) for r in records.fields_retyped] == [
        ("precipitation", "integer", "number")]
    assert records.extract_ids == [extract.id]

    window = (date(2016, 2, 1), date(2016, 2, 29))
    moved, rows = load(db, session, template=own_template(session, connection.id, "records"),
                       account_id=account, fields=fields, date_from=window[0],
                       date_to=window[1], title="Rain, as numbers")
    assert moved.status == "succeeded", moved.error
    assert sorted(rows["precipitation"]) == sorted(expected(*window)["precipitation"])
