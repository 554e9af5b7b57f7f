"""A connection's secrets never land in what the product keeps or shows. A source that echoes
its request URL (API key included) in an error, on a run and on a connection test: the canary
key is in none of the run's error, its log, the extract's error text, the worker's log output,
the API's answers, or the bytes of the SQLite files and their write-ahead logs."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from core import service
from core.db import Database
from core.worker import executors, run_queue
from tests import servers
from tests.conftest import NOW

CANARY = "canary-4c1d6e0b9f27a5"


@pytest.fixture
def echoing_source() -> Iterator[str]:
    """Records for a sample (no window); a 400 that echoes the whole request for a run."""

    def answer(path: str, _headers: dict[str, str]) -> servers.Answer:
        query = parse_qs(urlsplit(path).query)
        if query.get("key") != [CANARY]:
            return 401, {}, b""
        if "date_from" in query or "/echo" in path:
            return 400, {}, f"bad request: {path} (key={CANARY})".encode()
        return 200, {"Content-Type": "application/json"}, json.dumps(
            [{"day": "2016-03-01", "clicks": 4}]).encode()

    with servers.http_server(answer) as url:
        yield url


def files_hold(folder: Path, text: str) -> list[str]:
    return [p.name for p in folder.rglob("*") if p.is_file() and text.encode() in p.read_bytes()]


def test_a_source_that_echoes_its_key_leaves_no_trace_of_it(
        db: Database, echoing_source: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    config = {"base_url": echoing_source, "endpoint": "/records", "auth": "query_param",
              "token": CANARY, "key_name": "key", "date_field": "day"}
    with db.session() as s:
        connection = service.create_connection(session=s, data={
            "datasource": "http_json", "title": "Echo", "config": config})
        [template] = service.list_templates(session=s, datasource="http_json",
                                            connection_id=connection.id)
        [extract] = service.create_extracts(session=s, now=NOW, data={
            "data_table_title": "Echoed", "template_id": template.id,
            "accounts": [connection.accounts[0].id],
            "template_settings": {"fields": ["day", "clicks"]}})
        [run] = service.run_extract(session=s, extract_id=extract.id, now=NOW,
                                    date_from=date(2016, 3, 1), date_to=date(2016, 3, 2))
    assert run_queue.claim_next(db, "w1", NOW) == run.id
    assert executors.carry_out(db, run.id, "w1", lambda: NOW) == "failed"

    with db.session() as s:
        failed = service.get_run(session=s, run_id=run.id)
        shown = service.get_extract(session=s, extract_id=extract.id, now=NOW)
    assert "refused the request with HTTP 400" in (failed.error or "")
    assert "key=••••" in (failed.error or ""), failed.error
    for text in (failed.error, json.dumps(failed.log), shown.error_text, caplog.text):
        assert CANARY not in (text or "")

    with TestClient(create_app(db), follow_redirects=False) as api:
        with db.session() as s:
            api.headers["Authorization"] = "Bearer " + service.create_api_key(
                session=s, name="reader", now=NOW).secret
        for path in (f"/api/v3/runs/{run.id}", f"/api/v3/extracts/{extract.id}",
                     f"/api/v3/extracts/{extract.id}/runs", "/api/v3/audit",
                     "/api/v3/datasources/http_json/connections"):
            answer = api.get(path)
            assert answer.status_code == 200 and CANARY not in answer.text, path
        answer = api.patch(f"/api/v3/connections/{connection.id}",
                           json={"config": {"endpoint": "/echo"}})
        assert answer.status_code == 400 and "••••" in answer.text, answer.text
        assert CANARY not in answer.text

    with db.session() as s:
        tested = service.test_connection(session=s, connection_id=connection.id)
    assert tested.ok  # the sample endpoint answers; the echo only on a window
    db.dispose()  # everything written out: the files hold what they hold
    assert files_hold(db.settings.var_dir, CANARY) == []
