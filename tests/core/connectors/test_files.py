"""The `files` connector on real CSV, Parquet and JSON Lines files, end to end."""

from __future__ import annotations

import json
from datetime import datetime, time
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from sqlalchemy.orm import Session

from core import errors, schemas, service
from core.connectors import files as files_connector
from core.connectors.base import AccountSpec, FetchRequest, Filter
from core.connectors.files import plan as files_plan
from core.db import Database
from core.models import Connection, Template
from core.services.catalog import connection_info
from core.services.common import template_spec
from tests.conftest import NOW
from tests.core.connectors.conftest import DAYS, connection_count, load, own_template


def stats(account: str, days: list[Any] = DAYS) -> pd.DataFrame:
    """Two campaigns per day; clicks = day index * 10 + campaign index."""
    return pd.DataFrame([
        {"day": day, "account": account, "campaign": campaign, "clicks": i * 10 + j,
         "spend": i * 1.5 + j}
        for i, day in enumerate(days) for j, campaign in enumerate(("Spring Sale", "Brand"))
    ])


def connect(session: Session, **config: Any) -> schemas.ConnectionOut:
    return service.create_connection(session=session, data={
        "datasource": "files", "title": "Files", "config": config})


def test_parquet_files_load_their_window_with_filters_pushed_down(
        db: Database, session: Session, tmp_path: Path) -> None:
    folder = tmp_path / "ads"
    folder.mkdir()
    frame = stats("north")
    frame[:10].to_parquet(folder / "part-1.parquet")
    frame[10:].to_parquet(folder / "part-2.parquet")
    connection = connect(session, path=str(folder))
    template = own_template(session, connection.id, "files")
    assert {f.name: f.type for f in template.fields} == {
        "day": "date", "account": "string", "campaign": "string", "clicks": "integer",
        "spend": "number"}
    assert template.date_field == "day"

    done, rows = load(db, session, template=template, account_id=connection.accounts[0].id,
                      fields=["day", "campaign", "clicks"],
                      filters=[{"field": "campaign", "operator": "starts_with",
                                "value": "Spring"}])

    assert done.status == "succeeded", done.error
    assert sorted(rows["clicks"]) == [20, 30, 40]  # days 3-5, one campaign
    assert not any(line["level"] == "warning" for line in
                   service.get_run(session=session, run_id=done.id).log or [])


def test_subfolders_are_accounts_of_csv_files(db: Database, session: Session,
                                              tmp_path: Path) -> None:
    for account in ("north", "south"):
        (tmp_path / account).mkdir()
        stats(account).to_csv(tmp_path / account / "stats.csv", index=False)
    connection = connect(session, path=str(tmp_path), accounts="subfolders")
    assert [a.external_id for a in connection.accounts] == ["north", "south"]

    done, rows = load(db, session, template=own_template(session, connection.id, "files"),
                      account_id=connection.accounts[1].id, fields=["day", "account", "spend"])

    assert done.status == "succeeded", done.error
    assert done.rows == 6
    assert set(rows["account"]) == {"south"}
    assert sorted(rows["spend"]) == [3.0, 4.0, 4.5, 5.5, 6.0, 7.0]


def test_json_lines_with_nested_objects_and_an_account_column(
        db: Database, session: Session, tmp_path: Path) -> None:
    lines = [{"date": day.isoformat(), "shop": shop, "metrics": {"clicks": i, "spend": i / 2},
              "seen_at": f"{day.isoformat()}T23:30:00"}
             for i, day in enumerate(DAYS) for shop in ("north", "south")]
    (tmp_path / "events.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    connection = connect(session, path=str(tmp_path / "*.jsonl"), accounts="column",
                         account_column="shop")
    assert [a.name for a in connection.accounts] == ["north", "south"]
    template = own_template(session, connection.id, "files")
    types = {f.name: f.type for f in template.fields}
    assert types["date"] == "date" and types["metrics.clicks"] == "integer"
    assert types["seen_at"] == "datetime" and template.date_field == "date"

    done, rows = load(db, session, template=template, account_id=connection.accounts[0].id,
                      fields=["date", "shop", "metrics.clicks", "metrics.spend"],
                      filters=[{"field": "metrics.clicks", "operator": "between",
                                "value": [3, 9]}])

    assert done.status == "succeeded", done.error
    assert sorted(rows["metrics.clicks"]) == [3, 4]
    assert set(rows["shop"]) == {"north"}


def test_corrected_types_convert_the_values(db: Database, session: Session,
                                            tmp_path: Path) -> None:
    frame = stats("north", [d.strftime("%Y/%m/%d") for d in DAYS])
    frame.to_csv(tmp_path / "stats.csv", index=False)
    connection = connect(session, path=str(tmp_path), date_column="day",
                         column_types="day=date, clicks=number")
    template = own_template(session, connection.id, "files")
    assert {f.name: f.type for f in template.fields}["clicks"] == "number"

    done, rows = load(db, session, template=template, account_id=connection.accounts[0].id,
                      fields=["day", "clicks"],
                      filters=[{"field": "clicks", "operator": "gt", "value": 30.5}])

    assert done.status == "succeeded", done.error
    assert sorted(rows["clicks"]) == [31.0, 40.0, 41.0]


def _request(session: Session, connection_id: int, fields: tuple[str, ...],
             filters: tuple[Filter, ...] = ()) -> FetchRequest:
    connection = session.get(Connection, connection_id)
    template = session.get(Template, own_template(session, connection_id, "files").id)
    assert connection is not None and template is not None
    return FetchRequest(connection=connection_info(session, connection),
                        account=AccountSpec("all", "all"), template=template_spec(template),
                        fields=fields, filters=filters, options={}, date_from=DAYS[2],
                        date_to=DAYS[4], today=NOW.date())


