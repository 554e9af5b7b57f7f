"""The singer datasource: tap-jsonl from PyPI (its settings from --about, discover, a window
run), and a tap that honours bookmarks (the incremental second run from the saved state)
and one that fails."""

from __future__ import annotations

import json
import uuid
from datetime import date
from pathlib import Path

from sqlalchemy.orm import Session

from core import runner, schemas, service
from core.connectors.programs import installer
from core.db import Database
from tests.conftest import NOW
from tests.core.connectors.conftest import load, own_template
from tests.core.connectors.programs import sources

ROWS = [{"id": i, "day": f"2026-11-{1 + i // 2:02d}", "amount": 1.25 * i, "tag": f"t{i}"}
        for i in range(20)]


def test_tap_jsonl_window_run(db: Database, session: Session, tmp_path: Path,
                              sources_dir: Path) -> None:
    data = tmp_path / "sales.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    connection = service.create_connection(session=session, now=NOW, data={
        "datasource": "singer", "title": "JSONL", "config": {
            "package": "tap-jsonl", "version": "0.3.1", "date_fields": "sales=day",
            "source_config": {"path": str(data), "stream_name": "sales"}}})
    program = installer.installed("tap-jsonl", "0.3.1")
    assert program is not None and program.env_dir.parent == sources_dir
    check = service.test_connection(session=session, connection_id=connection.id)
    assert check.ok and "sales" in check.message, check.message
    sales = own_template(session, connection.id, "sales")
    assert sales.date_field == "day"
    assert {"id", "day", "amount", "tag"} <= {f.name for f in sales.fields}
    done, rows = load(db, session, template=sales, account_id=connection.accounts[0].id,
                      fields=["day", "id", "tag"], date_from=date(2026, 11, 3),
                      date_to=date(2026, 11, 4))
    assert done.status == "succeeded", done.error
    assert sorted(rows["id"]) == [r["id"] for r in ROWS
                                  if "2026-11-03" <= r["day"] <= "2026-11-04"]


def tap(session: Session, sources_dir: Path, mode: str = "ok"
        ) -> tuple[schemas.ConnectionOut, Path]:
    package = f"tap-days-{uuid.uuid4().hex[:8]}"
    folder = sources.place(sources_dir, package, text=sources.DAYS_TAP, command="tap-days")
    connection = service.create_connection(session=session, now=NOW, data={
        "datasource": "singer", "title": "Days", "config": {
            "package": package, "version": "1", "source_config": {"mode": mode}}})
    return connection, folder


def test_a_tap_resumes_from_its_saved_bookmark(db: Database, session: Session,
                                               sources_dir: Path) -> None:
    connection, folder = tap(session, sources_dir)
    template = own_template(session, connection.id, "sales")
    assert template.date_field == "day"
    account = connection.accounts[0].id
    first, rows = load(db, session, template=template, account_id=account,
                       fields=["id", "day"], date_from=date(2026, 11, 2),
                       date_to=date(2026, 11, 2))
    assert first.status == "succeeded", first.error
    assert sorted(rows["id"]) == [3, 4, 5]
    # Its warnings on the error output reach the run's log as warnings; the rest does not.
    said = [(line["level"], line["message"]) for line in first.log
            if line["message"].startswith("source: ")]
    assert said == [("warning", "source: 2026-12-05 07:00:00,000 | WARNING  | tap-days | "
                                "skipped 1 record without a day")]
    [extract] = [e for e in service.list_extracts(session=session).items
                 if e.template_id == template.id]
    [queued] = service.run_extract(session=session, extract_id=extract.id,
                                   date_from=date(2026, 11, 10), date_to=date(2026, 11, 10),
                                   now=NOW)
    session.commit()
    later = runner.execute_run(db=db, run_id=queued.id)
    assert later.status == "succeeded", later.error
    rows = service.preview_rows(session=session, extract_id=extract.id, limit=100)
    assert sorted(rows["id"]) == [3, 4, 5, 27, 28, 29]
    reads = [c["state"] for c in sources.calls(folder) if c["command"] == "read"
             and c["config"].get("mode") == "ok"]
    # The first read has no bookmark yet; the second gets the saved one (the first read
    # ended at 2026-11-10, not after the second window's first day).
    assert reads == [None, {"bookmarks": {"sales": {"replication_key": "day",
                                                    "replication_key_value": "2026-11-10"}}}]


def test_a_failing_tap_fails_the_run_with_its_error_output(
        db: Database, session: Session, sources_dir: Path) -> None:
    connection, _ = tap(session, sources_dir, mode="crash")
    done, rows = load(db, session, template=own_template(session, connection.id, "sales"),
                      account_id=connection.accounts[0].id, fields=["id", "day"],
                      date_from=date(2026, 11, 2), date_to=date(2026, 11, 2))
    assert done.status == "failed"
    assert done.error is not None
    assert "exited with status 2: tap-days: the token was refused by the API" in done.error
    assert rows.empty
