"""Exports on the Data tables page and of one run on the Extract page: Export starts it in the
background, progress shows, then a download link that streams the file."""

from __future__ import annotations

import time

from starlette.applications import Starlette
from starlette.testclient import TestClient

from core import runner, service
from core.db import Database
from dashboard import downloads, navigation
from tests.conftest import make_extract
from tests.dashboard.conftest import open_page


def wait_done(db: Database, **where: int) -> service.Export:
    end = time.monotonic() + 60
    while time.monotonic() < end:
        with db.session() as s:
            found = service.list_exports(session=s, **where)
        if found and found[0].state != "running":
            return found[0]
        time.sleep(0.05)
    raise AssertionError("the export did not finish within 60 s")


def loaded(db: Database) -> tuple[int, int]:
    with db.session() as s:
        extract = make_extract(s)
        [run] = service.run_extract(session=s, extract_id=extract.id)
    runner.execute_run(db=db, run_id=run.id)
    return extract.id, run.id


def test_export_a_data_table_then_download_it(app_db: Database) -> None:
    extract_id, _ = loaded(app_db)
    with app_db.session() as s:
        table = service.get_extract(session=s, extract_id=extract_id)
    at = open_page(navigation.DATA_TABLES)
    at.button(key=f"data_tables_{table.data_table_id}_export_csv").click().run()
    assert not at.exception

    done = wait_done(app_db, data_table_id=table.data_table_id)
    at.run()

    [link] = at.get_by_key(f"data_tables_{table.data_table_id}_exports").get("link_button")
    assert link.proto.label == f"Download {done.file_name} (140 rows)"
    assert link.proto.url == downloads.url(done)
    client = TestClient(Starlette(routes=[downloads.ROUTE]))
    answer = client.get(link.proto.url)
    assert answer.status_code == 200
    assert answer.headers["content-disposition"] == f'attachment; filename="{done.file_name}"'
    assert len(answer.text.splitlines()) == 141  # the header and 140 rows
    missing = client.get(f"/downloads/{'0' * 32}/x.csv")
    assert missing.status_code == 404 and "start the export again" in missing.text


def test_the_extract_page_exports_one_run(app_db: Database) -> None:
    extract_id, run_id = loaded(app_db)
    at = open_page(navigation.EXTRACT, extract_id=extract_id)
    at.button(key=f"extract_run_{run_id}_export_parquet").click().run()
    assert not at.exception

    done = wait_done(app_db, run_id=run_id)
    at.run()

    assert done.state == "done" and done.rows_total == 140
    [link] = at.get_by_key(f"extract_run_{run_id}_exports").get("link_button")
    assert link.proto.url.endswith(f"_run{run_id}.parquet")