def test_parquet_statistics_skip_files_and_row_groups_outside_the_window(
        session: Session, tmp_path: Path) -> None:
    table = pa.Table.from_pandas(stats("north"), preserve_index=False)
    pq.write_table(table, tmp_path / "sorted.parquet", row_group_size=2)  # one day a group
    pq.write_table(table.slice(0, 4), tmp_path / "old.parquet")  # days 1-2 only
    connection = connect(session, path=str(tmp_path))
    request = _request(session, connection.id, ("day", "clicks"),
                       (Filter("clicks", "gte", 0),))
    dataset = ds.dataset([str(tmp_path / "old.parquet"), str(tmp_path / "sorted.parquet")],
                         format="parquet")
    plan = files_plan.for_fetch(request, dataset.schema, {})

    # What the scanner reads: the row groups whose min/max statistics meet the filter.
    kept = {Path(fragment.path).name: [g.row_groups[0].id
                                       for g in fragment.split_by_row_group(plan.filter)]
            for fragment in dataset.get_fragments()}
    assert kept == {"old.parquet": [], "sorted.parquet": [2, 3, 4]}
    assert plan.all_filters_pushed

    result = files_connector.Files().fetch(request)
    assert result.filters_applied
    assert sum(len(c) for c in result.chunks) == 6


def test_a_timestamp_column_windows_through_its_day(db: Database, session: Session,
                                                    tmp_path: Path) -> None:
    pd.DataFrame({"seen_at": [datetime.combine(d, time(h)) for d in DAYS for h in (0, 23)],
                  "n": range(20)}).to_parquet(tmp_path / "events.parquet")
    connection = connect(session, path=str(tmp_path))
    template = own_template(session, connection.id, "files")
    assert template.date_field == "seen_at__date"

    done, rows = load(db, session, template=template, account_id=connection.accounts[0].id,
                      fields=["seen_at__date", "n"])

    assert done.status == "succeeded", done.error
    assert sorted(rows["n"]) == [4, 5, 6, 7, 8, 9]


def test_a_missing_folder_is_named_and_nothing_saved(db: Database, tmp_path: Path) -> None:
    before = connection_count(db)
    with pytest.raises(errors.Conflict) as refused, db.session() as s:
        connect(s, path=str(tmp_path / "nowhere"))
    assert f"folder or file {tmp_path / 'nowhere'} is missing" in str(refused.value)
    assert connection_count(db) == before


def test_check_names_an_unreadable_file(db: Database, session: Session,
                                        tmp_path: Path) -> None:
    stats("north").to_parquet(tmp_path / "stats.parquet")
    connection = connect(session, path=str(tmp_path))
    (tmp_path / "stats.parquet").write_text("not parquet")

    result = service.test_connection(session=session, connection_id=connection.id)

    assert not result.ok
    assert result.message.startswith("cannot read")
    assert "stats.parquet" in result.message


@pytest.mark.parametrize(("config", "field", "message"), [
    ({}, "config.path", "is required"),
    ({"path": "/x", "accounts": "column"}, "config.account_column",
     "is required when accounts is column"),
    ({"path": "/x", "column_types": "day:date"}, "config.column_types",
     "'day:date' is not name=type"),
    ({"path": "/x", "format": "xlsx"}, "config.format", "must be one of auto, csv"),
])
def test_bad_config_is_refused_and_nothing_saved(
        db: Database, config: dict[str, Any], field: str, message: str) -> None:
    before = connection_count(db)
    with pytest.raises(errors.Invalid) as bad, db.session() as s:
        connect(s, **config)
    assert any(message in m for m in bad.value.for_field(field)), bad.value.problems
    assert connection_count(db) == before


def test_a_date_column_that_is_not_a_date_is_refused(db: Database, tmp_path: Path) -> None:
    stats("north").to_csv(tmp_path / "stats.csv", index=False)
    with pytest.raises(errors.Conflict) as refused, db.session() as s:
        connect(s, path=str(tmp_path), date_column="campaign")
    assert "date column 'campaign' holds string values; pick one of day" in str(refused.value)


def test_a_timestamp_with_a_zone_windows_through_its_local_day(
        db: Database, session: Session, tmp_path: Path) -> None:
    # New York evenings are the next day in UTC: the window (days 3-5, local) keeps days 3-5's
    # rows, the evening of day 5 included, and drops the evening of day 2.
    stamps = pd.Series([datetime.combine(d, time(h)) for d in DAYS for h in (3, 23)]
                       ).dt.tz_localize("America/New_York")
    pd.DataFrame({"seen_at": stamps, "n": range(20)}).to_parquet(tmp_path / "events.parquet")
    connection = connect(session, path=str(tmp_path))
    template = own_template(session, connection.id, "files")

    done, rows = load(db, session, template=template, account_id=connection.accounts[0].id,
                      fields=["seen_at__date", "seen_at", "n"])

    assert done.status == "succeeded", done.error
    assert sorted(rows["n"]) == [4, 5, 6, 7, 8, 9]
    assert sorted(pd.to_datetime(rows["seen_at__date"]).dt.date.unique()) == DAYS[2:5]
    assert pd.to_datetime(rows["seen_at"]).max() == pd.Timestamp(  # stored in UTC
        datetime.combine(DAYS[5], time(4)))
