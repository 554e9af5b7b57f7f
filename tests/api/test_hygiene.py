"""What no request may do: send more than the body limit, values only Python's JSON reader
accepts (NaN, Infinity, lone surrogates), titles and additional_params past their limits. Each
is refused naming where, nothing is written, and every answer says `nosniff`."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient

from api.app import create_api
from api.deps import Backend
from core import service
from core.db import Database
from tests.conftest import NOW, extract_body

# Every operation that takes a body, with a path whose ids exist once an extract is made.
BODY_OPERATIONS = [(method.upper(), re.sub(r"\{[a-z_]+\}", "1", path))
                   for path, methods in create_api(Backend()).openapi()["paths"].items()
                   for method, spec in methods.items() if "requestBody" in spec]


def extract_count(db: Database) -> int:
    with db.session() as session:
        return service.list_extracts(session=session, now=NOW).total


def send(client: TestClient, method: str, path: str, raw: bytes) -> tuple[int, str]:
    answer = client.request(method, path, content=raw,
                            headers={"Content-Type": "application/json"})
    assert answer.headers["x-content-type-options"] == "nosniff"
    return answer.status_code, answer.json()["details"]


def test_every_body_operation_is_listed() -> None:
    assert ("POST", "/v3/extracts") in BODY_OPERATIONS
    assert ("PATCH", "/v3/extracts/1") in BODY_OPERATIONS


@pytest.mark.parametrize(("method", "path"), BODY_OPERATIONS,
                         ids=[f"{m} {p}" for m, p in BODY_OPERATIONS])
def test_values_only_python_reads_are_400_naming_where_on_every_operation(
        client: TestClient, db: Database, method: str, path: str) -> None:
    with db.session() as session:
        service.create_extracts(session=session, data=extract_body(accounts=[1]), now=NOW)
    before = client.get("/api/v3/extracts/1").json()
    path = f"/api{path}"
    cases = {
        b'{"title": "\\ud800 lonely"}': r"^title: holds a lone surrogate",
        b'{"template_settings": {"filters": [{"field": "clicks", "value": NaN}]}}':
            r"^template_settings\.filters\[0\]\.value: NaN is not a JSON number",
        b'{"additional_params": {"limit": Infinity}}':
            r"^additional_params\.limit: Infinity is not a JSON number",
        b'{"x": [-Infinity]}': r"^x\[0\]: -Infinity is not a JSON number",
        b'{"\\udfff": 1}': r"^\\udfff|^.+: holds a lone surrogate",
    }
    for raw, expected in cases.items():
        status, details = send(client, method, path, raw)
        assert status == 400, (raw, details)
        assert re.search(expected, details), (raw, details)
    assert client.get("/api/v3/extracts/1").json() == before
    assert extract_count(db) == 1


def test_a_body_over_the_limit_is_413_whether_declared_or_streamed(
        client: TestClient, db: Database) -> None:
    huge = json.dumps(extract_body(additional_params={"blob": "x" * 1_100_000})).encode()
    status, details = send(client, "POST", "/api/v3/extracts", huge)
    assert (status, details) == (413, "body: larger than 1,048,576 bytes "
                                      "(EXTRACTS_MAX_REQUEST_BYTES); send less")

    def chunks():  # no Content-Length: the limit counts what arrives
        for start in range(0, len(huge), 65_536):
            yield huge[start:start + 65_536]

    answer = client.post("/api/v3/extracts", content=chunks(),
                         headers={"Content-Type": "application/json"})
    assert answer.status_code == 413, answer.text
    assert extract_count(db) == 0


def test_titles_and_additional_params_past_their_limits_are_refused_naming_them(
        client: TestClient, db: Database) -> None:
    answer = client.post("/api/v3/extracts", json=extract_body(
        title="t" * 201, data_table_title="d" * 201,
        additional_params={"blob": "x" * 70_000}))
    assert answer.status_code == 422
    details = answer.json()["details"]
    assert "title: must be at most 200 characters" in details
    assert "data_table_title: must be at most 200 characters" in details
    assert re.search(r"additional_params: must be at most 65,536 bytes as JSON, not 70,0\d\d",
                     details), details
    assert extract_count(db) == 0

    answer = client.post("/api/v3/extracts", json=extract_body(
        title="t" * 200, additional_params={"blob": "x" * 60_000}))
    assert answer.status_code == 201, answer.text
    patch = client.patch(f"/api/v3/extracts/{answer.json()[0]['id']}",
                         json={"additional_params": {"blob": "y" * 70_000}})
    assert patch.status_code == 422 and "additional_params" in patch.json()["details"]


def test_every_answer_says_nosniff(anonymous: TestClient, client: TestClient) -> None:
    for answer in (client.get("/api/v3/extracts"), anonymous.get("/api/v3/extracts"),
                   client.get("/api/v3/extracts/999"), client.get("/api/docs")):
        assert answer.headers["x-content-type-options"] == "nosniff", answer.url


def test_the_docs_work_offline_with_their_assets_served_here(anonymous: TestClient) -> None:
    page = anonymous.get("/api/docs")
    assert page.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets and all(a.startswith("/api/docs/assets/") for a in assets), assets
    assert "cdn" not in page.text.lower()
    for asset in assets:
        answer = anonymous.get(asset)
        assert answer.status_code == 200 and len(answer.content) > 500, asset
    assert "'/api/openapi.json'" in page.text
    assert anonymous.get("/api/openapi.json").json()["info"]["title"] == "Extracts API"
