"""Schema drift on real sources: PostgreSQL and MariaDB tables altered between runs (a column
added, dropped, retyped) and CSV files whose columns change. Each run that meets a change to
a selected field fails naming the field and the action; the extract shows "schema changed"
until fixed; refresh says what changed; new columns are only reported."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from core import runner, schemas, service
from core.db import Database
from tests.conftest import NOW
from tests.core.connectors.conftest import DAYS, SourceDb, own_template
from tests.core.connectors.test_files import stats
from tests.core.connectors.test_sql import connect, seed

WINDOW = (DAYS[2], DAYS[4])


def run(db: Database, extract_id: int) -> schemas.RunOut:
    with db.session() as s:
        [queued] = service.run_extract(session=s, extract_id=extract_id, date_from=WINDOW[0],
                                       date_to=WINDOW[1], now=NOW)
    return runner.execute_run(db=db, run_id=queued.id)


def extract_of(db: Database, extract_id: int) -> schemas.ExtractOut:
    with db.session() as s:
        [listed] = [e for e in service.list_extracts(session=s, now=NOW).items
                    if e.id == extract_id]
        assert listed == service.get_extract(session=s, extract_id=extract_id, now=NOW)
        return listed


def rows_of(db: Database, extract_id: int) -> pd.DataFrame:
    with db.session() as s:
        return service.preview_rows(session=s, extract_id=extract_id, limit=10_000)


def make(session: Session, template: schemas.TemplateOut, account_id: int,
         fields: list[str]) -> int:
    [extract] = service.create_extracts(session=session, now=NOW, data={
        "data_table_title": f"Drift {template.name} {template.id}", "template_id": template.id,
        "template_settings": {"fields": fields}, "accounts": [account_id]})
    session.commit()
    return extract.id


def alter(src: SourceDb, *statements: str) -> None:
    table = src.table("ad_stats")
    with src.engine.begin() as conn:
        for statement in statements:
            conn.execute(sa.text(statement.format(table=table)))


RETYPE = {"postgresql": "ALTER TABLE {table} ALTER COLUMN spend TYPE text",
          "mariadb": "ALTER TABLE {table} MODIFY spend VARCHAR(20)"}


@pytest.fixture(params=["postgresql", "mariadb"])
def server(request: pytest.FixtureRequest) -> SourceDb:
    fixture = {"postgresql": "pg_source", "mariadb": "mariadb_source"}[request.param]
    src: SourceDb = request.getfixturevalue(fixture)
    return src


def test_a_table_altered_between_runs(db: Database, session: Session, server: SourceDb
                                      ) -> None:
    seed(server)
    connection = connect(session, server)
    template = own_template(session, connection.id, "ad_stats")
    extract_id = make(session, template, connection.accounts[0].id,
                      ["day", "Campaign Name", "clicks", "spend"])
    assert run(db, extract_id).status == "succeeded"

    # A new column: reported on the run, not an error.
    alter(server, "ALTER TABLE {table} ADD COLUMN impressions INTEGER")
    added = run(db, extract_id)
    assert added.status == "succeeded", added.error
    assert any("new column(s) impressions" in line["message"] for line in added.log)
    loaded = rows_of(db, extract_id)

    # A selected column dropped: the run fails naming it and what to do; rows stay.
    alter(server, "ALTER TABLE {table} DROP COLUMN clicks")
    dropped = run(db, extract_id)
    refresh = f"POST /api/v3/connections/{connection.id}/refresh"
    assert dropped.status == "failed"
    assert dropped.error is not None
    assert dropped.error.startswith("schema changed: field clicks is missing at the source; "
                                    "refresh the connection's templates")
    assert refresh in dropped.error and "then edit the extract" in dropped.error
    shown = extract_of(db, extract_id)
    assert shown.status == "error" and shown.schema_changed == dropped.error
    with db.session() as s:  # a new title fixes nothing: the state stays
        service.patch_extract(session=s, extract_id=extract_id, now=NOW,
                              data={"title": "Drifting stats"})
    assert extract_of(db, extract_id).schema_changed == dropped.error
    pd.testing.assert_frame_equal(rows_of(db, extract_id), loaded)

    # Refresh says what changed; the dropped field is kept, gone, as the extract selects it.
    with db.session() as s:
        changes = service.refresh_connection(session=s, connection_id=connection.id)
    [stats_change] = [c for c in changes.templates if c.name == "ad_stats"]
    assert (stats_change.change, stats_change.fields_added, stats_change.fields_gone,
            stats_change.extract_ids) == ("changed", ["impressions"], ["clicks"], [extract_id])
    assert (f"ad_stats: added impressions; removed clicks (clicks kept as gone: extracts "
            f"select them); edit extract(s) {extract_id}, which select a removed or retyped "
            "field") in changes.summary
    with db.session() as s:
        gone = {f.name: f.gone for f in service.get_template(
            session=s, template_id=template.id).fields}
    assert gone["clicks"] and not gone["spend"]

    # Retyped at the source, then the extract edited to drop the gone field.
    alter(server, RETYPE[server.kind])
    with db.session() as s:
        service.patch_extract(session=s, extract_id=extract_id, now=NOW,
                              data={"fields": ["day", "Campaign Name", "spend"]})
    assert extract_of(db, extract_id).schema_changed is None  # edited: the next run checks
    retyped = run(db, extract_id)
    assert retyped.status == "failed"
    assert retyped.error is not None and retyped.error.startswith(
        "schema changed: field spend changed type at the source from number to string; ")
    assert extract_of(db, extract_id).schema_changed == retyped.error

    with db.session() as s:
        changes = service.refresh_connection(session=s, connection_id=connection.id)
        service.patch_extract(session=s, extract_id=extract_id, now=NOW,
                              data={"fields": ["day", "Campaign Name"]})
    [stats_change] = [c for c in changes.templates if c.name == "ad_stats"]
    assert [(r.name, r.old, r.new) for r in stats_change.fields_retyped] == [
        ("spend", "number", "string")]
    fixed = run(db, extract_id)
    assert fixed.status == "succeeded", fixed.error
    assert extract_of(db, extract_id).schema_changed is None
    assert extract_of(db, extract_id).status == "active"


def test_a_table_dropped_is_marked_gone_while_an_extract_uses_it(
        db: Database, session: Session, pg_source: SourceDb) -> None:
    seed(pg_source)
    connection = connect(session, pg_source)
    events = own_template(session, connection.id, "events")
    stats_template = own_template(session, connection.id, "ad_stats")
    extract_id = make(session, stats_template, connection.accounts[0].id, ["day", "clicks"])
    with pg_source.engine.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE {pg_source.table('ad_stats')}"))
        conn.execute(sa.text(f"DROP TABLE {pg_source.table('events')}"))

    changes = service.refresh_connection(session=session, connection_id=connection.id)

    by_name = {c.name: c for c in changes.templates}
    assert (by_name["ad_stats"].change, by_name["ad_stats"].extract_ids) == ("gone",
                                                                            [extract_id])
    assert by_name["events"].change == "removed"  # nothing used it
    listed = {t.name for t in service.list_templates(session=session,
                                                     connection_id=connection.id)}
    assert "ad_stats" not in listed and "events" not in listed
    assert service.get_template(session=session, template_id=stats_template.id).gone_at
    with pytest.raises(Exception, match="does not exist"):
        service.get_template(session=session, template_id=events.id)
    shown = service.get_extract(session=session, extract_id=extract_id, now=NOW)
    assert shown.schema_changed is not None
    assert shown.schema_changed.startswith("schema changed: the source no longer has 'ad_stats'")


def write_csv(folder: Path, frame: pd.DataFrame) -> None:
    folder.mkdir(exist_ok=True)
    frame.to_csv(folder / "stats.csv", index=False)


def test_csv_files_whose_columns_change(db: Database, session: Session, tmp_path: Path
                                        ) -> None:
    folder = tmp_path / "csv"
    write_csv(folder, stats("north"))
    connection = service.create_connection(session=session, data={
        "datasource": "files", "title": "CSV", "config": {"path": str(folder)}})
    template = own_template(session, connection.id, "files")
    extract_id = make(session, template, connection.accounts[0].id,
                      ["day", "campaign", "clicks", "spend"])
    assert run(db, extract_id).status == "succeeded"

    changed = stats("north").drop(columns=["clicks"]).assign(
        spend=lambda f: f["spend"].map(lambda v: f"{v:.2f} EUR"), conversions=1)
    write_csv(folder, changed)
    failed = run(db, extract_id)

    assert failed.status == "failed"
    assert failed.error is not None
    assert failed.error.startswith(
        "schema changed: field clicks is missing at the source; field spend changed type at "
        "the source from number to string; refresh the connection's templates")
    assert extract_of(db, extract_id).schema_changed == failed.error

    with db.session() as s:
        changes = service.refresh_connection(session=s, connection_id=connection.id)
    [files_change] = changes.templates
    assert files_change.fields_added == ["conversions"]
    assert files_change.fields_gone == ["clicks"]
    assert [(r.name, r.old, r.new) for r in files_change.fields_retyped] == [
        ("spend", "number", "string")]
    # New extracts cannot pick the gone field.
    with pytest.raises(Exception, match="clicks are gone from the source; deselect them"), \
            db.session() as s:
        make(s, template, connection.accounts[0].id, ["day", "clicks"])


